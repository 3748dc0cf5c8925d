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
use psd2_fallback_engine::identity::test_pki::{TestPki, TppSpec};
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentRequest, Currency, EndToEndId, PaymentProduct,
    PaymentRequest, ScaStatus, ScaTarget,
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
use crate::support::{TODAY, ibans, password, psu, sign};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_drill_through_the_egress_logs_every_website_request_with_its_switch() {
    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
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
    let dir = TempDir::new("egress-drill");
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
    let http = reqwest::Client::new();

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
    let client = api_bank_waiting(
        &format!("{url}/banks/sandbox"),
        Some(TOKEN),
        Duration::from_secs(120),
    );
    let present = psu(ANNA);
    let consent = client
        .create_consent(
            &present,
            &ConsentRequest {
                access: ConsentAccess::full(ibans(&sandbox, ANNA)),
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
                debtor: ibans(&sandbox, ANNA)[0].clone(),
                creditor_name: "Luc Peeters".into(),
                creditor: ibans(&sandbox, LUC)[0].clone(),
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
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    for prober in probers {
        prober.abort();
    }

    // The access log: the egress's rows (`website …`) are every request the bank saw, each justified by
    // the switch that began the outage; the failover's rows name the customer and the data.
    let journal = SqliteJournal::open(&journal_path).unwrap();
    let switches = journal
        .switches("sandbox", outage_began, OffsetDateTime::now_utc())
        .unwrap();
    let to_fallback: Vec<i64> = switches
        .iter()
        .filter(|s| s.to.name() == "fallback")
        .map(|s| s.id)
        .collect();
    assert_eq!(to_fallback.len(), 1, "{switches:?}");
    let log = journal
        .access_log(OffsetDateTime::now_utc().date())
        .unwrap();
    let website: Vec<_> = log
        .iter()
        .filter(|e| e.data.starts_with("website "))
        .collect();
    assert_eq!(
        website.len() as u64,
        seen_by_bank,
        "one row per request the bank saw: {website:#?}"
    );
    for entry in &website {
        assert_eq!(entry.switch_event, Some(to_fallback[0]), "{entry:?}");
        assert_eq!(entry.bank, "sandbox");
        assert!(
            entry.data.contains(&format!(" {website_host}/")),
            "the bank's host only: {entry:?}"
        );
        assert!(!entry.data.contains(" 403 "), "nothing refused: {entry:?}");
        for secret in [password(ANNA), "?", "PRIVATE", "scaAuthenticationData"] {
            assert!(!entry.data.contains(secret), "{secret:?} in {entry:?}");
        }
    }
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
    let served: Vec<_> = log
        .iter()
        .filter(|e| !e.data.starts_with("website "))
        .collect();
    assert!(
        served
            .iter()
            .all(|e| e.psu == ANNA && e.switch_event == Some(to_fallback[0])),
        "{served:#?}"
    );
    println!(
        "egress drill: {} website requests during the outage ({identified} identification calls), all logged with switch {}",
        website.len(),
        to_fallback[0]
    );
    sandbox.shutdown().await;
}
