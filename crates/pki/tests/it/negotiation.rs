//! Content-algorithm negotiation (`pki::negotiation`): strongest shared algorithm, who forced a
//! weaker one, the policy floor (refuse or skip), recipients without capabilities, forced
//! algorithms, and capabilities read from certificates.

use pki::ContentAlgorithm::{self, *};
use pki::negotiation::{BelowFloor, Policy, Recipient, negotiate};
use pki::{Period, Profile};

use crate::support::*;

fn r(id: &str, caps: &[ContentAlgorithm]) -> Recipient {
    Recipient::new(id, caps)
}

/// The original system's CAST clients: CAST-64 ones also do CAST-40.
fn cast64_user(id: &str) -> Recipient {
    r(id, &[Cast64, Cast40])
}

fn cast40_user(id: &str) -> Recipient {
    r(id, &[Cast40])
}

fn modern_user(id: &str) -> Recipient {
    r(id, &ContentAlgorithm::RANKING)
}

#[test]
fn cast40_and_cast64_recipients_give_cast40_and_name_the_cast40_one() {
    let n = negotiate(
        &[
            cast64_user("ann@example.test"),
            cast40_user("old@example.test"),
            cast64_user("ben@example.test"),
        ],
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(n.algorithm, Cast40);
    assert_eq!(n.forced_weaker, ["old@example.test"]);
    assert_eq!(
        n.recipients,
        ["ann@example.test", "old@example.test", "ben@example.test"]
    );
    assert!(n.skipped.is_empty() && n.assumed.is_empty());
}

#[test]
fn all_aes_recipients_get_the_strongest_shared_aes() {
    let all_gcm = [
        modern_user("alice"),
        r("bob", &[Aes256Gcm, Aes128Gcm, Aes256, Aes128]),
        r("carol", &[Aes128, Aes256Gcm, Aes256]),
    ];
    let n = negotiate(&all_gcm, &Policy::default()).unwrap();
    assert_eq!(n.algorithm, Aes256Gcm);
    assert!(n.forced_weaker.is_empty(), "{:?}", n.forced_weaker);

    // Dave has no GCM: AES-256-CBC, and Dave is why.
    let with_dave = [
        modern_user("alice"),
        r("bob", &[Aes256Gcm, Aes128Gcm, Aes256, Aes128]),
        r("dave", &[Aes256, Aes192, Aes128]),
    ];
    let n = negotiate(&with_dave, &Policy::default()).unwrap();
    assert_eq!(n.algorithm, Aes256);
    assert_eq!(n.forced_weaker, ["dave"]);
}

#[test]
fn floor_refuses_naming_everyone_below_it() {
    let recipients = [
        modern_user("alice"),
        cast40_user("bob"),
        r("carol", &[Des, Rc2_40]),
        r("dave", &[TripleDes, Cast40]),
    ];
    let policy = Policy {
        floor: Some(TripleDes),
        ..Policy::default()
    };
    let e = negotiate(&recipients, &policy).unwrap_err();
    assert_eq!(e.code(), "PKI-081", "{e}");
    let text = e.to_string();
    assert!(text.contains("bob, carol"), "{text}");
    assert!(!text.contains("alice") && !text.contains("dave"), "{text}");
    assert!(text.contains("3des"), "{text}");
}

#[test]
fn floor_skips_when_asked() {
    let recipients = [
        modern_user("alice"),
        cast40_user("bob"),
        r("carol", &[Des, Rc2_40]),
        r("dave", &[TripleDes, Cast40]),
    ];
    let policy = Policy {
        floor: Some(TripleDes),
        below_floor: BelowFloor::Skip,
        ..Policy::default()
    };
    let n = negotiate(&recipients, &policy).unwrap();
    assert_eq!(n.algorithm, TripleDes);
    assert_eq!(n.skipped, ["bob", "carol"]);
    assert_eq!(n.recipients, ["alice", "dave"]);
    assert_eq!(n.forced_weaker, ["dave"]);

    // Everybody below: nobody left.
    let e = negotiate(&[cast40_user("bob"), cast64_user("eve")], &policy).unwrap_err();
    assert_eq!(e.code(), "PKI-082", "{e}");
    assert!(e.to_string().contains("bob, eve"), "{e}");
}

#[test]
fn floor_never_lets_a_weaker_shared_algorithm_through() {
    // Alice and Bob share cast40 and 3des; a floor of aes128 leaves nothing shared.
    let recipients = [
        r("alice", &[Aes256, TripleDes, Cast40]),
        r("bob", &[Aes128, TripleDes, Cast40]),
    ];
    let n = negotiate(&recipients, &Policy::default()).unwrap();
    assert_eq!(n.algorithm, TripleDes);
    // Each alone lacks the other's AES: both are named.
    assert_eq!(n.forced_weaker, ["alice", "bob"]);
    let policy = Policy {
        floor: Some(Aes128),
        ..Policy::default()
    };
    let e = negotiate(&recipients, &policy).unwrap_err();
    assert_eq!(e.code(), "PKI-080", "{e}");
    let text = e.to_string();
    assert!(
        text.contains("alice: aes256") && text.contains("bob: aes128"),
        "{text}"
    );
}

#[test]
fn recipients_without_capabilities_get_aes256_cbc_per_rfc8551() {
    // RFC 8551 §2.7.1.2: unknown capabilities mean AES-256-CBC, never 3DES.
    let n = negotiate(&[r("nocaps", &[])], &Policy::default()).unwrap();
    assert_eq!(n.algorithm, Aes256);
    assert_eq!(n.assumed, ["nocaps"]);

    // AES-GCM only where every recipient is known to support it: one unknown recipient
    // among modern ones brings the choice down to AES-256-CBC and is named for it.
    let recipients = [modern_user("alice"), r("nocaps", &[])];
    let n = negotiate(&recipients, &Policy::default()).unwrap();
    assert_eq!(n.algorithm, Aes256);
    assert_eq!(n.assumed, ["nocaps"]);
    assert_eq!(n.forced_weaker, ["nocaps"]);
    let n = negotiate(
        &[modern_user("alice"), modern_user("bob")],
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(n.algorithm, Aes256Gcm);

    // A known 3DES-only recipient and an unknown one share nothing: refused, not 3DES.
    let e = negotiate(
        &[r("nocaps", &[]), r("old", &[TripleDes])],
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "PKI-080", "{e}");
    assert!(e.to_string().contains("nocaps: aes256"), "{e}");

    // A floor above aes256 refuses the assumption, naming the recipient.
    let policy = Policy {
        floor: Some(Aes128Gcm),
        ..Policy::default()
    };
    let e = negotiate(&recipients, &policy).unwrap_err();
    assert_eq!(e.code(), "PKI-081", "{e}");
    assert!(e.to_string().contains("nocaps"), "{e}");
}

#[test]
fn a_forced_algorithm_is_honoured_for_unknown_capabilities() {
    let forced = |a| Policy {
        forced: Some(a),
        ..Policy::default()
    };
    for alg in [Aes256, Aes128, TripleDes, Aes256Gcm] {
        let n = negotiate(&[r("peer", &[])], &forced(alg)).unwrap();
        assert_eq!(n.algorithm, alg);
        assert_eq!(n.assumed, ["peer"]);
        assert!(n.overridden.is_empty());
    }
    // Still under the floor's rule.
    let below = Policy {
        forced: Some(TripleDes),
        floor: Some(Aes128),
        ..Policy::default()
    };
    assert_eq!(
        negotiate(&[r("peer", &[])], &below).unwrap_err().code(),
        "PKI-084"
    );
}

#[test]
fn published_capabilities_that_exclude_it_need_force_and_are_named() {
    let recipients = [
        r("peer", &[]),
        r("bob", &[Aes128, TripleDes]),
        modern_user("alice"),
    ];
    let mut policy = Policy {
        forced: Some(Aes256),
        ..Policy::default()
    };
    let e = negotiate(&recipients, &policy).unwrap_err();
    assert_eq!(e.code(), "PKI-083", "{e}");
    assert!(e.to_string().contains(": bob"), "{e}");
    assert!(!e.to_string().contains("peer"), "{e}");

    policy.force = true;
    let n = negotiate(&recipients, &policy).unwrap();
    assert_eq!(n.algorithm, Aes256);
    assert_eq!(n.recipients, ["peer", "bob", "alice"]);
    assert_eq!(n.overridden, ["bob"]);
    assert_eq!(n.assumed, ["peer"]);
}

#[test]
fn forced_algorithm_is_checked_against_everyone_and_the_floor() {
    let recipients = [
        modern_user("alice"),
        r("bob", &[Aes256, Aes128, TripleDes]),
        r("carol", &[Aes128, TripleDes]),
    ];
    let forced = |a| Policy {
        forced: Some(a),
        ..Policy::default()
    };
    let n = negotiate(&recipients, &forced(Aes128)).unwrap();
    assert_eq!(n.algorithm, Aes128);
    assert!(n.forced_weaker.is_empty());
    // A weaker algorithm than negotiation would pick is allowed when forced.
    assert_eq!(
        negotiate(&recipients, &forced(TripleDes))
            .unwrap()
            .algorithm,
        TripleDes
    );

    let e = negotiate(&recipients, &forced(Aes256Gcm)).unwrap_err();
    assert_eq!(e.code(), "PKI-083", "{e}");
    assert!(e.to_string().contains("bob, carol"), "{e}");
    assert!(e.to_string().contains("aes256-gcm"), "{e}");

    let below = Policy {
        forced: Some(TripleDes),
        floor: Some(Aes128),
        ..Policy::default()
    };
    let e = negotiate(&recipients, &below).unwrap_err();
    assert_eq!(e.code(), "PKI-084", "{e}");

    // Skipped recipients are not asked about the forced algorithm.
    let skip = Policy {
        forced: Some(Aes128),
        floor: Some(Aes128),
        below_floor: BelowFloor::Skip,
        force: false,
    };
    let mut with_old = recipients.to_vec();
    with_old.push(cast40_user("old"));
    let n = negotiate(&with_old, &skip).unwrap();
    assert_eq!(n.algorithm, Aes128);
    assert_eq!(n.skipped, ["old"]);
}

#[test]
fn empty_recipient_list_is_refused() {
    let e = negotiate(&[], &Policy::default()).unwrap_err();
    assert_eq!(e.code(), "PKI-031", "{e}");
}

#[test]
fn capabilities_come_from_certificates() {
    let ca = test_ca();
    let (_, alice_enc) = user_certs(&ca, "alice"); // every algorithm
    let bob_enc = ca
        .issue(
            &Profile::SmimeEncryption(smime_subject("bob", &[Cast64, Cast40])),
            &key("bob-enc").public_key(),
            Period {
                not_before: now() - days(1),
                not_after: now() + days(365),
            },
            &mut pki::os_rng(),
        )
        .unwrap();
    let alice = Recipient::from_certificate("alice@example.test", &alice_enc).unwrap();
    assert_eq!(alice.capabilities.len(), ContentAlgorithm::RANKING.len());
    let bob = Recipient::from_certificate("bob@example.test", &bob_enc).unwrap();
    assert_eq!(bob.capabilities, [Cast64, Cast40]);
    let n = negotiate(&[alice, bob], &Policy::default()).unwrap();
    assert_eq!(n.algorithm, Cast64);
    assert_eq!(n.forced_weaker, ["bob@example.test"]);
}
