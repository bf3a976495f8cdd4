//! `cargo +nightly fuzz run log_formats`: see pagemill_fuzz_checks::log_formats for the
//! input layout and what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pagemill_fuzz_checks::log_formats(data));
