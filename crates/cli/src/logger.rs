//! A minimal stderr logger for the `log` facade: debug messages with
//! `--verbose`, warnings always.

struct Stderr;

static LOGGER: Stderr = Stderr;

impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let text = format!("pagemill: {}: {}", record.level().as_str().to_ascii_lowercase(), record.args());
            crate::commands::eprint_lines(&text);
        }
    }

    fn flush(&self) {}
}

pub fn init(verbose: bool) {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(if verbose { log::LevelFilter::Debug } else { log::LevelFilter::Warn });
    }
}
