//! r11: no secret leaves the service. The `serve` command runs as its own process at `RUST_LOG=trace`
//! over the sandbox bank, and two callers run every flow through it — consents and their SCA, reads,
//! payments, a standing order, a pain.001 file, cancellations, refused requests, an API outage served by
//! the website (a real Chromium) and a website whose layout changed (a trace bundle). Then every output
//! is searched: the service's log, every answer (status, headers, body), the journal and owner files,
//! the trace bundles and the repository's `snapshots/`.
//!
//! What must appear nowhere: the customers' passwords, the SCA answers, the callers', operator's and
//! admin's tokens. What must appear in no log, no refusal, no trace bundle and no snapshot: a full
//! consent id, a full IBAN or a customer number (PSU id). A caller's own successful answers carry its consent ids and IBANs (that is
//! what it asked for), and the journal and owner files are the records that must hold them to keep
//! the engine's promises (a payment in doubt is re-sent to its creditor's IBAN; a consent is looked up
//! by its id): those hold no secret.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use psd2_fallback_engine::api::ApiBank;
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentId, ConsentRequest, Currency, EndToEndId,
    ExecutionRule, Frequency, Iban, PaymentFile, PaymentProduct, PaymentRequest, ScaAnswer,
    ScaStatus, ScaTarget, StandingOrderRequest, TransactionFilter,
};
use psd2_fallback_engine::{Bank, PsuContext};
use psd2_fallback_sandbox::{ApiFault, Sandbox, WebsiteFault, card_reader_response};
use rust_decimal::dec;
use serde_json::json;
use time::Duration as Days;

use crate::support::child::{BIN, Running, TempDir, free_port, hash, wait_until_up};
use crate::support::conformance::Checker;
use crate::support::{TODAY, ibans, pain001, password, psu, sandbox};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";
const TOKEN_A: &str = "leak-test-token-of-the-budget-app";
const TOKEN_B: &str = "leak-test-token-of-the-accounting-tool";
const ADMIN: &str = "leak-test-token-of-the-admin";
const OPERATOR: &str = "leak-test-token-of-the-operator";

/// What must not leak, as the test learns it.
#[derive(Debug, Default)]
struct Secrets {
    /// Passwords, SCA answers and tokens: nowhere.
    secrets: Vec<(String, String)>,
    /// Consent ids and IBANs: in no log, refusal, trace bundle or snapshot.
    identifiers: Vec<(String, String)>,
}

impl Secrets {
    fn secret(&mut self, what: &str, value: &str) {
        self.secrets.push((what.to_owned(), value.to_owned()));
    }

    fn identifier(&mut self, what: &str, value: &str) {
        self.identifiers.push((what.to_owned(), value.to_owned()));
    }

    fn iban(&mut self, iban: &Iban) {
        let compact = iban.as_str().to_owned();
        // Also as printed in groups of four, as the website shows it.
        let grouped: Vec<String> = compact
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        self.identifier("an IBAN", &compact);
        self.identifier("an IBAN (grouped)", &grouped.join(" "));
    }

    /// Every secret (and, when `identifiers`, every consent id and IBAN) found in `text`.
    fn found_in(&self, text: &str, identifiers: bool) -> Vec<String> {
        let mut all: Vec<&(String, String)> = self.secrets.iter().collect();
        if identifiers {
            all.extend(&self.identifiers);
        }
        all.into_iter()
            .filter(|(_, value)| text.contains(value.as_str()))
            .map(|(what, value)| format!("{what} ({value})"))
            .collect()
    }
}

