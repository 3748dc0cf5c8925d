//! The website channel's egress with a real Chromium behind it: pages of the bank load through the
//! proxy, a third-party host is refused, `https` is intercepted with this run's key (trusted by that
//! browser alone) and reaches the bank presenting the TPP's QWAC, and every request is in the Art.
//! 33(5) access log with the justifying switch event.

use std::sync::Arc;

use psd2_fallback_engine::egress::{Egress, EgressConfig};
use psd2_fallback_engine::identity::TppCertificate;
use psd2_fallback_engine::identity::test_pki::{TestPki, TppSpec};
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_sandbox::{Sandbox, SandboxConfig, TppChecks};

use crate::support::browser::Browser;
use crate::support::sandbox;

/// A temporary folder for a journal, removed afterwards.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("psd2-fallback-egress-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn host_port(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn pages_load_through_the_egress_third_parties_are_refused_and_every_request_is_logged() {
    let bank = sandbox().await;
    let scratch = Scratch::new();
    let journal: Arc<SqliteJournal> =
        Arc::new(SqliteJournal::open(&scratch.0.join("journal.sqlite")).unwrap());
    let egress = Egress::start(EgressConfig {
        bank: "sandbox".to_owned(),
        allowed_hosts: vec![host_port(&bank.web_url())],
        identification_headers: vec![("TPP-ID".to_owned(), "PSDBE-NBB-0123456789".to_owned())],
        journal: Some(journal.clone()),
        ..EgressConfig::default()
    })
    .await
    .unwrap();
    egress.set_justification(Some(42));
    let Some(browser) = Browser::start_with_args(&egress.chromium_args()).await else {
        return;
    };
    browser.goto(&bank.web_url()).await;
    let page = browser.source().await;
    assert!(
        page.contains("<form"),
        "the bank's login page loads: {page}"
    );

    // A third party: another loopback address and port the page could point at.
    let outsider = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let outsider_url = format!("http://{}/track.gif", outsider.local_addr().unwrap());
    browser.goto(&outsider_url).await;
    let refused = browser.source().await;
    assert!(
        refused.contains("host outside the bank's list"),
        "{refused}"
    );
    browser.close().await;

    let records = egress.records();
    let bank_host = host_port(&bank.web_url());
    assert!(
        records
            .iter()
            .any(|r| r.method == "GET" && r.host == bank_host && r.status == 200 && r.bytes > 0),
        "{records:?}"
    );
    assert!(
        records.iter().all(|r| r.switch_event == Some(42)),
        "{records:?}"
    );
    let outsider_host = host_port(&outsider_url);
    assert!(
        records
            .iter()
            .any(|r| r.host == outsider_host && r.status == 403 && r.path == "/track.gif"),
        "{records:?}"
    );
    let log = journal
        .access_log(time::OffsetDateTime::now_utc().date())
        .unwrap();
    assert_eq!(log.len(), records.len(), "{log:?}");
    for entry in &log {
        assert_eq!(entry.bank, "sandbox");
        assert_eq!(entry.switch_event, Some(42));
        assert!(entry.data.starts_with("website "), "{}", entry.data);
        assert!(!entry.data.contains('?'), "no query string: {}", entry.data);
    }
    bank.shutdown().await;
}

