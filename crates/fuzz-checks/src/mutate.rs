//! A bounded, stable-Rust mutation run of the checks: what CI runs in
//! seconds where the coverage-guided libFuzzer runs (`scripts/fuzz`, nightly)
//! would cost minutes of instrumented builds.
//!
//! It is blind, not coverage-guided: each input is a committed seed with a
//! few random edits (bit flips, bytes that matter to the parsers such as
//! newlines, quotes, delimiters and braces, deleted, duplicated and spliced
//! ranges). Every input runs on its own thread, so a hang is reported as
//! one, with the input, instead of stalling the run. The random sequence is
//! fixed by a seed: a run with the same seed tries the same inputs in the
//! same order, so a failure reproduces.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub use pagemill_datasets::Rng;

use crate::Check;

/// Bytes that steer the parsers: record and field separators, quotes and
/// escapes, JSON structure, signs, digits, the 1BRC decimal point, NUL and
/// a byte that is never UTF-8.
const INTERESTING: &[u8] = b"\n\r\",;\t\\{}[]:-.0 9%$\x00\xff";

/// How a bounded run is limited and seeded.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Stop starting new inputs after this long.
    pub time: Duration,
    /// Stop after this many inputs (whichever comes first).
    pub max_inputs: u64,
    /// An input that runs longer than this is reported as a hang.
    pub hang: Duration,
    /// The random sequence's seed.
    pub seed: u64,
}

/// Why a bounded run stopped early: the input that failed, and how.
#[derive(Debug)]
pub struct Failure {
    /// The input that failed its check.
    pub input: Vec<u8>,
    /// The panic message, or that it hung.
    pub reason: String,
}

/// Runs `check` on mutations of `seeds` within `budget`; returns how many
/// inputs ran, or the first one that panicked or hung.
pub fn run_bounded(check: Check, seeds: &[Vec<u8>], budget: Budget) -> Result<u64, Failure> {
    let mut rng = Rng::new(budget.seed, 0);
    let started = Instant::now();
    let mut ran = 0;
    while ran < budget.max_inputs && started.elapsed() < budget.time {
        let input = mutate(&mut rng, seeds);
        run_one(check, input, budget.hang)?;
        ran += 1;
    }
    Ok(ran)
}

/// Runs one input on its own thread; a panic or a run past `hang` is a
/// [`Failure`] (a hung thread is left behind: the caller is about to fail).
fn run_one(check: Check, input: Vec<u8>, hang: Duration) -> Result<(), Failure> {
    let (tx, rx) = mpsc::channel();
    let owned = input.clone();
    let spawned = thread::Builder::new().name("fuzz-input".into()).spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&owned)));
        // The receiver is gone only after a hang was reported.
        let _ = tx.send(outcome.map_err(|payload| panic_message(payload.as_ref())));
    });
    if let Err(e) = spawned {
        return Err(Failure { input, reason: format!("could not start a thread: {e}") });
    }
    match rx.recv_timeout(hang) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(Failure { input, reason: format!("panicked: {message}") }),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(Failure { input, reason: format!("hung: still running after {hang:?}") })
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(Failure { input, reason: "the check's thread ended without a result".into() })
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// A seed (or nothing, when there are none) with one to eight random edits.
pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = if seeds.is_empty() { Vec::new() } else { seeds[pick(rng, seeds.len())].clone() };
    for _ in 0..1 + pick(rng, 8) {
        edit(rng, &mut data, seeds);
    }
    data
}

