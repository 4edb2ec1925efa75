//! Fuzz target: mbox mailboxes (sectool reencrypt).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kms_fuzz_targets::mbox(data);
});
