//! Shared helpers: a sandbox bank per test, a headless Chromium ([`browser`]), an HTTP client that speaks the sandbox API, spec files.

#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod child;
pub mod conformance;
pub mod gate;
pub mod postgres;
pub mod processes;
pub mod service;
pub mod sites;

use std::time::Duration;

use psd2_fallback_sandbox::{CUSTOMERS, Sandbox, SandboxConfig, card_reader_response};
use serde_json::{Value, json};
use time::Date;
use time::macros::date;

/// The day every test's sandbox lives on, so its data is the same on any day.
pub const TODAY: Date = date!(2026 - 11 - 23);

/// A sandbox bank on free loopback ports, pinned to [`TODAY`], settling payments after 200 ms.
pub async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        settle_after: Duration::from_millis(200),
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts")
}

/// The IBANs of a sandbox customer's accounts, as the ledger holds them.
pub fn ibans(
    sandbox: &psd2_fallback_sandbox::Sandbox,
    customer: &str,
) -> Vec<psd2_fallback_engine::model::Iban> {
    (sandbox.ledger().accounts(customer).into_iter())
        .map(|a| a.iban)
        .collect()
}

/// A sandbox customer, present (a documentation IP address as `PSU-IP-Address`), with their password.
pub fn psu(customer: &str) -> psd2_fallback_engine::PsuContext {
    psd2_fallback_engine::PsuContext::new(psd2_fallback_engine::model::PsuId::new(customer))
        .present_at(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)))
        .with_password(secrecy::SecretString::from(password(customer)))
}

/// Signs a consent or payment through any channel, answering with the customer's card reader.
pub async fn sign(
    bank: &dyn psd2_fallback_engine::Bank,
    psu: &psd2_fallback_engine::PsuContext,
    target: &psd2_fallback_engine::model::ScaTarget,
) -> psd2_fallback_engine::model::ScaStatus {
    let challenge = bank
        .start_authorisation(psu, target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    let answer = psd2_fallback_engine::model::ScaAnswer::new(card_reader_response(
        psu.psu_id.as_str(),
        &challenge.data,
    ));
    bank.authorise(psu, target, &challenge.authorisation_id, &answer)
        .await
        .unwrap()
}

/// A consent of `customer` to their first account, for 90 days and 4 unattended reads a day, made and
/// signed through `client` with the customer present and giving their password.
pub async fn signed_consent(
    client: &dyn psd2_fallback_engine::Bank,
    sandbox: &Sandbox,
    customer: &str,
) -> psd2_fallback_engine::model::ConsentId {
    use psd2_fallback_engine::model::{ConsentAccess, ConsentRequest, ScaStatus, ScaTarget};
    let present = psu(customer);
    let consent = client
        .create_consent(
            &present,
            &ConsentRequest {
                access: ConsentAccess::full(vec![
                    sandbox.ledger().accounts(customer)[0].iban.clone(),
                ]),
                recurring: true,
                valid_until: TODAY + time::Duration::days(90),
                frequency_per_day: 4,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        sign(client, &present, &ScaTarget::Consent(consent.clone())).await,
        ScaStatus::Finalised
    );
    consent
}

/// The transaction filters every channel is compared under: all, a date range, credits, recurring
/// debits, one-off since a date, a code prefix, pending.
pub fn transaction_filters() -> Vec<psd2_fallback_engine::model::TransactionFilter> {
    use psd2_fallback_engine::model::{BookingStatus, Direction, Recurrence, TransactionFilter};
    vec![
        TransactionFilter::default(),
        TransactionFilter {
            date_from: Some(date!(2026 - 09 - 01)),
            date_to: Some(date!(2026 - 09 - 30)),
            ..Default::default()
        },
        TransactionFilter {
            direction: Some(Direction::Credit),
            ..Default::default()
        },
        TransactionFilter {
            direction: Some(Direction::Debit),
            recurrence: Some(Recurrence::Recurring),
            ..Default::default()
        },
        TransactionFilter {
            recurrence: Some(Recurrence::OneOff),
            date_from: Some(date!(2026 - 10 - 01)),
            ..Default::default()
        },
        TransactionFilter {
            code: Some("PMNT-RCDT".to_owned()),
            ..Default::default()
        },
        TransactionFilter {
            status: Some(BookingStatus::Pending),
            ..Default::default()
        },
    ]
}

/// A file of the reference specifications in `../shared/spec/`.
pub fn spec_file(name: &str) -> String {
    let path = format!("{}/../shared/spec/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the reference specification {path} is needed: {e}"))
}

/// The password of a sandbox customer.
pub fn password(customer: &str) -> &'static str {
    CUSTOMERS
        .iter()
        .find(|c| c.number == customer)
        .expect("a sandbox customer")
        .password
}

