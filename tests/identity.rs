//! The TPP identifies itself on the API channel: mutual TLS with its QWAC and Berlin Group signatures
//! with its QSeal, against the sandbox bank serving its API over TLS, demanding a client certificate of
//! a test CA made at run time, checking the PSD2 roles and verifying signatures. Each refusal (missing
//! or foreign certificate, missing role, unsigned, tampered or foreign-sealed request) is the bank's
//! answer, and named.

use std::time::Duration;

use psd2_fallback_engine::api::{ApiBank, ApiBankConfig, ClientIdentity};
use psd2_fallback_engine::identity::test_pki::{TestPki, TppSpec};
use psd2_fallback_engine::identity::{PspRole, RequestSigner, TppCertificate};
use psd2_fallback_engine::model::{
    Amount, ConsentId, EndToEndId, Iban, PaymentFile, PaymentProduct, PaymentRequest,
    PaymentStatus, ScaStatus, ScaTarget,
};
use psd2_fallback_engine::{Bank, BankError};
use psd2_fallback_sandbox::{Sandbox, SandboxConfig, TppChecks};
use rust_decimal::dec;

use crate::support::{TODAY, pain001, psu, sign, signed_consent};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

/// A bank demanding QWACs of `pki` and, with `signatures`, QSeal-signed requests.
async fn identifying_bank(pki: &TestPki, signatures: bool) -> Sandbox {
    let (server_cert_pem, server_key_pem) = pki.server(&["localhost"]).unwrap();
    Sandbox::start_identified(
        SandboxConfig {
            today: Some(TODAY),
            settle_after: Duration::from_millis(200),
            ..SandboxConfig::default()
        },
        TppChecks {
            server_cert_pem,
            server_key_pem,
            client_ca_pem: pki.ca_pem(),
            require_signature: signatures,
        },
    )
    .await
    .unwrap()
}

fn certificate(pki: &TestPki, name: &str, spec: &TppSpec) -> TppCertificate {
    TppCertificate::from_pem(name, pki.tpp(spec).unwrap().into_bytes()).unwrap()
}

/// An `ApiBank` trusting `pki` for the server, presenting `qwac` and signing with `qseal`.
fn client(
    sandbox: &Sandbox,
    pki: &TestPki,
    qwac: Option<&TppCertificate>,
    qseal: Option<&TppCertificate>,
) -> ApiBank {
    let mut config = ApiBankConfig::new(sandbox.api_url());
    config.request_timeout = Duration::from_secs(10);
    config.server_roots_pem = Some(pki.ca_pem().into_bytes());
    config.identity = qwac.map(ClientIdentity::from_certificate);
    config.signer = qseal.map(|c| RequestSigner::new(c.clone()).unwrap());
    ApiBank::new(config).unwrap()
}

/// Anna, under a consent id the bank never gave: the TPP's identity is checked before it.
fn any_consent() -> psd2_fallback_engine::PsuContext {
    psu(ANNA).with_consent(ConsentId::new("consent-never-given"))
}

fn rejected_code(error: BankError) -> String {
    match error {
        BankError::Rejected { code, .. } => code,
        other => panic!("expected the bank's refusal, got {other:?}"),
    }
}

