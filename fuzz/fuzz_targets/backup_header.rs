//! Fuzz target: escrow backup headers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kms_fuzz_targets::backup_header(data);
});
