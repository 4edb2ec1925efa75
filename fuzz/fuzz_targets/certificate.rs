//! Fuzz target: X.509 certificates (DER, PEM, bundles).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kms_fuzz_targets::certificate(data);
});
