//! `cargo +nightly fuzz run csv_fields`: see pagemill_fuzz_checks::csv_fields for the
//! input layout and what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pagemill_fuzz_checks::csv_fields(data));
