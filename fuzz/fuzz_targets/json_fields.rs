//! `cargo +nightly fuzz run json_fields`: see pagemill_fuzz_checks::json_fields for the
//! input layout and what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pagemill_fuzz_checks::json_fields(data));