/// Over `https`, the browser trusts only this run's egress key, and the bank sees the TPP's QWAC.
#[tokio::test]
async fn https_goes_through_the_egress_presenting_the_qwac() {
    let pki = TestPki::new("Test QTSP").unwrap();
    let (server_cert_pem, server_key_pem) = pki.server(&["localhost"]).unwrap();
    let bank = Sandbox::start_identified(
        SandboxConfig::default(),
        TppChecks {
            server_cert_pem,
            server_key_pem,
            client_ca_pem: pki.ca_pem(),
            require_signature: false,
        },
    )
    .await
    .unwrap();
    let api_host = host_port(&bank.api_url());
    let qwac = TppCertificate::from_pem(
        "qwac.pem",
        pki.tpp(&TppSpec::default()).unwrap().into_bytes(),
    )
    .unwrap();
    let config = |qwac: Option<TppCertificate>| EgressConfig {
        bank: "sandbox".to_owned(),
        allowed_hosts: vec![api_host.clone()],
        qwac,
        server_roots_pem: Some(pki.ca_pem().into_bytes()),
        ..EgressConfig::default()
    };
    let url = format!("{}/v1/accounts", bank.api_url());
    let mut seen = Vec::new();
    for qwac in [Some(qwac), None] {
        let egress = Egress::start(config(qwac)).await.unwrap();
        let Some(browser) = Browser::start_with_args(&egress.chromium_args()).await else {
            return;
        };
        browser.goto(&url).await;
        seen.push(browser.source().await);
        browser.close().await;
        let records = egress.records();
        assert!(
            records
                .iter()
                .any(|r| r.host == api_host && r.path == "/v1/accounts"),
            "{records:?}"
        );
    }
    // With the QWAC the bank looks past the certificate (to the missing request id); without it,
    // the bank answers that no certificate was presented.
    assert!(!seen[0].contains("CERTIFICATE_MISSING"), "{}", seen[0]);
    assert!(seen[0].contains("tppMessages"), "{}", seen[0]);
    assert!(seen[1].contains("CERTIFICATE_MISSING"), "{}", seen[1]);
    bank.shutdown().await;
}

/// The website channel itself behind the egress: its browser reaches the bank through the proxy
/// alone — every request the customer's reads made is in the egress's records and the access log,
/// for the bank's host only — and no read goes around it over plain HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_website_channel_reaches_the_bank_only_through_its_egress() {
    use psd2_fallback_engine::Bank;
    use psd2_fallback_engine::model::AccountId;
    use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};

    let Some(_permit) = crate::support::browser::permit().await else {
        return;
    };
    let bank = sandbox().await;
    let scratch = Scratch::new();
    let journal: Arc<SqliteJournal> =
        Arc::new(SqliteJournal::open(&scratch.0.join("journal.sqlite")).unwrap());
    let bank_host = host_port(&bank.web_url());
    let egress = Egress::start(EgressConfig {
        bank: "sandbox".to_owned(),
        allowed_hosts: vec![bank_host.clone()],
        journal: Some(journal.clone()),
        ..EgressConfig::default()
    })
    .await
    .unwrap();
    egress.set_justification(Some(7));
    let site = crate::support::sites::FIRST_V1;
    let mut config = ScreenBankConfig::new(site.map_path(), site.base(&bank));
    config.spare = false;
    config.max_active = 1;
    config.pacing_per_second = 200;
    config.proxy = Some(egress.browser_proxy());
    let screen = ScreenBank::new(
        config,
        Some(Arc::new(psd2_fallback_sandbox::CardReaderRelay)),
    )
    .await
    .expect("the screen channel starts behind its egress");

    let anna = crate::support::psu("1000001");
    let mut shown: Vec<String> = screen
        .accounts(&anna)
        .await
        .expect("accounts through the egress")
        .into_iter()
        .map(|a| a.iban.as_str().to_owned())
        .collect();
    let mut held: Vec<String> = (bank.ledger().accounts("1000001").into_iter())
        .map(|a| a.iban.as_str().to_owned())
        .collect();
    shown.sort();
    held.sort();
    assert_eq!(shown, held);
    assert!(
        !screen
            .balances(&anna, &AccountId::new("acc-01"), None)
            .await
            .expect("balances through the egress")
            .is_empty()
    );
    screen.close().await;

    let records = egress.records();
    assert!(
        records.iter().any(|r| r.method == "POST"),
        "the login went through the egress: {records:?}"
    );
    assert!(
        records.iter().filter(|r| r.method == "GET").count() >= 3,
        "the pages went through the egress: {records:?}"
    );
    assert!(
        records
            .iter()
            .all(|r| r.host == bank_host && r.switch_event == Some(7)),
        "only the bank, each request justified: {records:?}"
    );
    assert_eq!(
        screen.http_reads().served,
        0,
        "no read went around the egress over plain HTTP"
    );
    let log = journal
        .access_log(time::OffsetDateTime::now_utc().date())
        .unwrap();
    assert_eq!(log.len(), records.len(), "{log:?}");
    bank.shutdown().await;
}
