//! A bounded mutation run of every fuzz target on stable (see
//! `pagemill_fuzz_checks::mutate`): a few seconds of each in CI, longer by
//! hand.
//!
//! `PAGEMILL_FUZZ_SECONDS` (default 3) bounds each target's run,
//! `PAGEMILL_FUZZ_SEED` (default 0) picks the random sequence and
//! `PAGEMILL_FUZZ_INPUTS` caps the inputs per target. A failing input is
//! written to `fuzz/work/<target>/bounded-<seed>-<hash>` (ignored by git):
//! `cargo +nightly fuzz run <target> <that file>` or a copy into
//! `fuzz/corpus/<target>/` replays it.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use pagemill_fuzz_checks::TARGETS;
use pagemill_fuzz_checks::mutate::{Budget, run_bounded};

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v}: not a whole number")),
        Err(_) => default,
    }
}

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable corpus entry").path())
        .collect();
    paths.sort();
    paths.iter().map(|p| fs::read(p).expect("a readable seed")).collect()
}

#[test]
fn every_target_survives_a_bounded_mutation_run() {
    let budget = Budget {
        time: Duration::from_secs(env_u64("PAGEMILL_FUZZ_SECONDS", 3)),
        max_inputs: env_u64("PAGEMILL_FUZZ_INPUTS", u64::MAX),
        // Generous: a debug build on a loaded two-core machine.
        hang: Duration::from_secs(20),
        seed: env_u64("PAGEMILL_FUZZ_SEED", 0),
    };
    for &(name, check) in TARGETS {
        match run_bounded(check, &seeds(name), budget) {
            Ok(ran) => {
                assert!(ran > 0, "{name}: no input ran");
                eprintln!("{name}: {ran} mutated inputs in {:?} (seed {})", budget.time, budget.seed);
            }
            Err(failure) => {
                let hash = failure
                    .input
                    .iter()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
                let dir = fuzz_dir().join("work").join(name);
                let path = dir.join(format!("bounded-{}-{hash:016x}", budget.seed));
                let saved = fs::create_dir_all(&dir).and_then(|()| fs::write(&path, &failure.input));
                let shown = String::from_utf8_lossy(&failure.input[..failure.input.len().min(200)]).into_owned();
                panic!(
                    "{name}: {} on a {}-byte input (seed {}), {}: {shown:?}",
                    failure.reason,
                    failure.input.len(),
                    budget.seed,
                    match saved {
                        Ok(()) => format!("saved to {}", path.display()),
                        Err(e) => format!("not saved ({e})"),
                    },
                );
            }
        }
    }
}
