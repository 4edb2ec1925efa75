//! Fuzz target: CMS EnvelopedData and AuthEnvelopedData.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kms_fuzz_targets::enveloped(data);
});