/// A client of the sandbox API: every request carries a fresh `X-Request-ID`, and goes through a
/// [`conformance::Checker`] that fails the test when an exchange departs from the spec.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    /// `None` for [`Api::direct`].
    pub checker: Option<std::sync::Arc<conformance::Checker>>,
}

impl Api {
    pub fn new(sandbox: &Sandbox) -> Self {
        Self::with_timeout(sandbox, Duration::from_secs(10))
    }

    pub fn with_timeout(sandbox: &Sandbox, timeout: Duration) -> Self {
        let checker = conformance::Checker::sandbox(sandbox);
        Self {
            base: checker.url.clone(),
            checker: Some(std::sync::Arc::new(checker)),
            ..Self::direct(sandbox, timeout)
        }
    }

    /// A client straight to the sandbox's port, without a conformance checker in between: for tests
    /// of the sandbox's transport faults (a closed port is seen only without a proxy in front).
    pub fn direct(sandbox: &Sandbox, timeout: Duration) -> Self {
        Self {
            base: sandbox.api_url(),
            checker: None,
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("a client"),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::DELETE, path)
    }

    /// Signs a consent or payment resource (`base` is its path) the embedded way: password, challenge,
    /// the card reader's answer. Returns the final `scaStatus`.
    pub async fn sign(&self, base: &str, customer: &str) -> String {
        let start: Value = self
            .post(&format!("{base}/authorisations"))
            .header("PSU-ID", customer)
            .json(&json!({"psuData": {"password": password(customer)}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let challenge = start["challengeData"]["data"][0]
            .as_str()
            .expect("a challenge");
        let authorisation = start["authorisationId"]
            .as_str()
            .expect("an authorisation id");
        let done: Value = self
            .put(&format!("{base}/authorisations/{authorisation}"))
            .header("PSU-ID", customer)
            .json(&json!({"scaAuthenticationData": card_reader_response(customer, challenge)}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        done["scaStatus"].as_str().expect("a scaStatus").to_owned()
    }

    /// A valid consent on all of a customer's accounts.
    pub async fn consent(&self, customer: &str, frequency_per_day: u32) -> String {
        let created: Value = self
            .post("/v1/consents")
            .header("PSU-ID", customer)
            .json(&json!({
                "access": {"allPsd2": "allAccounts"},
                "recurringIndicator": true,
                "validUntil": "2027-02-01",
                "frequencyPerDay": frequency_per_day,
                "combinedServiceIndicator": false,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["consentId"]
            .as_str()
            .expect("a consent id")
            .to_owned();
        assert_eq!(
            self.sign(&format!("/v1/consents/{id}"), customer).await,
            "finalised"
        );
        id
    }
}

/// A small valid pain.001.001.03 file paying from `debtor` to each `(name, iban, amount)`.
pub fn pain001(debtor: &str, payments: &[(&str, &str, &str)], execution: &str) -> String {
    let sum: rust_decimal::Decimal = payments
        .iter()
        .map(|(_, _, a)| a.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    let mut out = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">
  <CstmrCdtTrfInitn>
    <GrpHdr><MsgId>MSG-{id}</MsgId><CreDtTm>2026-11-23T09:00:00</CreDtTm><NbOfTxs>{n}</NbOfTxs><CtrlSum>{sum}</CtrlSum><InitgPty><Nm>Test</Nm></InitgPty></GrpHdr>
    <PmtInf>
      <PmtInfId>BATCH-1</PmtInfId><PmtMtd>TRF</PmtMtd><NbOfTxs>{n}</NbOfTxs><CtrlSum>{sum}</CtrlSum>
      <PmtTpInf><SvcLvl><Cd>SEPA</Cd></SvcLvl></PmtTpInf>
      <ReqdExctnDt>{execution}</ReqdExctnDt>
      <Dbtr><Nm>Debtor</Nm></Dbtr>
      <DbtrAcct><Id><IBAN>{debtor}</IBAN></Id></DbtrAcct>
      <DbtrAgt><FinInstnId><BIC>GEBABEBB</BIC></FinInstnId></DbtrAgt>
      <ChrgBr>SLEV</ChrgBr>
"#,
        id = &uuid::Uuid::new_v4().simple().to_string()[..30],
        n = payments.len(),
    );
    for (i, (name, iban, amount)) in payments.iter().enumerate() {
        out.push_str(&format!(
            "      <CdtTrfTxInf><PmtId><EndToEndId>E2E-{i}-{e}</EndToEndId></PmtId><Amt><InstdAmt Ccy=\"EUR\">{amount}</InstdAmt></Amt><Cdtr><Nm>{name}</Nm></Cdtr><CdtrAcct><Id><IBAN>{iban}</IBAN></Id></CdtrAcct><RmtInf><Ustrd>Invoice {i}</Ustrd></RmtInf></CdtTrfTxInf>\n",
            e = &uuid::Uuid::new_v4().simple().to_string()[..8],
        ));
    }
    out.push_str("    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n");
    out
}
