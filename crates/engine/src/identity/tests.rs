//! Certificates made at run time by a test CA, read and checked as a bank would.

use time::{Duration, OffsetDateTime};

use super::test_pki::{TestPki, TppSpec};
use super::*;

fn pki() -> TestPki {
    TestPki::new("Test QTSP").unwrap()
}

fn load(pki: &TestPki, spec: &TppSpec) -> TppCertificate {
    TppCertificate::from_pem("qwac.pem", pki.tpp(spec).unwrap().into_bytes()).unwrap()
}

#[test]
fn a_certificate_shows_whose_it_is_which_roles_and_until_when() {
    let pki = pki();
    let cert = load(&pki, &TppSpec::default());
    let facts = cert.facts();
    assert_eq!(facts.subject, "Test TPP");
    assert_eq!(facts.authorisation_number(), Some("0123456789"));
    assert_eq!(
        facts.roles(),
        &[
            PspRole::AccountInformation,
            PspRole::PaymentInitiation,
            PspRole::IssuingCards
        ]
    );
    assert_eq!(facts.psd2.as_ref().unwrap().nca_id, "BE-NBB");
    assert!(facts.issuer.contains("Test QTSP"), "{}", facts.issuer);
    let all = [
        PsdService::AccountInformation,
        PsdService::PaymentInitiation,
        PsdService::FundsConfirmation,
    ];
    cert.check(OffsetDateTime::now_utc(), &all).unwrap();
    let summary = cert.summary();
    assert!(summary.contains("PSP_AI, PSP_PI, PSP_IC"), "{summary}");
    assert!(!format!("{cert:?}").contains("PRIVATE"), "{cert:?}");
}

#[test]
fn refusals_name_the_source_and_the_field() {
    let pki = pki();
    let now = OffsetDateTime::now_utc();
    let cases: [(TppSpec, &[PsdService], &str, &str); 5] = [
        (
            TppSpec {
                not_before: now - Duration::days(400),
                not_after: now - Duration::days(1),
                ..TppSpec::default()
            },
            &[],
            "validity.notAfter",
            "expired on",
        ),
        (
            TppSpec {
                not_before: now + Duration::days(1),
                ..TppSpec::default()
            },
            &[],
            "validity.notBefore",
            "not valid before",
        ),
        (
            TppSpec {
                roles: Some(vec![PspRole::AccountInformation]),
                ..TppSpec::default()
            },
            &[
                PsdService::AccountInformation,
                PsdService::PaymentInitiation,
            ],
            "qcStatements.rolesOfPSP",
            "lacks PSP_PI, which payment initiation needs (granted: PSP_AI)",
        ),
        (
            TppSpec {
                roles: None,
                ..TppSpec::default()
            },
            &[],
            "qcStatements",
            "no PSD2 QC statement",
        ),
        (
            TppSpec {
                organization_identifier: Some("VATBE-0123456789".to_owned()),
                ..TppSpec::default()
            },
            &[],
            "subject.organizationIdentifier",
            "is not PSD<country>",
        ),
    ];
    for (spec, services, field, says) in cases {
        let error = load(&pki, &spec).check(now, services).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("qwac.pem: "), "{text}");
        assert!(
            matches!(error, IdentityError::Refused { field: f, .. } if f == field),
            "{text}"
        );
        assert!(text.contains(says), "{text} should say {says}");
    }
}

