//! pagemill's tables and sketches on an
//! [Apache DataFusion Ballista](https://datafusion.apache.org/ballista/)
//! cluster.
//!
//! [`pagemill_datafusion`] makes pagemill's inputs DataFusion tables. This
//! crate lets those tables and the `hdr_quantile` / `hll_distinct`
//! aggregate functions travel to Ballista's scheduler and executors:
//!
//! - [`PagemillLogicalCodec`] and [`PagemillPhysicalCodec`], DataFusion
//!   extension codecs that send a table or scan as its input paths, resolved
//!   options and chunk plan ([`PagemillTable::to_bytes`],
//!   [`scan_to_bytes`](pagemill_datafusion::scan_to_bytes)), and the
//!   aggregate functions by name. Everything else goes through
//!   Ballista's own codecs.
//! - [`run_scheduler`] and [`run_executor`]: Ballista's scheduler and
//!   executor with those codecs and functions installed, as the
//!   `pagemill-scheduler` and `pagemill-executor` binaries run them.
//! - [`connect`]: a client `SessionContext` whose queries run on the
//!   cluster.
//!
//! Every process (client, scheduler, executors) opens the inputs by path,
//! so they must all see the same files at the same paths (a shared or
//! replicated file system); a file whose length differs from where the
//! query was planned is an error, not a silent mismatch. Each executor
//! memory-maps the inputs and parses only the chunks of the partitions it
//! runs, so the data is never shipped over the network: only the partial
//! aggregates are. Malformed records met on an executor are counted in the
//! scan's `malformed_records` metric and logged there with a sample.
//!
//! # Example
//!
//! A scheduler and an executor in this process, on loopback ports, and a
//! per-path summary of an access log computed through them:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use pagemill_ballista::{ExecutorOptions, SchedulerOptions, connect, run_executor, run_scheduler};
//! use pagemill_datafusion::PagemillTable;
//! use pagemill_logs::LogFormat;
//! use pagemill_mmap::OpenOptions;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scheduler = SchedulerOptions { port: 50050, ..SchedulerOptions::default() };
//! tokio::spawn(run_scheduler(scheduler));
//! let executor = ExecutorOptions { scheduler_port: 50050, ..ExecutorOptions::default() };
//! tokio::spawn(run_executor(executor));
//!
//! let ctx = connect("df://localhost:50050").await?;
//! let input = OpenOptions::new().open("access.log")?;
//! ctx.register_table("logs", Arc::new(PagemillTable::logs(vec![input], LogFormat::timed())?))?;
//! let df = ctx
//!     .sql("SELECT path, count(*), hdr_quantile(latency, 0.99) FROM logs GROUP BY path ORDER BY path")
//!     .await?;
//! df.show().await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod codec;

use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
#[doc(no_inline)]
pub use ballista_core::error::BallistaError;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::common::Result;
use datafusion::execution::{FunctionRegistry, SessionState};
use datafusion::prelude::{SessionConfig, SessionContext};
use pagemill_datafusion::{hdr_quantile, hll_distinct, register_functions};

pub use crate::codec::{PagemillLogicalCodec, PagemillPhysicalCodec};
#[doc(no_inline)]
pub use pagemill_datafusion::PagemillTable;

/// A session configuration for Ballista with pagemill's codecs installed.
pub fn session_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(PagemillLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PagemillPhysicalCodec::default()))
}

/// Ballista's default session state for `config`, plus pagemill's aggregate
/// functions: what the scheduler plans queries with.
pub fn session_state(config: SessionConfig) -> Result<SessionState> {
    let mut state = ballista_core::utils::default_session_builder(config)?;
    state.register_udaf(Arc::new(hdr_quantile()))?;
    state.register_udaf(Arc::new(hll_distinct()))?;
    Ok(state)
}

/// A client session whose queries run on the Ballista scheduler at `url`
/// (`df://host:port`), with pagemill's codecs and aggregate functions.
/// Register [`PagemillTable`]s on it as on a local `SessionContext`.
pub async fn connect(url: &str) -> Result<SessionContext> {
    let ctx = SessionContext::remote_with_state(url, session_state(session_config())?).await?;
    register_functions(&ctx);
    Ok(ctx)
}

/// Where a scheduler listens.
#[derive(Clone, Debug)]
pub struct SchedulerOptions {
    /// The address to bind (default `127.0.0.1`; `0.0.0.0` for every
    /// interface).
    pub bind_host: String,
    /// The name executors and clients reach it by (default `localhost`).
    pub external_host: String,
    /// The gRPC port (default 50050).
    pub port: u16,
}

