//! The progress bar: indicatif on stderr, fed by the runner's byte counts.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use pagemill_engine::Runner;

use crate::args::When;

/// Where a bar or spinner draws, if `when` says to show one: stderr, as a
/// terminal or as plain lines.
fn draw_target(when: When) -> Option<ProgressDrawTarget> {
    let show = match when {
        When::Always => true,
        When::Never => false,
        When::Auto => std::io::stderr().is_terminal(),
    };
    if !show {
        return None;
    }
    Some(if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        // indicatif hides bars on non-terminals; `--progress always` asked for
        // one anyway (for logs, or a terminal indicatif cannot detect).
        ProgressDrawTarget::term_like(Box::new(PlainStderr))
    })
}

/// Attach a progress bar to `runner` if `when` says so; returns the bar so the
/// caller can clear it when the run ends. Without a `total` (an input is a
/// pipe or stdin, read as it comes) it counts bytes without a bar.
pub fn attach(runner: &mut Runner, when: When, total: Option<u64>) -> Option<ProgressBar> {
    let bar = ProgressBar::with_draw_target(total, draw_target(when)?);
    let template = if total.is_some() {
        "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}"
    } else {
        "{spinner} {binary_bytes} {binary_bytes_per_sec}"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
    let handle = bar.clone();
    runner.on_progress(move |p| handle.set_position(p.done));
    Some(bar)
}

/// A spinner with the name of a step that comes after the bytes are read
/// (finishing a job's result, writing the output file), which have no
/// byte count: with a million keys they are a third of a run, and the bar
/// alone ended at 100% before them. Shown when `when` says so; cleared
/// when dropped.
pub struct Step(Option<ProgressBar>);

impl Step {
    /// Start showing `message` with its elapsed time.
    pub fn start(when: When, message: String) -> Step {
        Step(draw_target(when).map(|target| {
            let spinner = ProgressBar::with_draw_target(None, target);
            spinner.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
            spinner.set_message(message);
            spinner.tick();
            spinner.enable_steady_tick(std::time::Duration::from_millis(200));
            spinner
        }))
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(spinner) = &self.0 {
            spinner.finish_and_clear();
        }
    }
}

/// A "terminal" that is stderr as it is: every redraw becomes a line.
#[derive(Debug)]
struct PlainStderr;

impl TermLike for PlainStderr {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _n: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _n: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _n: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _n: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        writeln!(std::io::stderr(), "{s}")
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        write!(std::io::stderr(), "{s}")
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
