//! The outage drill through the egress (issue 14): the service, built from its configuration file, over a
//! sandbox bank that demands the TPP's certificates on both faces — its API over TLS wanting a QWAC
//! with the operation's role and every request signed with the QSeal, its website over TLS answering
//! only a client that presents the QWAC — and the website reached only through the bank's
//! `website_egress`, which first identifies the TPP to the bank's fallback interface with a call signed
//! with the QSeal (a session of a few seconds, opened again as it runs out). The API goes down; reads and a payment are served through the website; afterwards
//! the Art. 33(5) access log holds every request the website channel made, as many as the bank saw,
//! each with the switch event that justified the fallback, none for another host, no secret, no body.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::Bank;
use psd2_fallback_engine::api::ApiBank;
use psd2_fallback_engine::identity::test_pki::{TestPki, TppSpec};
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentRequest, ConsentStatus, Currency, EndToEndId,
    ExecutionRule, Frequency, PaymentFile, PaymentKind, PaymentProduct, PaymentRequest,
    PaymentStatus, ScaStatus, ScaTarget, StandingOrderRequest, TransactionFilter,
};
use psd2_fallback_sandbox::{
    ApiFault, CardReaderRelay, IDENTIFY_PATH, SESSION_HEADER, Sandbox, SandboxConfig, TppChecks,
};
use psd2_fallback_service::{ServiceConfig, serve};
use rust_decimal::dec;
use serde_json::Value;
use time::OffsetDateTime;

use crate::support::child::{TempDir, hash};
use crate::support::service::api_bank_waiting;
use crate::support::{TODAY, ibans, pain001, password, psu, sign};
use time::macros::date;

const TOKEN: &str = "drill-token-of-the-budget-app";
const ANNA: &str = "1000001";
const LUC: &str = "1000002";

