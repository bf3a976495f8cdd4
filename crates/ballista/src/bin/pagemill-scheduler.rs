//! `pagemill-scheduler`: a Ballista scheduler that plans queries over
//! pagemill tables (see the `pagemill-ballista` crate).

#![forbid(unsafe_code)]

use clap::Parser;
use pagemill_ballista::{SchedulerOptions, init_logging, parse_log_level, run_scheduler, serve};

/// A DataFusion Ballista scheduler with pagemill's table codecs and
/// aggregate functions (`hdr_quantile`, `hll_distinct`). Start
/// `pagemill-executor`s pointing at it, then run queries with
/// `pagemill sql --scheduler df://HOST:PORT`. Every process must see the
/// queried files at the same paths.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The address to bind (`0.0.0.0` for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// The gRPC port.
    #[arg(long, default_value_t = 50050)]
    port: u16,
    /// The host name executors and clients reach this scheduler by.
    #[arg(long, default_value = "localhost")]
    external_host: String,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "warn", value_parser = parse_log_level)]
    log_level: log::LevelFilter,
}

fn main() {
    let args = Args::parse();
    init_logging(args.log_level);
    let options = SchedulerOptions { bind_host: args.bind, external_host: args.external_host, port: args.port };
    serve("pagemill-scheduler", run_scheduler(options));
}
