//! `cargo +nightly fuzz run partial_decode`: see pagemill_fuzz_checks::partial_decode for the
//! input layout and what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pagemill_fuzz_checks::partial_decode(data));