async fn bank_health(http: &reqwest::Client, url: &str) -> Value {
    let health: Value = http
        .get(format!("{url}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["banks"][0].clone()
}

async fn wait_for_mode(http: &reqwest::Client, url: &str, mode: &str) {
    for _ in 0..400 {
        if bank_health(http, url).await["mode"] == mode {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bank never reached mode {mode}");
}

/// The service, from its configuration file, over a sandbox bank demanding the TPP's certificates on
/// both faces, its website reached only through the egress (a fallback-interface session of 2 s).
struct Drill {
    sandbox: Sandbox,
    _dir: TempDir,
    journal_path: std::path::PathBuf,
    website_host: String,
    url: String,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    probers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drill {
    async fn start(name: &str) -> Drill {
        let pki = TestPki::new("Test QTSP").unwrap();
        let (server_cert_pem, server_key_pem) = pki.server(&["localhost"]).unwrap();
        let sandbox = Sandbox::start_fallback_interface(
            SandboxConfig {
                today: Some(TODAY),
                settle_after: Duration::from_millis(200),
                ..SandboxConfig::default()
            },
            TppChecks {
                server_cert_pem,
                server_key_pem,
                client_ca_pem: pki.ca_pem(),
                require_signature: true,
            },
            Duration::from_secs(3),
        )
        .await
        .unwrap();
        let dir = TempDir::new(name);
        let qwac = dir.file("qwac.pem", &pki.tpp(&TppSpec::default()).unwrap());
        let qseal = dir.file(
            "qseal.pem",
            &pki.tpp(&TppSpec {
                rsa: true,
                ..TppSpec::default()
            })
            .unwrap(),
        );
        let ca = dir.file("ca.pem", &pki.ca_pem());
        let journal_path = dir.0.join("journal.db");
        let website_host = sandbox.web_url().trim_start_matches("https://").to_owned();
        let map = concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml");
        let text = format!(
            r#"listen = "127.0.0.1:0"
journal = "{journal}"

[[callers]]
name = "budget-app"
token_sha256 = "{token}"

[[banks]]
name = "sandbox"
api_base_url = "{api}"
api_timeout_ms = 10000
website_url = "{website}"
screen_map = "{map}"
sandbox_card_reader = true
spare_browser = false
active_browsers = 1
qwac = {{ file = "{qwac}" }}
qseal = {{ file = "{qseal}" }}
sign_requests = true
server_ca = "{ca}"

[banks.website_egress]
hosts = ["{website_host}"]
server_ca = "{ca}"
identify = {{ url = "{website}{identify}", session_field = "sessionId", session_header = "{header}", lifetime_secs = 2 }}

[banks.policy]
consecutive_failures = 2
dwell_ms = 300
probes_to_recover = 2
probe_interval_ms = 100
probe_jitter_ms = 20
probe_timeout_ms = 1000
"#,
            journal = journal_path.display(),
            token = hash(TOKEN),
            api = sandbox.api_url(),
            website = sandbox.web_url(),
            qwac = qwac.display(),
            qseal = qseal.display(),
            ca = ca.display(),
            identify = IDENTIFY_PATH,
            header = SESSION_HEADER,
        );
        let file = dir.file("psd2-fallback.toml", &text);
        let config = ServiceConfig::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let (state, probers) = config
            .build(Some(Arc::new(CardReaderRelay)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        Drill {
            sandbox,
            _dir: dir,
            journal_path,
            website_host,
            url,
            http: reqwest::Client::new(),
            stop,
            server,
            probers,
        }
    }

    /// The service's client, as an XS2A client (the budget app) sees it.
    fn client(&self) -> ApiBank {
        api_bank_waiting(
            &format!("{}/banks/sandbox", self.url),
            Some(TOKEN),
            Duration::from_secs(120),
        )
    }

    /// Stops the service; the journal is then complete.
    async fn stop(self) -> (Sandbox, SqliteJournal, String) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        for prober in self.probers {
            prober.abort();
        }
        let journal = SqliteJournal::open(&self.journal_path).unwrap();
        (self.sandbox, journal, self.website_host)
    }
}

/// The switches to the fallback since `since` (the drill expects exactly one) and the day's access log
/// split into the egress's rows (`website …`) and the failover's; checks that every egress row is
/// justified by that switch, names the bank's host only, was not refused and holds no secret.
fn access_log_of_the_outage(
    journal: &SqliteJournal,
    since: OffsetDateTime,
    website_host: &str,
    customers: &[&str],
) -> (
    i64,
    Vec<psd2_fallback_engine::journal::AccessEntry>,
    Vec<psd2_fallback_engine::journal::AccessEntry>,
) {
    let switches = journal
        .switches("sandbox", since, OffsetDateTime::now_utc())
        .unwrap();
    let to_fallback: Vec<i64> = switches
        .iter()
        .filter(|s| s.to.name() == "fallback")
        .map(|s| s.id)
        .collect();
    assert_eq!(to_fallback.len(), 1, "{switches:?}");
    let (website, served): (Vec<_>, Vec<_>) = journal
        .access_log(OffsetDateTime::now_utc().date())
        .unwrap()
        .into_iter()
        .partition(|e| e.data.starts_with("website "));
    for entry in &website {
        assert_eq!(entry.switch_event, Some(to_fallback[0]), "{entry:?}");
        assert_eq!(entry.bank, "sandbox");
        assert!(
            entry.data.contains(&format!(" {website_host}/")),
            "the bank's host only: {entry:?}"
        );
        assert!(!entry.data.contains(" 403 "), "nothing refused: {entry:?}");
        assert!(!entry.data.contains(" 502 "), "nothing failed: {entry:?}");
        for secret in ["?", "PRIVATE", "scaAuthenticationData", "BEGIN"] {
            assert!(!entry.data.contains(secret), "{secret:?} in {entry:?}");
        }
        for customer in customers {
            let secret = password(customer);
            assert!(!entry.data.contains(secret), "a password in {entry:?}");
        }
    }
    (to_fallback[0], website, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_drill_through_the_egress_logs_every_website_request_with_its_switch() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let drill = Drill::start("egress-drill").await;
    let (sandbox, url, http) = (&drill.sandbox, drill.url.clone(), drill.http.clone());
    // The certificates, as operators see them: whose, which roles, expiring when; no secret.
    let bank = bank_health(&http, &url).await;
    let certificates = bank["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 2, "{bank}");
    for (certificate, kind) in certificates.iter().zip(["qwac", "qseal"]) {
        assert_eq!(certificate["certificate"], kind);
        assert_eq!(
            certificate["organizationIdentifier"],
            "PSDBE-NBB-0123456789"
        );
        assert_eq!(certificate["ncaId"], "BE-NBB");
        assert_eq!(
            certificate["roles"],
            serde_json::json!(["PSP_AI", "PSP_PI", "PSP_IC"])
        );
        assert!(
            certificate["daysLeft"].as_i64().unwrap() >= 364,
            "{certificate}"
        );
        assert_eq!(certificate["expiring"], false);
    }
    assert!(!bank.to_string().contains("PRIVATE"), "{bank}");

    // Before the outage: a consent made and signed through the API (mutual TLS, signed requests).
    let client = drill.client();
    let present = psu(ANNA);
    let consent = client
        .create_consent(
            &present,
            &ConsentRequest {
                access: ConsentAccess::full(ibans(sandbox, ANNA)),
                recurring: true,
                valid_until: TODAY + time::Duration::days(90),
                frequency_per_day: 4,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        sign(&client, &present, &ScaTarget::Consent(consent.clone())).await,
        ScaStatus::Finalised
    );
    let anna = present.with_consent(consent);
    let id = AccountId::new("acc-01");
    let before = client.balances(&anna, &id, None).await.unwrap();
    assert_eq!(
        sandbox.identified_website_requests(),
        0,
        "the website is not used while the API answers"
    );

    // The outage: probes see it and the bank switches before any call needs the website.
    let outage_began = OffsetDateTime::now_utc();
    sandbox.set_api_fault(ApiFault::Down);
    wait_for_mode(&http, &url, "fallback").await;
    assert_eq!(client.balances(&anna, &id, None).await.unwrap(), before);
    assert_eq!(client.accounts(&anna).await.unwrap().len(), 2);
    let paid = client
        .initiate_payment(
            &anna,
            &PaymentRequest {
                product: PaymentProduct::SepaCreditTransfer,
                debtor: ibans(sandbox, ANNA)[0].clone(),
                creditor_name: "Luc Peeters".into(),
                creditor: ibans(sandbox, LUC)[0].clone(),
                amount: Amount::new(dec!(4.20), Currency::from_code("EUR").unwrap()).unwrap(),
                remittance: Some("egress drill".into()),
                requested_execution_date: None,
                end_to_end_id: EndToEndId::generate(),
            },
        )
        .await
        .unwrap();
    sign(&client, &anna, &ScaTarget::Payment(paid.payment.clone())).await;
    let seen_by_bank = sandbox.identified_website_requests();
    assert!(seen_by_bank > 0, "the website served the outage");

    // The API comes back; the website is left alone again.
    sandbox.set_api_fault(ApiFault::Up);
    wait_for_mode(&http, &url, "api").await;
    client.balances(&anna, &id, None).await.unwrap();
    assert_eq!(sandbox.identified_website_requests(), seen_by_bank);
    let (sandbox, journal, website_host) = drill.stop().await;

    // The access log: the egress's rows (`website …`) are every request the bank saw, each justified by
    // the switch that began the outage; the failover's rows name the customer and the data.
    let (switch, website, served) =
        access_log_of_the_outage(&journal, outage_began, &website_host, &[ANNA]);
    assert_eq!(
        website.len() as u64,
        seen_by_bank,
        "one row per request the bank saw: {website:#?}"
    );
    assert!(
        website
            .iter()
            .any(|e| e.data.starts_with("website POST ") && !e.data.contains(IDENTIFY_PATH)),
        "the login and the payment were posted: {website:#?}"
    );
    let identified = website
        .iter()
        .filter(|e| {
            e.data
                .starts_with(&format!("website POST {website_host}{IDENTIFY_PATH} 201 "))
        })
        .count();
    assert!(
        identified >= 1 && website[0].data.contains(IDENTIFY_PATH),
        "the TPP identified itself before the first page: {website:#?}"
    );
    assert!(
        served
            .iter()
            .all(|e| e.psu == ANNA && e.switch_event == Some(switch)),
        "{served:#?}"
    );
    println!(
        "egress drill: {} website requests during the outage ({identified} identification calls), all logged with switch {}",
        website.len(),
        switch
    );
    sandbox.shutdown().await;
}

fn eur(value: rust_decimal::Decimal) -> Amount {
    Amount::new(value, Currency::from_code("EUR").unwrap()).unwrap()
}

fn transfer(
    sandbox: &Sandbox,
    from: &str,
    to: &str,
    amount: rust_decimal::Decimal,
    on: Option<time::Date>,
) -> PaymentRequest {
    PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: ibans(sandbox, from)[0].clone(),
        creditor_name: "Drill Creditor".into(),
        creditor: ibans(sandbox, to)[0].clone(),
        amount: eur(amount),
        remittance: Some("egress drill".into()),
        requested_execution_date: on,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// Every operation the website channel serves, by one customer through the service as an XS2A client
/// makes it, while the API is down: a consent, its SCA and its status, accounts, balances now and at an earlier
/// day, every page of transactions and a month of them, a payment, a standing order and a pain.001
/// file each signed, a future-dated payment signed then cancelled, the standing order cancelled, and
/// two funds confirmations.
async fn every_operation(client: &ApiBank, sandbox: &Sandbox, customer: &str, other: &str) {
    let present = psu(customer);
    let consent = client
        .create_consent(
            &present,
            &ConsentRequest {
                access: ConsentAccess::full(ibans(sandbox, customer)),
                recurring: true,
                valid_until: TODAY + time::Duration::days(90),
                frequency_per_day: 4,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        sign(client, &present, &ScaTarget::Consent(consent.clone())).await,
        ScaStatus::Finalised,
        "{customer}: consent"
    );
    assert_eq!(
        client.consent_status(&present, &consent).await.unwrap(),
        ConsentStatus::Valid,
        "{customer}: consent status"
    );
    let psu = present.with_consent(consent);
    let accounts = client.accounts(&psu).await.unwrap();
    assert_eq!(accounts.len(), ibans(sandbox, customer).len(), "{customer}");
    let id = accounts[0].id.clone();
    assert!(!client.balances(&psu, &id, None).await.unwrap().is_empty());
    assert!(
        !client
            .balances(&psu, &id, Some(date!(2026 - 06 - 30)))
            .await
            .unwrap()
            .is_empty()
    );
    let all = client
        .transactions(&psu, &id, &TransactionFilter::default())
        .await
        .unwrap();
    let in_ledger = sandbox
        .ledger()
        .transactions(customer, &id, &TransactionFilter::default())
        .unwrap()
        .len();
    // The other customer's transfers may land meanwhile; none leaves.
    assert!(
        all.len() + 4 >= in_ledger && all.len() <= in_ledger,
        "{customer}: every page read ({} of {in_ledger})",
        all.len()
    );
    let september = client
        .transactions(
            &psu,
            &id,
            &TransactionFilter {
                date_from: Some(date!(2026 - 09 - 01)),
                date_to: Some(date!(2026 - 09 - 30)),
                ..TransactionFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(september.len() < all.len(), "{customer}");

    // A payment, signed.
    let paid = client
        .initiate_payment(&psu, &transfer(sandbox, customer, other, dec!(4.20), None))
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentStatus::Received);
    assert_eq!(
        sign(client, &psu, &ScaTarget::Payment(paid.payment.clone())).await,
        ScaStatus::Finalised,
        "{customer}: payment"
    );
    assert_ne!(
        client.payment_status(&psu, &paid.payment).await.unwrap(),
        PaymentStatus::Rejected
    );

    // A future-dated payment, signed then cancelled.
    let later = client
        .initiate_payment(
            &psu,
            &transfer(
                sandbox,
                customer,
                other,
                dec!(7.00),
                Some(TODAY + time::Duration::days(10)),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        sign(client, &psu, &ScaTarget::Payment(later.payment.clone())).await,
        ScaStatus::Finalised,
        "{customer}: future payment"
    );
    assert_eq!(
        client
            .cancel_payment(&psu, &later.payment)
            .await
            .unwrap()
            .status,
        PaymentStatus::Cancelled
    );

    // A standing order, signed then cancelled.
    let order = client
        .create_standing_order(
            &psu,
            &StandingOrderRequest {
                payment: transfer(sandbox, customer, other, dec!(25.00), None),
                start_date: TODAY + time::Duration::days(7),
                end_date: None,
                frequency: Frequency::Monthly,
                day_of_execution: None,
                execution_rule: ExecutionRule::Following,
            },
        )
        .await
        .unwrap();
    assert!(matches!(order.payment.kind, PaymentKind::Periodic(_)));
    assert_eq!(
        sign(client, &psu, &ScaTarget::Payment(order.payment.clone())).await,
        ScaStatus::Finalised,
        "{customer}: standing order"
    );
    assert_eq!(
        client
            .cancel_standing_order(&psu, &order.payment)
            .await
            .unwrap()
            .status,
        PaymentStatus::Cancelled
    );

    // A pain.001 file, signed.
    let creditor = ibans(sandbox, other)[0].clone();
    let xml = pain001(
        ibans(sandbox, customer)[0].as_str(),
        &[
            ("Alpha", creditor.as_str(), "3.00"),
            ("Beta", creditor.as_str(), "4.00"),
        ],
        "2026-11-24",
    );
    let file = PaymentFile::parse(&xml).unwrap();
    let uploaded = client.upload_payment_file(&psu, &file).await.unwrap();
    assert_eq!(uploaded.payment.kind, PaymentKind::File);
    assert_eq!(
        sign(client, &psu, &ScaTarget::Payment(uploaded.payment.clone())).await,
        ScaStatus::Finalised,
        "{customer}: file"
    );

    // Funds confirmation.
    let iban = ibans(sandbox, customer)[0].clone();
    assert!(
        client
            .confirm_funds(&psu, &iban, &eur(dec!(1.00)))
            .await
            .unwrap()
            .funds_available
    );
    assert!(
        !client
            .confirm_funds(&psu, &iban, &eur(dec!(99999999.00)))
            .await
            .unwrap()
            .funds_available
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_website_operation_of_two_customers_goes_through_the_egress_and_is_logged() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let drill = Drill::start("egress-every-operation").await;
    let client = drill.client();
    let sandbox = &drill.sandbox;

    // The API is down from the start: even the consents are made and signed on the website.
    let outage_began = OffsetDateTime::now_utc();
    sandbox.set_api_fault(ApiFault::Down);
    wait_for_mode(&drill.http, &drill.url, "fallback").await;
    let made_before = [ANNA, LUC].map(|c| sandbox.ledger().payments(c).len());
    let started = std::time::Instant::now();
    tokio::join!(
        every_operation(&client, sandbox, ANNA, LUC),
        every_operation(&client, sandbox, LUC, ANNA),
    );
    let took = started.elapsed();
    // Each customer's payment, future payment, standing order and file reached the bank once.
    for (customer, before) in [ANNA, LUC].into_iter().zip(made_before) {
        assert_eq!(
            sandbox.ledger().payments(customer).len(),
            before + 4,
            "{customer}"
        );
    }
    let seen_by_bank = sandbox.identified_website_requests();
    let (sandbox, journal, website_host) = drill.stop().await;

    let (switch, website, served) =
        access_log_of_the_outage(&journal, outage_began, &website_host, &[ANNA, LUC]);
    assert_eq!(
        website.len() as u64,
        seen_by_bank,
        "one row per request the bank saw: {website:#?}"
    );
    assert!(
        website
            .iter()
            .any(|e| e.data.contains(IDENTIFY_PATH) && e.data.contains(" 201 ")),
        "{website:#?}"
    );
    // The failover's rows: every kind of operation, for each customer, with the same switch.
    for customer in [ANNA, LUC] {
        let kinds = |kind: &str| {
            served
                .iter()
                .filter(|e| e.psu == customer && e.data.split(' ').next() == Some(kind))
                .count()
        };
        for (kind, at_least) in [
            ("consent", 1),
            ("accounts", 1),
            ("balances", 1),
            ("balance", 1),
            ("transactions", 2),
            ("write", 4),
            ("sign", 4),
            ("cancel", 2),
            ("funds", 2),
        ] {
            assert!(
                kinds(kind) >= at_least,
                "{customer}: {kind} x{at_least}: {served:#?}"
            );
        }
    }
    assert!(
        served.iter().all(|e| e.switch_event == Some(switch)),
        "{served:#?}"
    );
    // The website's redirects after each form went back to the browser, and it followed them.
    assert!(
        website.iter().any(|e| e.data.contains(" 303 ")),
        "{website:#?}"
    );
    println!(
        "egress drill, every operation of two customers: {} website requests in {:.1} s, all logged with switch {switch}",
        website.len(),
        took.as_secs_f64()
    );
    sandbox.shutdown().await;
}