fn edit(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = data.len();
    match pick(rng, 9) {
        // Flip one bit.
        0 if len > 0 => {
            let at = pick(rng, len);
            data[at] ^= 1 << pick(rng, 8);
        }
        // Overwrite a byte with any byte, or with one the parsers care about.
        1 if len > 0 => {
            let at = pick(rng, len);
            data[at] = byte(rng);
        }
        2 if len > 0 => {
            let at = pick(rng, len);
            data[at] = INTERESTING[pick(rng, INTERESTING.len())];
        }
        // Insert a few bytes.
        3 => {
            let at = pick(rng, len + 1);
            let n = 1 + pick(rng, 4);
            let bytes: Vec<u8> = (0..n)
                .map(|_| if pick(rng, 2) == 0 { INTERESTING[pick(rng, INTERESTING.len())] } else { byte(rng) })
                .collect();
            data.splice(at..at, bytes);
        }
        // Delete a range.
        4 if len > 0 => {
            let at = pick(rng, len);
            let n = 1 + pick(rng, (len - at).min(64));
            data.drain(at..at + n);
        }
        // Duplicate a range in place (repeated records, long fields).
        5 if len > 0 => {
            let at = pick(rng, len);
            let n = 1 + pick(rng, (len - at).min(256));
            let copy = data[at..at + n].to_vec();
            let to = pick(rng, data.len() + 1);
            data.splice(to..to, copy);
        }
        // Splice in a range of another seed.
        6 if !seeds.is_empty() => {
            let other = &seeds[pick(rng, seeds.len())];
            if !other.is_empty() {
                let from = pick(rng, other.len());
                let n = 1 + pick(rng, (other.len() - from).min(256));
                let to = pick(rng, len + 1);
                data.splice(to..to, other[from..from + n].iter().copied());
            }
        }
        // Truncate.
        7 if len > 0 => data.truncate(pick(rng, len)),
        // Change a parameter byte at the front (format, chunk size, threads).
        _ if len > 0 => {
            let at = pick(rng, len.min(8));
            data[at] = data[at].wrapping_add(1 + byte(rng) % 4);
        }
        _ => data.push(byte(rng)),
    }
}

/// A uniform index in `0..n` (`n > 0`).
fn pick(rng: &mut Rng, n: usize) -> usize {
    rng.below(n as u64) as usize
}

fn byte(rng: &mut Rng) -> u8 {
    (rng.next_u64() >> 56) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn always_fine(_: &[u8]) {}

    fn panics_on_nul(data: &[u8]) {
        assert!(!data.contains(&0), "a NUL byte");
    }

    fn hangs_on_nul(data: &[u8]) {
        if data.contains(&0) {
            thread::sleep(Duration::from_secs(5));
        }
    }

    fn budget(seed: u64) -> Budget {
        Budget { time: Duration::from_secs(30), max_inputs: 5_000, hang: Duration::from_millis(300), seed }
    }

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let seeds = vec![b"a;1.0\nb;-2.5\n".to_vec(), b"x,y\n\"q\",1\n".to_vec()];
        let (mut a, mut b, mut c) = (Rng::new(7, 0), Rng::new(7, 0), Rng::new(8, 0));
        let first: Vec<Vec<u8>> = (0..100).map(|_| mutate(&mut a, &seeds)).collect();
        let again: Vec<Vec<u8>> = (0..100).map(|_| mutate(&mut b, &seeds)).collect();
        let other: Vec<Vec<u8>> = (0..100).map(|_| mutate(&mut c, &seeds)).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!(first.iter().any(|m| !seeds.contains(m)), "mutations change the seeds");
    }

    #[test]
    fn a_clean_check_runs_every_input() {
        assert_eq!(run_bounded(always_fine, &[b"abc".to_vec()], budget(1)).unwrap(), 5_000);
        assert_eq!(run_bounded(always_fine, &[], budget(1)).unwrap(), 5_000, "no seeds: inputs from nothing");
    }

    #[test]
    fn a_panic_is_reported_with_its_input() {
        // A panic's report can take longer than the hang limit of the other
        // tests: with RUST_BACKTRACE set, a debug build symbolises the
        // backtrace, which took over 300 ms on a loaded 2-core CI run and
        // was reported as a hang. This test is about panics: a limit no
        // panic report comes near.
        let budget = Budget { hang: Duration::from_secs(20), ..budget(3) };
        let failure = run_bounded(panics_on_nul, &[b"a;1.0\n".to_vec()], budget).unwrap_err();
        assert!(failure.input.contains(&0), "{failure:?}");
        assert!(failure.reason.contains("a NUL byte"), "{}", failure.reason);
    }

    #[test]
    fn a_hang_is_reported_not_waited_for() {
        // Had the run waited, the input would have passed after 5 s and the
        // run gone on: a reported hang proves it did not.
        let failure = run_bounded(hangs_on_nul, &[b"a;1.0\n".to_vec()], budget(3)).unwrap_err();
        assert!(failure.reason.starts_with("hung"), "{}", failure.reason);
        assert!(failure.input.contains(&0));
    }
}