fn payment(debtor: &str, amount: rust_decimal::Decimal) -> PaymentRequest {
    PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: Iban::parse(debtor).unwrap(),
        creditor_name: "Garage Vermeulen".to_owned(),
        creditor: Iban::parse("BE71096123456769").unwrap(),
        amount: Amount::eur(amount).unwrap(),
        remittance: Some("Onderhoud".to_owned()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// Two customers at once, every kind of operation, each request over mutual TLS and signed.
#[tokio::test]
async fn every_operation_works_with_a_valid_qwac_and_qseal() {
    let pki = TestPki::new("Test QTSP").unwrap();
    let sandbox = identifying_bank(&pki, true).await;
    assert!(sandbox.api_url().starts_with("https://"));
    let qwac = certificate(&pki, "qwac.pem", &TppSpec::default());
    let qseal = certificate(
        &pki,
        "qseal.pem",
        &TppSpec {
            rsa: true,
            ..TppSpec::default()
        },
    );
    let bank = client(&sandbox, &pki, Some(&qwac), Some(&qseal));
    let customer = |number: &'static str| {
        let bank = bank.clone();
        let sandbox = &sandbox;
        async move {
            let consent = signed_consent(&bank, sandbox, number).await;
            let present = psu(number).with_consent(consent);
            let accounts = bank.accounts(&present).await.unwrap();
            assert!(!accounts.is_empty());
            let balances = bank
                .balances(&present, &accounts[0].id, None)
                .await
                .unwrap();
            assert!(!balances.is_empty());
            let funds = bank
                .confirm_funds(&present, &accounts[0].iban, &Amount::eur(dec!(1)).unwrap())
                .await
                .unwrap();
            assert!(funds.funds_available);
            let debtor = accounts[0].iban.to_string();
            let started = bank
                .initiate_payment(&present, &payment(&debtor, dec!(2.50)))
                .await
                .unwrap();
            let target = ScaTarget::Payment(started.payment.clone());
            assert_eq!(sign(&bank, &present, &target).await, ScaStatus::Finalised);
            let status = bank
                .payment_status(&present, &started.payment)
                .await
                .unwrap();
            assert_ne!(status, PaymentStatus::Rejected);
            // A payment file: the signed body is the XML.
            let xml = pain001(
                &debtor,
                &[("Alpha", "BE71096123456769", "3.00")],
                "2026-11-23",
            );
            let file = PaymentFile::parse(&xml).unwrap();
            let uploaded = bank.upload_payment_file(&present, &file).await.unwrap();
            let target = ScaTarget::Payment(uploaded.payment.clone());
            assert_eq!(sign(&bank, &present, &target).await, ScaStatus::Finalised);
        }
    };
    tokio::join!(customer(ANNA), customer(LUC));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_foreign_certificate_is_refused() {
    let pki = TestPki::new("Test QTSP").unwrap();
    let sandbox = identifying_bank(&pki, false).await;
    let anna = any_consent();

    // No client certificate: the bank answers in words.
    let anonymous = client(&sandbox, &pki, None, None);
    let error = anonymous.accounts(&anna).await.unwrap_err();
    assert_eq!(rejected_code(error), "CERTIFICATE_MISSING");

    // A certificate of a CA the bank does not trust: the bank ends the TLS handshake, its
    // application never sees the request, and the engine reports the bank's refusal.
    let stranger = TestPki::new("Unknown CA").unwrap();
    let foreign = certificate(&stranger, "qwac.pem", &TppSpec::default());
    let foreign_client = client(&sandbox, &pki, Some(&foreign), None);
    let error = foreign_client
        .initiate_payment(&anna, &payment("BE33738234567846", dec!(1)))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert_eq!(rejected_code(error), "CERTIFICATE_INVALID");
    assert!(text.contains("client certificate"), "{text}");

    // A bank whose server certificate is not of the configured CA is not trusted either.
    let other_bank = client(&sandbox, &stranger, Some(&foreign), None);
    assert!(matches!(
        other_bank.accounts(&anna).await.unwrap_err(),
        BankError::Unavailable { .. }
    ));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_missing_role_is_refused_per_operation() {
    let pki = TestPki::new("Test QTSP").unwrap();
    let sandbox = identifying_bank(&pki, false).await;
    let ais_only = certificate(
        &pki,
        "qwac.pem",
        &TppSpec {
            roles: Some(vec![PspRole::AccountInformation]),
            ..TppSpec::default()
        },
    );
    let bank = client(&sandbox, &pki, Some(&ais_only), None);
    // Account information: granted.
    let consent = signed_consent(&bank, &sandbox, ANNA).await;
    let anna = psu(ANNA).with_consent(consent);
    let accounts = bank.accounts(&anna).await.unwrap();
    // Payments and funds confirmation: refused, naming the role.
    let error = bank
        .initiate_payment(&anna, &payment("BE33738234567846", dec!(1)))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert_eq!(rejected_code(error), "ROLE_INVALID");
    assert!(text.contains("PSP_PI"), "{text}");
    let error = bank
        .confirm_funds(&anna, &accounts[0].iban, &Amount::eur(dec!(1)).unwrap())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("PSP_IC"), "{error}");
    assert_eq!(rejected_code(error), "ROLE_INVALID");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn unsigned_tampered_or_foreign_sealed_requests_are_refused() {
    let pki = TestPki::new("Test QTSP").unwrap();
    let sandbox = identifying_bank(&pki, true).await;
    let qwac = certificate(&pki, "qwac.pem", &TppSpec::default());
    let qseal = certificate(&pki, "qseal.pem", &TppSpec::default());

    // Unsigned, through the engine's client.
    let unsigned = client(&sandbox, &pki, Some(&qwac), None);
    let error = unsigned.accounts(&any_consent()).await.unwrap_err();
    assert_eq!(rejected_code(error), "SIGNATURE_MISSING");

    // A QSeal of another TPP (another authorisation number).
    let other = certificate(
        &pki,
        "other-qseal.pem",
        &TppSpec {
            organization_identifier: Some("PSDBE-NBB-9999999999".to_owned()),
            ..TppSpec::default()
        },
    );
    let mixed = client(&sandbox, &pki, Some(&qwac), Some(&other));
    let error = mixed.accounts(&any_consent()).await.unwrap_err();
    assert_eq!(rejected_code(error), "CERTIFICATE_INVALID");

    // Raw requests: a signed body changed on the way, and a garbled Signature header.
    let http = reqwest::Client::builder()
        .identity(
            reqwest::Identity::from_pem(pki.tpp(&TppSpec::default()).unwrap().as_bytes()).unwrap(),
        )
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(pki.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let signer = RequestSigner::new(qseal).unwrap();
    let url = format!("{}/v1/funds-confirmations", sandbox.api_url());
    let body = r#"{"account":{"iban":"BE33738234567846"},"instructedAmount":{"currency":"EUR","amount":"1.00"}}"#;
    let send = |body: &'static str, signed_over: &'static str, garble: bool| {
        let http = http.clone();
        let signer = signer.clone();
        let url = url.clone();
        async move {
            let request_id = uuid::Uuid::new_v4().to_string();
            let headers = [("X-Request-ID", request_id.as_str())];
            let signed = signer
                .sign(
                    &headers,
                    signed_over.as_bytes(),
                    time::OffsetDateTime::now_utc(),
                )
                .unwrap();
            let mut request = http
                .post(&url)
                .header("X-Request-ID", &request_id)
                .header("Content-Type", "application/json")
                .body(body);
            for (name, value) in signed.pairs() {
                let value = if garble && name == "Signature" {
                    "keyId=\"SN=1\",algorithm=\"rsa-sha256\",headers=\"digest".to_owned()
                } else {
                    value.to_owned()
                };
                request = request.header(name, value);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let json: serde_json::Value = answer.json().await.unwrap();
            (
                status,
                json["tppMessages"][0]["code"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        }
    };
    let good = send(body, body, false).await;
    assert_eq!(good.0, 200, "{good:?}");
    let tampered = body.replace("1.00", "9.00").leak();
    assert_eq!(
        send(tampered, body, false).await,
        (401, "SIGNATURE_INVALID".to_owned())
    );
    assert_eq!(
        send(body, body, true).await,
        (401, "SIGNATURE_INVALID".to_owned())
    );
    sandbox.shutdown().await;
}

/// Certificates that cannot identify the TPP are refused before any request, naming file and field.
#[test]
fn expired_certificates_and_missing_roles_are_refused_before_any_request() {
    use psd2_fallback_engine::identity::PsdService;
    let pki = TestPki::new("Test QTSP").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let expired = certificate(
        &pki,
        "/etc/psd2-fallback/qwac.pem",
        &TppSpec {
            not_before: now - time::Duration::days(400),
            not_after: now - time::Duration::days(2),
            ..TppSpec::default()
        },
    );
    let error = expired
        .check(now, &[PsdService::AccountInformation])
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/etc/psd2-fallback/qwac.pem: validity.notAfter: expired on"),
        "{error}"
    );
}
