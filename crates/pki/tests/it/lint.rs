//! The SBR profiles and the pre-issuance lint: every profile's certificates pass; a wrong
//! profile, subject, period or URL is refused before anything is signed, naming the rule;
//! `lint_certificate` judges certificates made elsewhere.

use pki::lint::{Kind, Severity, lint_certificate};
use pki::profile::{KeyUsageRule, ku};
use pki::{
    ContentAlgorithm, Error, Period, Person, PolicyExtras, Profile, RevocationUrls, SbrProfile,
    SmimeSubject,
};

use super::support::{days, key, name, now, one_year, test_ca};

fn urls() -> RevocationUrls {
    RevocationUrls {
        crl: Some("http://ca.example.test/crl".into()),
        delta_crl: Some("http://ca.example.test/crl/delta".into()),
        ca_issuers: Some("http://ca.example.test/ca.der".into()),
        ocsp: Some("http://ca.example.test/ocsp".into()),
    }
}

fn person() -> Person {
    Person {
        email: "alice@example.test".into(),
        given_name: Some("Alice".into()),
        surname: Some("Doe".into()),
        pseudonym: None,
        organization: Some("Example Org".into()),
        organization_identifier: Some("NTRGB-12345678".into()),
    }
}

fn subject(sbr: SbrProfile) -> SmimeSubject {
    SmimeSubject {
        subject: sbr.subject(&person()).unwrap(),
        email: "alice@example.test".into(),
        capabilities: vec![ContentAlgorithm::Aes256],
        revocation: urls(),
        sbr: Some(sbr),
        policy: PolicyExtras::default(),
    }
}

/// Issues an encryption (or signing) certificate; the refusal's rule and message, if any.
fn issue(profile: &Profile, period: Period) -> Result<pki::Certificate, (String, String)> {
    test_ca()
        .issue(
            profile,
            &key("alice-enc").public_key(),
            period,
            &mut pki::os_rng(),
        )
        .map_err(|e| match e {
            Error::Lint { rule, detail } => (rule.to_string(), detail),
            other => panic!("not a lint refusal: {other}"),
        })
}

fn refused(profile: &Profile, period: Period) -> (String, String) {
    let e = issue(profile, period).expect_err("issued");
    assert!(!e.0.is_empty());
    e
}

#[test]
fn every_profile_issues_certificates_that_pass() {
    for sbr in SbrProfile::ALL {
        for (kind, profile) in [
            (Kind::Signing, Profile::SmimeSigning(subject(sbr))),
            (Kind::Encryption, Profile::SmimeEncryption(subject(sbr))),
        ] {
            let cert = issue(&profile, one_year()).unwrap();
            let report = lint_certificate(&cert, None);
            assert_eq!(report.kind, kind);
            assert_eq!(report.profile, Some(sbr), "the policy names the profile");
            assert!(report.passes(), "{}: {:#?}", sbr.name, report.findings);
            assert!(
                report.findings.is_empty(),
                "{}: {:#?}",
                sbr.name,
                report.findings
            );
        }
    }
    // The CA certificate: a CA, clean but for the size of the 3072-bit test key.
    let ca = test_ca();
    let report = lint_certificate(ca.certificate(), None);
    assert_eq!(report.kind, Kind::Ca);
    assert!(report.passes(), "{:#?}", report.findings);
    assert_eq!(
        report.findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["sbr.ca.key_size"]
    );
}