impl Default for SchedulerOptions {
    fn default() -> SchedulerOptions {
        SchedulerOptions { bind_host: "127.0.0.1".into(), external_host: "localhost".into(), port: 50050 }
    }
}

/// Run a Ballista scheduler with pagemill's codecs and functions until it
/// fails.
pub async fn run_scheduler(options: SchedulerOptions) -> Result<(), BallistaError> {
    let mut config = SchedulerConfig::default()
        .with_hostname(options.external_host)
        .with_port(options.port)
        .with_override_config_producer(Arc::new(session_config))
        .with_override_session_builder(Arc::new(session_state));
    config.bind_host = options.bind_host.clone();
    config.override_logical_codec = Some(Arc::new(PagemillLogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(PagemillPhysicalCodec::default()));
    let addr = format!("{}:{}", options.bind_host, options.port)
        .parse()
        .map_err(|e| BallistaError::Configuration(format!("scheduler address: {e}")))?;
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, addr, Arc::new(config)).await
}

/// Where an executor listens, which scheduler it serves, and how much it
/// runs at once.
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// The address to bind (default `127.0.0.1`).
    pub bind_host: String,
    /// The name the scheduler and other executors reach it by (default: the
    /// bind address).
    pub external_host: Option<String>,
    /// The Arrow Flight port shuffle data is fetched from (default 50051).
    pub port: u16,
    /// The gRPC port (default 50052).
    pub grpc_port: u16,
    /// The scheduler's host (default `localhost`).
    pub scheduler_host: String,
    /// The scheduler's port (default 50050).
    pub scheduler_port: u16,
    /// Tasks run at once (default: the number of cores).
    pub concurrent_tasks: usize,
    /// Where shuffle files go (default: a temporary directory).
    pub work_dir: Option<String>,
}

impl Default for ExecutorOptions {
    fn default() -> ExecutorOptions {
        ExecutorOptions {
            bind_host: "127.0.0.1".into(),
            external_host: None,
            port: 50051,
            grpc_port: 50052,
            scheduler_host: "localhost".into(),
            scheduler_port: 50050,
            concurrent_tasks: std::thread::available_parallelism().map_or(1, |n| n.get()),
            work_dir: None,
        }
    }
}

/// Run a Ballista executor with pagemill's codecs and functions until it
/// fails or is told to stop.
pub async fn run_executor(options: ExecutorOptions) -> Result<(), BallistaError> {
    let mut functions = BallistaFunctionRegistry::default();
    for f in [hdr_quantile(), hll_distinct()] {
        functions.aggregate_functions.insert(f.name().to_string(), Arc::new(f));
    }
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host,
        external_host: options.external_host,
        port: options.port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler_host,
        scheduler_port: options.scheduler_port,
        vcores: options.concurrent_tasks.max(1),
        work_dir: options.work_dir,
        override_config_producer: Some(Arc::new(session_config)),
        override_logical_codec: Some(Arc::new(PagemillLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PagemillPhysicalCodec::default())),
        override_function_registry: Some(Arc::new(functions)),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config)).await
}

/// Run `service` (a scheduler or an executor) on a multi-threaded runtime
/// until it stops; a failure is printed as `program: error` on standard
/// error and ends the process with status 1. For the binaries.
pub fn serve<F>(program: &str, service: F)
where
    F: std::future::Future<Output = Result<(), BallistaError>>,
{
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
        .and_then(|runtime| runtime.block_on(service).map_err(|e| e.to_string()));
    if let Err(e) = result {
        eprintln!("{program}: {e}");
        std::process::exit(1);
    }
}

/// A log level by name (`off`, `error`, `warn`, `info`, `debug`, `trace`),
/// for the binaries' `--log-level`.
pub fn parse_log_level(s: &str) -> Result<log::LevelFilter, String> {
    s.parse().map_err(|_| format!("unknown log level {s:?} (off, error, warn, info, debug or trace)"))
}

/// A logger for the binaries: records at `level` and above to standard
/// error, one line each (`RUST_LOG` style level names: `error`, `warn`,
/// `info`, `debug`, `trace`).
pub fn init_logging(level: log::LevelFilter) {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
            meta.level() <= log::max_level()
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                eprintln!("[{} {}] {}", record.level(), record.target(), record.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
