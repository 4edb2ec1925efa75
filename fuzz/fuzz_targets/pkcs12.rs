//! Fuzz target: PKCS#12 files (DER and BER).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kms_fuzz_targets::pkcs12(data);
});
