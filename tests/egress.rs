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

/// The sandbox's fallback interface, as a bank that publishes one: its website answers only the TPP's
/// QWAC, and only within a session a call signed with the TPP's QSeal opened; the egress makes that
/// call itself, before the first request and again when the session has run out or the bank ended it
/// early (a `401` page: identified again once, the request retried), and every call is in its records.
#[tokio::test]
async fn the_fallback_interface_wants_a_signed_identification_made_again_when_it_ends() {
    use psd2_fallback_engine::egress::Identification;
    use psd2_fallback_engine::identity::RequestSigner;
    use psd2_fallback_sandbox::{IDENTIFY_PATH, SESSION_HEADER};

    let pki = TestPki::new("Test QTSP").unwrap();
    let (server_cert_pem, server_key_pem) = pki.server(&["localhost"]).unwrap();
    let bank = Sandbox::start_fallback_interface(
        SandboxConfig::default(),
        TppChecks {
            server_cert_pem,
            server_key_pem,
            client_ca_pem: pki.ca_pem(),
            require_signature: true,
        },
        std::time::Duration::from_secs(2),
    )
    .await
    .unwrap();
    let qwac_pem = pki.tpp(&TppSpec::default()).unwrap();
    let qseal = TppCertificate::from_pem("qseal.pem", qwac_pem.clone().into_bytes()).unwrap();
    let stranger = TppCertificate::from_pem(
        "stranger.pem",
        pki.tpp(&TppSpec {
            organization_identifier: Some("PSDBE-NBB-9999999999".to_owned()),
            ..TppSpec::default()
        })
        .unwrap()
        .into_bytes(),
    )
    .unwrap();
    let roots = || reqwest::Certificate::from_pem_bundle(pki.ca_pem().as_bytes()).unwrap();
    let with_qwac = reqwest::Client::builder()
        .no_proxy()
        .identity(reqwest::Identity::from_pem(qwac_pem.as_bytes()).unwrap())
        .tls_certs_only(roots())
        .build()
        .unwrap();
    let anonymous = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(roots())
        .build()
        .unwrap();
    let site = bank.web_url();
    let identify = format!("{site}{IDENTIFY_PATH}");
    let call = |signer: Option<&TppCertificate>| {
        let mut request = with_qwac
            .post(&identify)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .body("{}")
            .build()
            .unwrap();
        if let Some(qseal) = signer {
            RequestSigner::new(qseal.clone())
                .unwrap()
                .sign_reqwest(&mut request)
                .unwrap();
        }
        with_qwac.execute(request)
    };

    // Without the QWAC, a 403 page; with it but no session, a 401 page; the admin routes stay open.
    let page = anonymous.get(&site).send().await.unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("QWAC"));
    let page = with_qwac.get(&site).send().await.unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.text().await.unwrap().contains("identify first"));
    let clock = anonymous
        .get(format!("{site}/_sandbox/clock"))
        .send()
        .await
        .unwrap();
    assert_eq!(clock.status(), 200);
    // An unsigned call, and one signed by another TPP's QSeal, open nothing.
    for (signer, code) in [
        (None, "SIGNATURE_MISSING"),
        (Some(&stranger), "CERTIFICATE_INVALID"),
    ] {
        let refused = call(signer).await.unwrap();
        assert_eq!(refused.status(), 401);
        assert!(refused.text().await.unwrap().contains(code));
    }
    // Signed with the TPP's own QSeal: a session, and the website with it.
    let opened: serde_json::Value = call(Some(&qseal)).await.unwrap().json().await.unwrap();
    let session = opened["sessionId"].as_str().unwrap();
    let page = with_qwac
        .get(&site)
        .header(SESSION_HEADER, session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    // Through the egress: it identifies itself first, carries the session, and again once it ran out.
    let host = host_port(&site);
    let login = format!("{site}/login");
    let config = |identification: Option<Identification>| EgressConfig {
        bank: "sandbox".to_owned(),
        allowed_hosts: vec![host.clone()],
        qwac: Some(TppCertificate::from_pem("qwac.pem", qwac_pem.clone().into_bytes()).unwrap()),
        server_roots_pem: Some(pki.ca_pem().into_bytes()),
        identification,
        ..EgressConfig::default()
    };
    let identification = identification_of(&identify, &qseal);
    let post = |status| ("POST".to_owned(), IDENTIFY_PATH.to_owned(), status);
    let get = |status| ("GET".to_owned(), "/login".to_owned(), status);
    let cases = [
        // Without the identification, the bank's 401 page, three times.
        (None, vec![get(401), get(401), get(401)]),
        // With it: identified once, then again after the session's lifetime.
        (
            Some(identification),
            vec![post(201), get(200), get(200), post(201), get(200)],
        ),
    ];
    for (identification, expected) in cases {
        let egress = Egress::start(config(identification)).await.unwrap();
        let through = reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(format!("http://{}", egress.addr())).unwrap())
            .tls_certs_only(
                reqwest::Certificate::from_pem_bundle(egress.ca_pem().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        for pause in [0, 0, 1600] {
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            through.get(&login).send().await.unwrap();
        }
        let records: Vec<(String, String, u16)> = egress
            .records()
            .into_iter()
            .map(|r| (r.method, r.path, r.status))
            .collect();
        assert_eq!(records, expected);
    }

    // The bank ends the session early: the egress's request gets the 401 page, it identifies itself
    // again once and retries; the browser sees the page. Two browsers' requests at once after the
    // end open one new session between them at most per refused request, and all end in 200.
    let egress = Egress::start(config(Some(Identification {
        lifetime: std::time::Duration::from_secs(60),
        ..identification_of(&identify, &qseal)
    })))
    .await
    .unwrap();
    let through = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", egress.addr())).unwrap())
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(egress.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    assert_eq!(through.get(&login).send().await.unwrap().status(), 200);
    bank.end_tpp_sessions();
    assert_eq!(through.get(&login).send().await.unwrap().status(), 200);
    let records: Vec<(String, String, u16)> = egress
        .records()
        .into_iter()
        .map(|r| (r.method, r.path, r.status))
        .collect();
    assert_eq!(
        records,
        vec![post(201), get(200), get(401), post(201), get(200)]
    );
    bank.end_tpp_sessions();
    let (a, b) = tokio::join!(through.get(&login).send(), through.get(&login).send());
    assert_eq!(a.unwrap().status(), 200);
    assert_eq!(b.unwrap().status(), 200);
    let after: Vec<u16> = egress.records()[5..].iter().map(|r| r.status).collect();
    assert_eq!(after.iter().filter(|s| **s == 200).count(), 2, "{after:?}");
    assert!(
        (1..=2).contains(&after.iter().filter(|s| **s == 201).count()),
        "{after:?}"
    );
    // A form posted once the bank ended the session is not posted again: its 401 goes back, and the
    // next request identifies first.
    bank.end_tpp_sessions();
    let seen = egress.records().len();
    let posted = through.post(&login).body("").send().await.unwrap();
    assert_eq!(posted.status(), 401);
    assert_eq!(through.get(&login).send().await.unwrap().status(), 200);
    let records: Vec<(String, String, u16)> = egress.records()[seen..]
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.status))
        .collect();
    let login_post = |status| ("POST".to_owned(), "/login".to_owned(), status);
    assert_eq!(records, vec![login_post(401), post(201), get(200)]);
    bank.shutdown().await;
}

fn identification_of(
    identify: &str,
    qseal: &TppCertificate,
) -> psd2_fallback_engine::egress::Identification {
    psd2_fallback_engine::egress::Identification {
        url: identify.to_owned(),
        signer: psd2_fallback_engine::identity::RequestSigner::new(qseal.clone()).unwrap(),
        session_field: "sessionId".to_owned(),
        session_header: psd2_fallback_sandbox::SESSION_HEADER.to_owned(),
        lifetime: std::time::Duration::from_millis(1500),
    }
}