#[test]
fn bad_pem_is_refused_without_echoing_it() {
    let pki = pki();
    let good = pki.tpp(&TppSpec::default()).unwrap();
    let other = pki.tpp(&TppSpec::default()).unwrap();
    let cert_only: String = good
        .split("-----BEGIN PRIVATE KEY-----")
        .next()
        .unwrap()
        .to_owned();
    let key_only = good[cert_only.len()..].to_owned();
    let other_key = &other[other.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
    let mismatched = format!("{cert_only}{other_key}");
    for (pem, says) in [
        (String::new(), "no CERTIFICATE"),
        ("garbage\u{0}\u{1}".repeat(1000), "no CERTIFICATE"),
        (cert_only, "no private key"),
        (key_only.clone(), "no CERTIFICATE"),
        (mismatched, "does not belong to the certificate"),
    ] {
        let error = TppCertificate::from_pem("env:TPP_QWAC", pem.into_bytes()).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("env:TPP_QWAC: "), "{text}");
        assert!(text.contains(says), "{text} should say {says}");
        assert!(!text.contains("PRIVATE"), "{text}");
    }
    let missing = TppCertificate::from_pem_file(std::path::Path::new("/nonexistent/qseal.pem"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("/nonexistent/qseal.pem: cannot be read"),
        "{missing}"
    );
    let unset = TppCertificate::from_env("PSD2_FALLBACK_TEST_UNSET_QWAC")
        .unwrap_err()
        .to_string();
    assert_eq!(
        unset,
        "env:PSD2_FALLBACK_TEST_UNSET_QWAC: cannot be read: not set"
    );
}

#[test]
fn the_role_a_path_needs() {
    for (path, service) in [
        ("/v1/accounts", Some(PsdService::AccountInformation)),
        (
            "/v1/consents/abc/status",
            Some(PsdService::AccountInformation),
        ),
        (
            "/v1/payments/sepa-credit-transfers",
            Some(PsdService::PaymentInitiation),
        ),
        ("/v1/bulk-payments/x/y", Some(PsdService::PaymentInitiation)),
        (
            "/v1/periodic-payments/x",
            Some(PsdService::PaymentInitiation),
        ),
        (
            "/v1/funds-confirmations",
            Some(PsdService::FundsConfirmation),
        ),
        ("/v1/", None),
        ("/health", None),
    ] {
        assert_eq!(PsdService::of_api_path(path), service, "{path}");
    }
}

fn headers(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let owned: Vec<(String, String)> = list
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    move |name: &str| {
        owned
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn a_signature_verifies_independently_and_a_tampered_request_does_not() {
    let pki = pki();
    for rsa in [true, false] {
        let qseal = load(
            &pki,
            &TppSpec {
                rsa,
                ..TppSpec::default()
            },
        );
        let signer = RequestSigner::new(qseal).unwrap();
        let body = br#"{"instructedAmount":{"currency":"EUR","amount":"12.50"}}"#;
        let request = [
            ("X-Request-ID", "99391c7e-ad88-49ec-a2ad-99ddcb1f7721"),
            ("PSU-ID", "PSU-0001"),
            ("Content-Type", "application/json"),
        ];
        let signed = signer
            .sign(&request, body, OffsetDateTime::now_utc())
            .unwrap();
        assert!(
            signed
                .signature
                .contains(if rsa { "rsa-sha256" } else { "ecdsa-sha256" })
        );
        let mut all: Vec<(&str, &str)> = request.to_vec();
        all.extend(signed.pairs());
        let verified = verify_request(headers(&all), body).unwrap();
        assert_eq!(verified.signer.subject, "Test TPP");
        assert_eq!(
            verified.headers,
            ["digest", "x-request-id", "date", "psu-id"]
        );

        // A different body: the digest no longer matches.
        let error = verify_request(headers(&all), b"{}").unwrap_err();
        assert_eq!(error, SignatureError::Digest);
        assert_eq!(error.code(), "SIGNATURE_INVALID");
        // A different signed header (digest recomputed by the attacker): the signature fails.
        let mut changed = all.clone();
        changed[1] = ("PSU-ID", "PSU-0002");
        assert_eq!(
            verify_request(headers(&changed), body).unwrap_err(),
            SignatureError::Invalid
        );
        // A certificate not the signer's.
        let other = load(
            &pki,
            &TppSpec {
                rsa,
                ..TppSpec::default()
            },
        );
        let other = RequestSigner::new(other).unwrap();
        let other_signed = other
            .sign(&request, body, OffsetDateTime::now_utc())
            .unwrap();
        let mut swapped = all.clone();
        let last = swapped.len() - 1;
        swapped[last] = ("TPP-Signature-Certificate", &other_signed.certificate);
        let error = verify_request(headers(&swapped), body).unwrap_err();
        assert!(
            matches!(error, SignatureError::Malformed(ref m) if m.contains("keyId SN")),
            "{error}"
        );
    }
}

#[test]
fn unsigned_or_garbled_signatures_are_refused_with_the_bank_codes() {
    let body = b"";
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("X-Request-ID", "1")], "SIGNATURE_MISSING"),
        (
            &[
                ("Signature", "x"),
                (
                    "Digest",
                    "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                ),
                ("TPP-Signature-Certificate", "AAAA"),
            ],
            "SIGNATURE_INVALID",
        ),
        (
            &[
                (
                    "Signature",
                    "keyId=\"SN=1\",algorithm=\"rsa-sha256\",headers=\"digest x-request-id\",signature=\"AAAA\"",
                ),
                ("X-Request-ID", "1"),
                (
                    "Digest",
                    "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                ),
                ("TPP-Signature-Certificate", "!!"),
            ],
            "CERTIFICATE_INVALID",
        ),
        (
            &[
                (
                    "Signature",
                    "keyId=\"SN=1\",algorithm=\"rsa-sha256\",headers=\"x-request-id\",signature=\"AAAA\"",
                ),
                ("X-Request-ID", "1"),
                (
                    "Digest",
                    "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                ),
                ("TPP-Signature-Certificate", "AAAA"),
            ],
            "SIGNATURE_INVALID",
        ),
        (
            &[
                ("Signature", "a"),
                ("Digest", "SHA-256=wrong"),
                ("TPP-Signature-Certificate", "AAAA"),
            ],
            "SIGNATURE_INVALID",
        ),
    ];
    for (list, code) in cases {
        let error = verify_request(headers(list), body).unwrap_err();
        assert_eq!(error.code(), code, "{error}");
    }
}
