//! The `pagemill` binary: parses flags, decides policy (threads, mapping,
//! progress display, output), and calls the library crates. No analytics logic
//! lives here.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod logger;
mod progress;
mod redact;
#[cfg(feature = "sql")]
mod sql;
mod workers;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// mimalloc (feature `mimalloc`, on by default): per-thread heaps that free
/// another thread's blocks without a lock. With glibc's malloc, the parallel
/// merges of per-group partials waited on arena locks.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Help, version and usage errors as clap prints them, but a failed write
    // (`--help > /dev/full`) is an error, not a silent success.
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `sql` in a build without it: say how to get it, not just that
        // there is no such subcommand.
        Err(e)
            if cfg!(not(feature = "sql"))
                && e.kind() == clap::error::ErrorKind::InvalidSubcommand
                && e.get(clap::error::ContextKind::InvalidSubcommand).is_some_and(|v| v.to_string() == "sql") =>
        {
            let _ = writeln!(
                std::io::stderr(),
                "pagemill: error: this pagemill was built without SQL: build it with the `sql` feature \
                 (cargo install --path crates/cli --features sql)"
            );
            // The status of the usage error it replaces.
            return ExitCode::from(2);
        }
        Err(e) => {
            let code = e.exit_code();
            match e.print().and_then(|()| std::io::stdout().flush()) {
                // `pagemill --help | head`: not an error.
                Err(io) if io.kind() == std::io::ErrorKind::BrokenPipe => {}
                // A usage error that stderr could not take keeps its status.
                Err(_) if e.use_stderr() => {}
                Err(io) => {
                    let _ = writeln!(std::io::stderr(), "pagemill: error: cannot write to stdout: {io}");
                    return ExitCode::FAILURE;
                }
                Ok(()) => {}
            }
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
    };
    logger::init(cli.global.verbose);
    // A worker process of `--workers processes`: the same command, on its
    // share of the chunks.
    match workers::WorkerSpec::from_env() {
        Ok(Some(spec)) => spec.apply(&mut cli.global),
        Ok(None) => {}
        Err(err) => {
            report_error(&err);
            return ExitCode::FAILURE;
        }
    }
    // An interrupted run leaves no partial output: remove the temporary files
    // of outputs in flight and end while holding off any commit.
    on_termination(|| {
        workers::stop();
        // Held until the process ends: no output is created or committed
        // after its temporary file was removed.
        let held = pagemill_engine::AtomicFile::remove_temporaries();
        commands::remove_scratch_dirs();
        let editing = redact::IN_PLACE.try_lock().ok().and_then(|f| f.clone());
        let _ = match editing {
            Some(name) => writeln!(
                std::io::stderr(),
                "pagemill: interrupted: {name} is partly redacted in place; run the same command again to finish it"
            ),
            None => writeln!(std::io::stderr(), "pagemill: interrupted; unfinished output files removed"),
        };
        held
    });
    // A mapped input truncated by another process: one clear error line and
    // exit status 1, instead of death by SIGBUS.
    pagemill_mmap::sigbus::install();
    // Binary output for a terminal is refused before the run, not after it.
    let output = match &cli.command {
        Command::Count(args) => Some(&args.output),
        // `show --schema` prints text wherever -o points (`-` is stdout).
        Command::Show(args) if !args.schema => Some(&args.output),
        Command::Features(args) => Some(&args.output),
        Command::Logs(args) => Some(&args.output),
        Command::Merge(args) => Some(&args.output),
        #[cfg(feature = "sql")]
        Command::Sql(args) => Some(&args.output),
        _ => None,
    };
    let result = match output.map(commands::refuse_binary_to_terminal).unwrap_or(Ok(())) {
        Err(e) => Err(e),
        Ok(()) => run_command(&cli),
    };
    exit_with(&cli, result)
}

/// Run the subcommand of `cli`.
fn run_command(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Count(args) => commands::count(&cli.global, args),
        Command::Show(args) => commands::show(&cli.global, args),
        Command::Features(args) => commands::features(&cli.global, args),
        Command::Logs(args) => commands::logs(&cli.global, args),
        Command::Merge(args) => commands::merge(&cli.global, args),
        Command::Redact(args) => redact::redact(&cli.global, args),
        #[cfg(feature = "sql")]
        Command::Sql(args) => sql::sql(&cli.global, args),
        Command::Gen(args) => commands::generate(&cli.global, args),
        Command::Demo(args) => commands::demo(&cli.global, args),
        Command::Completions { shell } => {
            // Generated into memory (clap_complete panics when its writer
            // fails), then written: a closed or full stdout is an error.
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "pagemill", &mut script);
            std::io::stdout().write_all(&script).map_err(anyhow::Error::from)
        }
    }
}

/// The process's exit status for `result`, its error reported.
fn exit_with(cli: &Cli, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (`pagemill ... | head`) is not an error worth a message.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            report_error(&err);
            if cli.global.worker.is_some() && workers::is_verdict(&err) {
                return ExitCode::from(workers::VERDICT_EXIT);
            }
            ExitCode::FAILURE
        }
    }
}

/// The one error line on stderr: the error and its causes, with any input
/// bytes in them escaped (`terminal_safe`).
fn report_error(err: &anyhow::Error) {
    let _ = writeln!(std::io::stderr(), "pagemill: error: {}", pagemill_arrow::terminal_safe(&format!("{err:#}")));
}

/// Run `cleanup` on SIGINT, SIGTERM or SIGHUP (on a thread of its own, not
/// in the signal handler), then end the process by that same signal, as
/// if it had not been caught, while still holding what `cleanup` returned:
/// a shell then reports 130, 143 or 129, and a script interrupted by
/// Ctrl-C stops too.
fn on_termination<G>(cleanup: impl Fn() -> G + Send + 'static) {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        // A signal ignored from the start stays ignored: `nohup pagemill
        // ...` must outlive its terminal, and a background job of a script
        // ignores Ctrl-C.
        let caught = [SIGINT, SIGTERM, SIGHUP].into_iter().filter(|&s| !pagemill_mmap::sigbus::is_ignored(s));
        let signals = signal_hook::iterator::Signals::new(caught);
        let watch = signals.and_then(|mut signals| {
            std::thread::Builder::new().name("signals".into()).spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let _held = cleanup();
                    // Does not return for these signals (it aborts if the
                    // signal cannot be raised again); the exit is the
                    // shell's convention for a signal it does not know.
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal);
                }
            })
        });
        if let Err(e) = watch {
            log::debug!("cannot install the signal handler: {e}");
        }
        // A write past the file-size limit (`ulimit -f`) would kill the
        // process before an unfinished output is removed. Caught, the
        // write fails with EFBIG instead, which the outputs report and
        // clean up after like any failed write.
        let caught = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGXFSZ, caught) {
            log::debug!("cannot catch SIGXFSZ: {e}");
        }
    }
    #[cfg(not(unix))]
    let _ = cleanup;
}