#[test]
fn strict_encryption_with_data_encipherment_is_refused() {
    // A wrong profile as data: strict, but issuing dataEncipherment.
    let wrong = SbrProfile {
        encryption: KeyUsageRule {
            issued: ku::KEY_ENCIPHERMENT | ku::DATA_ENCIPHERMENT,
            allowed: ku::KEY_ENCIPHERMENT | ku::DATA_ENCIPHERMENT,
            required: ku::KEY_ENCIPHERMENT,
        },
        ..SbrProfile::MAILBOX_STRICT
    };
    let mut s = subject(SbrProfile::MAILBOX_STRICT);
    s.sbr = Some(wrong);
    let (rule, detail) = refused(&Profile::SmimeEncryption(s.clone()), one_year());
    assert_eq!(rule, "sbr.key_usage");
    assert_eq!(
        detail,
        "dataEncipherment is not allowed in a strict encryption certificate"
    );
    let e = test_ca()
        .issue(
            &Profile::SmimeEncryption(s),
            &key("alice-enc").public_key(),
            one_year(),
            &mut pki::os_rng(),
        )
        .unwrap_err();
    assert_eq!(e.code(), "PKI-120");
    assert!(e.to_string().starts_with("PKI-120: sbr.key_usage: "), "{e}");
    // The same bits are fine in multipurpose.
    let mut s = subject(SbrProfile::MAILBOX_MULTIPURPOSE);
    s.sbr = Some(SbrProfile {
        encryption: wrong.encryption,
        ..SbrProfile::MAILBOX_MULTIPURPOSE
    });
    issue(&Profile::SmimeEncryption(s), one_year()).unwrap();
}

#[test]
fn validity_over_825_days_is_refused() {
    let s = subject(SbrProfile::MAILBOX_STRICT);
    let at_most = Period {
        not_before: now(),
        not_after: now() + days(825) - std::time::Duration::from_secs(1),
    };
    issue(&Profile::SmimeSigning(s.clone()), at_most).unwrap();
    // One more second is a day more.
    let over = Period {
        not_before: now(),
        not_after: now() + days(825),
    };
    let (rule, detail) = refused(&Profile::SmimeSigning(s), over);
    assert_eq!(rule, "sbr.validity");
    assert!(detail.contains("826 days"), "{detail}");
}

#[test]
fn urls_must_be_plain_http() {
    let mut s = subject(SbrProfile::MAILBOX_STRICT);
    s.revocation.crl = Some("https://ca.example.test/crl".into());
    assert_eq!(
        refused(&Profile::SmimeSigning(s), one_year()).0,
        "sbr.crl_distribution_points"
    );
    let mut s = subject(SbrProfile::MAILBOX_STRICT);
    s.revocation.ocsp = Some("https://ca.example.test/ocsp".into());
    assert_eq!(
        refused(&Profile::SmimeSigning(s), one_year()).0,
        "sbr.authority_info_access"
    );
    let mut s = subject(SbrProfile::MAILBOX_STRICT);
    s.revocation.crl = None;
    assert_eq!(
        refused(&Profile::SmimeSigning(s), one_year()).0,
        "sbr.crl_distribution_points"
    );
    let mut s = subject(SbrProfile::MAILBOX_STRICT);
    s.policy.cps_url = Some("ftp://ca.example.test/cps".into());
    assert_eq!(
        refused(&Profile::SmimeSigning(s), one_year()).0,
        "sbr.certificate_policies"
    );
    // A CPS over http(s) and the organisation's own policy are fine.
    let mut s = subject(SbrProfile::MAILBOX_STRICT);
    s.policy.cps_url = Some("https://ca.example.test/cps".into());
    s.policy.own_policy = Some("1.3.6.1.4.1.99999.1".parse().unwrap());
    issue(&Profile::SmimeSigning(s), one_year()).unwrap();
}

