//! Fuzz target: CMS SignedData.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kms_fuzz_targets::signed(data);
});
