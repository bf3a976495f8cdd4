//! `pagemill-executor`: a Ballista executor that scans pagemill tables (see
//! the `pagemill-ballista` crate).

#![forbid(unsafe_code)]

use clap::Parser;
use pagemill_ballista::{ExecutorOptions, init_logging, parse_log_level, run_executor, serve};

/// A DataFusion Ballista executor with pagemill's table codecs and
/// aggregate functions. It registers with a `pagemill-scheduler`, memory-maps
/// the queried files (which must exist at the same paths as where the
/// query was planned) and parses the chunks of the tasks it is given.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// The host name the scheduler and other executors reach this executor
    /// by (default: the bind address).
    #[arg(long)]
    external_host: Option<String>,
    /// The Arrow Flight port shuffle data is served from.
    #[arg(long, default_value_t = 50051)]
    port: u16,
    /// The gRPC port.
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// The scheduler, as HOST:PORT.
    #[arg(long, default_value = "localhost:50050")]
    scheduler: String,
    /// Tasks run at once (default: the number of cores).
    #[arg(long)]
    concurrent_tasks: Option<usize>,
    /// Where shuffle files go (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<String>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "warn", value_parser = parse_log_level)]
    log_level: log::LevelFilter,
}

fn main() {
    let args = Args::parse();
    init_logging(args.log_level);
    let Some((host, port)) = args.scheduler.rsplit_once(':').and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
    else {
        eprintln!("pagemill-executor: --scheduler {:?}: expected HOST:PORT", args.scheduler);
        std::process::exit(2);
    };
    let defaults = ExecutorOptions::default();
    let options = ExecutorOptions {
        bind_host: args.bind,
        external_host: args.external_host,
        port: args.port,
        grpc_port: args.grpc_port,
        scheduler_host: host.to_string(),
        scheduler_port: port,
        concurrent_tasks: args.concurrent_tasks.unwrap_or(defaults.concurrent_tasks),
        work_dir: args.work_dir,
    };
    serve("pagemill-executor", run_executor(options));
}
