//! Every committed seed of every fuzz target (`fuzz/corpus/<target>/`), run
//! through the target's checks on stable: CI exercises every check without
//! a fuzzer, and a reproducer added to a corpus stays a regression test.

use std::fs;
use std::path::PathBuf;

use pagemill_fuzz_checks::{TARGETS, partial_seeds};

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

#[test]
fn every_seed_of_every_target_passes() {
    for &(name, check) in TARGETS {
        let dir = corpus(name);
        let mut seeds: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a readable corpus entry").path())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 3, "{name}: at least three seeds in {}", dir.display());
        for seed in seeds {
            let data = fs::read(&seed).expect("a readable seed");
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{name}: seed {} fails its checks", seed.display());
        }
    }
}

/// The partial_decode seeds are the real partials' cells; with
/// PAGEMILL_WRITE_SEEDS=1 this writes them to the corpus.
#[test]
fn partial_seeds_are_in_the_corpus() {
    let dir = corpus("partial_decode");
    let seeds = partial_seeds();
    assert!(seeds.len() >= 5, "both templates have binary cells");
    for (i, seed) in seeds.iter().enumerate() {
        let path = dir.join(format!("cell-{}-{}-{}", seed[0], seed[1], seed[2]));
        if std::env::var_os("PAGEMILL_WRITE_SEEDS").is_some() {
            fs::create_dir_all(&dir).expect("the corpus folder");
            fs::write(&path, seed).expect("a written seed");
        }
        let on_disk = fs::read(&path).unwrap_or_else(|e| panic!("seed {i} at {}: {e}", path.display()));
        assert_eq!(&on_disk, seed, "{} is a cell of today's partial layout", path.display());
    }
}