/// Signs through the service as the customer, noting the card reader's answer as a secret.
async fn sign(bank: &ApiBank, psu: &PsuContext, target: ScaTarget, secrets: &mut Secrets) {
    let challenge = bank
        .start_authorisation(psu, &target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    let answer = card_reader_response(psu.psu_id.as_str(), &challenge.data);
    secrets.secret("an SCA answer", &answer);
    let status = bank
        .authorise(
            psu,
            &target,
            &challenge.authorisation_id,
            &ScaAnswer::new(answer),
        )
        .await
        .unwrap();
    assert_eq!(status, ScaStatus::Finalised, "{target:?}");
}

fn payment(sandbox: &Sandbox, amount: rust_decimal::Decimal) -> PaymentRequest {
    PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: ibans(sandbox, ANNA)[0].clone(),
        creditor_name: "Luc Peeters".into(),
        creditor: ibans(sandbox, LUC)[0].clone(),
        amount: Amount::new(amount, Currency::from_code("EUR").unwrap()).unwrap(),
        remittance: Some("leak test".into()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// A consent on all of a customer's accounts, signed; its id noted.
async fn consented(
    bank: &ApiBank,
    sandbox: &Sandbox,
    customer: &str,
    secrets: &mut Secrets,
) -> PsuContext {
    let psu = psu(customer);
    let request = ConsentRequest {
        access: ConsentAccess::full(ibans(sandbox, customer)),
        recurring: true,
        valid_until: TODAY + Days::days(90),
        frequency_per_day: 4,
    };
    let consent = bank.create_consent(&psu, &request).await.unwrap();
    secrets.identifier("a consent id", consent.as_str());
    sign(bank, &psu, ScaTarget::Consent(consent.clone()), secrets).await;
    psu.with_consent(consent)
}

/// Every flow of the first caller, through the API channel or (in an outage) the website.
async fn every_flow(bank: &ApiBank, sandbox: &Sandbox, anna: &PsuContext, secrets: &mut Secrets) {
    let id = AccountId::new("acc-01");
    bank.accounts(anna).await.unwrap();
    bank.balances(anna, &id, None).await.unwrap();
    bank.transactions(anna, &id, &TransactionFilter::default())
        .await
        .unwrap();
    bank.consent_status(anna, anna.consent_id.as_ref().unwrap())
        .await
        .unwrap();

    let paid = bank
        .initiate_payment(anna, &payment(sandbox, dec!(2.50)))
        .await
        .unwrap();
    sign(
        bank,
        anna,
        ScaTarget::Payment(paid.payment.clone()),
        secrets,
    )
    .await;
    bank.payment_status(anna, &paid.payment).await.unwrap();

    let later = PaymentRequest {
        requested_execution_date: Some(TODAY + Days::days(7)),
        ..payment(sandbox, dec!(3.75))
    };
    let future = bank.initiate_payment(anna, &later).await.unwrap();
    sign(
        bank,
        anna,
        ScaTarget::Payment(future.payment.clone()),
        secrets,
    )
    .await;
    bank.cancel_payment(anna, &future.payment).await.unwrap();

    let order = StandingOrderRequest {
        payment: payment(sandbox, dec!(20.00)),
        start_date: TODAY + Days::days(7),
        end_date: None,
        frequency: Frequency::Monthly,
        day_of_execution: None,
        execution_rule: ExecutionRule::Following,
    };
    let created = bank.create_standing_order(anna, &order).await.unwrap();
    sign(
        bank,
        anna,
        ScaTarget::Payment(created.payment.clone()),
        secrets,
    )
    .await;
    bank.cancel_standing_order(anna, &created.payment)
        .await
        .unwrap();

    let xml = pain001(
        ibans(sandbox, ANNA)[0].as_str(),
        &[("Alpha", ibans(sandbox, LUC)[0].as_str(), "1.00")],
        "2026-11-23",
    );
    let file = PaymentFile::parse(&xml).unwrap();
    let uploaded = bank.upload_payment_file(anna, &file).await.unwrap();
    sign(
        bank,
        anna,
        ScaTarget::Payment(uploaded.payment.clone()),
        secrets,
    )
    .await;
    bank.payment_status(anna, &uploaded.payment).await.unwrap();

    bank.confirm_funds(
        anna,
        &ibans(sandbox, ANNA)[0],
        &Amount::new(dec!(5.00), Currency::from_code("EUR").unwrap()).unwrap(),
    )
    .await
    .unwrap();
}

/// Requests the service refuses, each of which names something it must not echo in full.
async fn refusals(url: &str, anna: &PsuContext, luc: &PsuContext, sandbox: &Sandbox) {
    let http = reqwest::Client::new();
    let consent_a = anna.consent_id.as_ref().unwrap().as_str();
    let consent_b = luc.consent_id.as_ref().unwrap().as_str();
    let anna_iban = ibans(sandbox, ANNA)[0].as_str().to_owned();
    let luc_iban = ibans(sandbox, LUC)[0].as_str().to_owned();
    let request = |method: reqwest::Method, path: &str, token: &str, consent: &str| {
        http.request(method, format!("{url}{path}"))
            .bearer_auth(token)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .header("PSU-ID", ANNA)
            .header("PSU-IP-Address", "192.0.2.7")
            .header("Consent-ID", consent)
    };
    let mut wrong_check_digit = anna_iban.clone().into_bytes();
    wrong_check_digit[3] = if wrong_check_digit[3] == b'9' {
        b'0'
    } else {
        wrong_check_digit[3] + 1
    };
    let wrong_check_digit = String::from_utf8(wrong_check_digit).unwrap();
    let sent = [
        // Another caller's consent: unknown to this caller.
        request(reqwest::Method::GET, "/v1/accounts", TOKEN_B, consent_a),
        request(
            reqwest::Method::GET,
            &format!("/v1/consents/{consent_a}/status"),
            TOKEN_B,
            consent_a,
        ),
        // A consent id that is nobody's.
        request(
            reqwest::Method::GET,
            "/v1/accounts",
            TOKEN_A,
            &format!("{consent_a}-not-this-one"),
        ),
        // An account outside the consent: another customer's IBAN.
        request(
            reqwest::Method::POST,
            "/v1/funds-confirmations",
            TOKEN_A,
            consent_a,
        )
        .json(&json!({
            "account": {"iban": luc_iban},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
        })),
        request(
            reqwest::Method::POST,
            "/v1/funds-confirmations",
            TOKEN_B,
            consent_b,
        )
        .json(&json!({
            "account": {"iban": anna_iban},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
        })),
        // An IBAN failing mod-97, a creditor IBAN the bank refuses, a debtor that is not hers.
        request(
            reqwest::Method::POST,
            "/v1/payments/sepa-credit-transfers",
            TOKEN_A,
            consent_a,
        )
        .json(&json!({
            "debtorAccount": {"iban": wrong_check_digit},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
            "creditorAccount": {"iban": luc_iban},
            "creditorName": "Luc",
        })),
        request(
            reqwest::Method::POST,
            "/v1/payments/sepa-credit-transfers",
            TOKEN_A,
            consent_a,
        )
        .json(&json!({
            "debtorAccount": {"iban": luc_iban},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
            "creditorAccount": {"iban": anna_iban},
            "creditorName": "Anna",
        })),
        // A password and an SCA answer on another caller's consent.
        request(
            reqwest::Method::POST,
            &format!("/v1/consents/{consent_a}/authorisations"),
            TOKEN_B,
            consent_a,
        )
        .json(&json!({"psuData": {"password": password(ANNA)}})),
        // A wrong token, a wrong admin token.
        request(reqwest::Method::GET, "/v1/accounts", ADMIN, consent_a),
    ];
    for request in sent {
        let answer = request.send().await.unwrap();
        assert!(
            answer.status().is_client_error(),
            "a refusal: {}",
            answer.status()
        );
    }
}

/// Every file under `dir` (recursively), as text.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

async fn wait_for_mode(http: &reqwest::Client, url: &str, mode: &str) {
    for _ in 0..400 {
        let health: serde_json::Value = http
            .get(format!("{url}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health.to_string().contains(&format!("\"mode\":\"{mode}\"")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bank never reached mode {mode}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_an_answer_a_file_or_a_trace_bundle() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let dir = TempDir::new("leak");
    let port = free_port();
    let journal = dir.0.join("journal.db");
    let traces = dir.0.join("traces");
    let config = dir.file(
        "psd2-fallback.toml",
        &format!(
            "listen = \"127.0.0.1:{port}\"\njournal = \"{}\"\nadmin_token_sha256 = \"{}\"\n\
             operator_token_sha256 = \"{}\"\n\n\
             [[banks]]\nname = \"sandbox\"\napi_base_url = \"{}\"\napi_timeout_ms = 5000\n\
             website_url = \"{}\"\nscreen_map = \"{}/selectors/sandbox.toml\"\n\
             sandbox_card_reader = true\ntrace_dir = \"{}\"\n\n\
             [banks.policy]\nconsecutive_failures = 2\ndwell_ms = 60000\n\n\
             [[callers]]\nname = \"budget-app\"\ntoken_sha256 = \"{}\"\n\n\
             [[callers]]\nname = \"accounting-tool\"\ntoken_sha256 = \"{}\"\n",
            journal.display(),
            hash(ADMIN),
            hash(OPERATOR),
            sandbox.api_url(),
            sandbox.web_url(),
            env!("CARGO_MANIFEST_DIR"),
            traces.display(),
            hash(TOKEN_A),
            hash(TOKEN_B),
        ),
    );
    // The command logs to its standard output; its standard error is searched too.
    let log = dir.0.join("service.log");
    let errors = dir.0.join("service.err");
    let mut child = Running(
        Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "trace")
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&errors).unwrap()))
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until_up(&http, &url, &mut child.0).await;

    let mut secrets = Secrets::default();
    for customer in [ANNA, LUC] {
        secrets.secret("a password", password(customer));
        secrets.identifier("a PSU id", customer);
        for iban in ibans(&sandbox, customer) {
            secrets.iban(&iban);
        }
    }
    for (what, token) in [
        ("a caller's token", TOKEN_A),
        ("a caller's token", TOKEN_B),
        ("the admin token", ADMIN),
        ("the operator token", OPERATOR),
    ] {
        secrets.secret(what, token);
    }

    // Every answer the callers get goes through a recording proxy (which also holds the service to
    // the Berlin Group specification).
    let answers = Checker::start(url.clone(), "/banks/sandbox", None);
    let bank_url = format!("{}/banks/sandbox", answers.url);
    // A first website call launches a browser and logs in: on a busy machine that takes a while.
    let client = |token: &str| {
        let mut config = psd2_fallback_engine::api::ApiBankConfig::new(bank_url.as_str());
        config.request_timeout = Duration::from_secs(60);
        config.bearer_token = Some(secrecy::SecretString::from(token.to_owned()));
        ApiBank::new(config).unwrap()
    };
    let caller_a = client(TOKEN_A);
    let caller_b = client(TOKEN_B);

    // Through the API.
    let anna = consented(&caller_a, &sandbox, ANNA, &mut secrets).await;
    let luc = consented(&caller_b, &sandbox, LUC, &mut secrets).await;
    every_flow(&caller_a, &sandbox, &anna, &mut secrets).await;
    caller_b.accounts(&luc).await.unwrap();
    refusals(&bank_url, &anna, &luc, &sandbox).await;

    // Through the website: the API's port closes; the reads move at once, the bank switches.
    sandbox.set_api_fault(ApiFault::Refuse);
    every_flow(&caller_a, &sandbox, &anna, &mut secrets).await;
    caller_b.accounts(&luc).await.unwrap();
    wait_for_mode(&http, &url, "fallback").await;
    refusals(&bank_url, &anna, &luc, &sandbox).await;
    // A consent made during the outage, on the website, and its SCA there.
    let anna_again = consented(&caller_a, &sandbox, ANNA, &mut secrets).await;
    caller_a.accounts(&anna_again).await.unwrap();

    // The website changes its layout: the read fails, and a trace bundle is written.
    sandbox.set_website_fault(WebsiteFault::LayoutV2);
    let failed = caller_a
        .balances(&anna, &AccountId::new("acc-01"), None)
        .await;
    assert!(failed.is_err(), "a changed screen is an error: {failed:?}");
    sandbox.set_website_fault(WebsiteFault::Up);
    sandbox.set_api_fault(ApiFault::Up);

    // The operator's routes, with the operator's token (not Berlin Group routes: past the checker).
    let mut operator_answers = Vec::new();
    for path in ["/metrics", "/health"] {
        let answer = http
            .get(format!("{url}{path}"))
            .bearer_auth(OPERATOR)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        operator_answers.push((path, answer.text().await.unwrap()));
    }
    let exit = child.terminate().await;
    assert!(exit.success(), "a clean stop: {exit}");

    // The outputs.
    let mut outputs: Vec<(String, String, bool)> = Vec::new();
    let log_text =
        std::fs::read_to_string(&log).unwrap() + &std::fs::read_to_string(&errors).unwrap();
    assert!(
        log_text.contains("TRACE"),
        "the service logged at trace level"
    );
    assert!(
        log_text.contains("fallback"),
        "the log holds the engine's switch to the website"
    );
    outputs.push(("the service's log".into(), log_text, true));
    for (path, text) in files_under(&dir.0) {
        let name = path.display().to_string();
        if path == log || path == errors || path == config {
            continue;
        }
        // The records the engine keeps its promises by hold consent ids and IBANs, never a secret.
        let record = name.contains("journal") || name.contains("owners");
        outputs.push((name, text, !record));
    }
    let bundles = files_under(&traces);
    assert!(
        !bundles.is_empty(),
        "the changed screen left a trace bundle in {}",
        traces.display()
    );
    for (path, text) in files_under(&PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/snapshots"
    ))) {
        outputs.push((path.display().to_string(), text, true));
    }
    let recorded = std::mem::take(&mut answers.record.lock().unwrap().answers);
    let refused = recorded.iter().filter(|(status, _)| *status >= 400).count();
    assert!(refused >= 10, "refusals were seen: {refused}");
    for (i, (status, text)) in recorded.into_iter().enumerate() {
        outputs.push((format!("answer {i} ({status})"), text, status >= 400));
    }

    for (path, text) in operator_answers {
        outputs.push((format!("the answer to {path}"), text, true));
    }

    let mut leaks = Vec::new();
    for (name, text, identifiers) in &outputs {
        for found in secrets.found_in(text, *identifiers) {
            leaks.push(format!("{name}: {found}"));
        }
    }
    eprintln!(
        "secret leak test: {} outputs ({} bytes of log) searched for {} secrets and {} identifiers",
        outputs.len(),
        outputs[0].1.len(),
        secrets.secrets.len(),
        secrets.identifiers.len()
    );
    assert!(leaks.is_empty(), "leaked:\n{}", leaks.join("\n"));
    drop(answers);
    sandbox.shutdown().await;
}

/// The consent id type is what the leak test notes: make sure the search would find one.
#[test]
fn the_search_finds_what_it_looks_for() {
    let mut secrets = Secrets::default();
    secrets.secret("a password", "anna-sandbox");
    secrets.identifier("a consent id", ConsentId::new("c-123").as_str());
    secrets.iban(&Iban::parse("BE68539007547034").unwrap());
    let text = "login with anna-sandbox for c-123 to BE68 5390 0754 7034";
    assert_eq!(secrets.found_in(text, false).len(), 1);
    assert_eq!(secrets.found_in(text, true).len(), 3);
}