#[test]
fn subjects_follow_the_validation_type() {
    // Mailbox-validated: a display name as CN, or an organisation, is refused.
    let mut s = subject(SbrProfile::MAILBOX_STRICT);
    s.subject = name("CN=Alice");
    let (rule, detail) = refused(&Profile::SmimeSigning(s), one_year());
    assert_eq!(rule, "sbr.subject");
    assert!(detail.contains("\"Alice\""), "{detail}");
    let mut s = subject(SbrProfile::MAILBOX_STRICT);
    s.subject = name("CN=alice@example.test,O=Example Org");
    assert_eq!(
        refused(&Profile::SmimeSigning(s), one_year()).0,
        "sbr.subject"
    );
    // Sponsor-validated: without organizationName, or with a CN that is not the name.
    let mut s = subject(SbrProfile::SPONSORED_STRICT);
    s.subject = name("CN=Alice Doe,GN=Alice,SN=Doe");
    assert_eq!(
        refused(&Profile::SmimeSigning(s), one_year()).0,
        "sbr.subject"
    );
    let mut s = subject(SbrProfile::SPONSORED_STRICT);
    s.subject = name("CN=Bob,O=Example Org,GN=Alice,SN=Doe");
    assert_eq!(
        refused(&Profile::SmimeSigning(s), one_year()).0,
        "sbr.subject"
    );
    // Building the subject: a sponsored profile needs the name on record.
    let e = SbrProfile::SPONSORED_STRICT
        .subject(&Person {
            given_name: None,
            ..person()
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Lint {
                rule: "sbr.subject.person_name",
                ..
            }
        ),
        "{e}"
    );
    let e = SbrProfile::SPONSORED_MULTIPURPOSE
        .subject(&Person {
            organization: None,
            ..person()
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Lint {
                rule: "sbr.subject.organization",
                ..
            }
        ),
        "{e}"
    );
    let e = SbrProfile::SPONSORED_MULTIPURPOSE
        .subject(&Person {
            organization_identifier: Some("ABCGB-1".into()),
            ..person()
        })
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Lint {
                rule: "sbr.subject.organization_identifier",
                ..
            }
        ),
        "{e}"
    );
    // A pseudonym instead of the name.
    let n = SbrProfile::SPONSORED_STRICT
        .subject(&Person {
            given_name: None,
            surname: None,
            pseudonym: Some("Agent 7".into()),
            ..person()
        })
        .unwrap();
    let mut s = subject(SbrProfile::SPONSORED_STRICT);
    s.subject = n;
    issue(&Profile::SmimeSigning(s), one_year()).unwrap();
}

#[test]
fn the_lint_judges_certificates_made_elsewhere() {
    // A certificate outside the SBR (no policy, display-name CN): errors, each named.
    let legacy = SmimeSubject {
        subject: name("CN=Alice,O=Example Org"),
        email: "alice@example.test".into(),
        capabilities: vec![ContentAlgorithm::Aes256],
        revocation: RevocationUrls::default(),
        sbr: None,
        policy: PolicyExtras::default(),
    };
    let cert = issue(&Profile::SmimeEncryption(legacy), one_year()).unwrap();
    let report = lint_certificate(&cert, Some(SbrProfile::MAILBOX_STRICT));
    assert!(!report.passes());
    let errors: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.rule)
        .collect();
    for rule in [
        "sbr.certificate_policies",
        "sbr.key_usage",
        "sbr.crl_distribution_points",
        "sbr.subject",
    ] {
        assert!(errors.contains(&rule), "{rule} missing from {errors:?}");
    }
    // A mailbox-strict certificate judged as sponsored-strict: the profile differs.
    let cert = issue(
        &Profile::SmimeSigning(subject(SbrProfile::MAILBOX_STRICT)),
        one_year(),
    )
    .unwrap();
    let report = lint_certificate(&cert, Some(SbrProfile::SPONSORED_STRICT));
    assert!(report.findings.iter().any(|f| f.rule == "sbr.profile"));
    // Errors come first.
    assert_eq!(report.findings[0].severity, Severity::Error);
}

#[test]
fn profiles_by_name() {
    assert_eq!(
        SbrProfile::by_name("Sponsored-Strict").unwrap(),
        SbrProfile::SPONSORED_STRICT
    );
    let e = SbrProfile::by_name("sponsored").unwrap_err();
    assert!(
        e.to_string()
            .contains("mailbox-strict, mailbox-multipurpose"),
        "{e}"
    );
}
