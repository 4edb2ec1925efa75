//! Fuzz target: the BER to DER normaliser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kms_fuzz_targets::ber(data);
});
