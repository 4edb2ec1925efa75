//! Fuzz target: PKCS#10 certificate requests.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kms_fuzz_targets::csr(data);
});
