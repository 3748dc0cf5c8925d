//! The live status page (`/status`): in a real headless Chromium through chromedriver it loads after a
//! login, shows the bank's mode, and follows a switch within 2 s without a reload (the test writes a
//! screenshot of the switch on the timeline); over plain HTTP its login keeps out callers and strangers,
//! the viewer token opens it and nothing else, and no customer, account or consent is ever on it.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::journal::{AccessEntry, JournalStore, SqliteJournal};
use psd2_fallback_engine::model::{ConsentAccess, ConsentRequest, Iban};
use psd2_fallback_service::{
    OwnerStore, ResourceOwner, ServiceLimits, SqliteOwnerStore, TokenHash, owners_path,
};
use serde_json::Value;

use crate::support::browser::Browser;
use crate::support::sandbox;
use crate::support::service::{
    ADMIN, BANK, Running, TOKEN_A, api_bank, fast_health, set_override, start_on_journal,
};

/// The viewer token: the status page and nothing else.
const VIEWER: &str = "token-of-the-wall-screen";

/// A service with a viewer token, on a journal file the test can also open.
async fn service(sandbox: &psd2_fallback_sandbox::Sandbox) -> (Running, std::path::PathBuf) {
    let journal =
        std::env::temp_dir().join(format!("psd2-fallback-status-{}.db", uuid::Uuid::new_v4()));
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let running = start_on_journal(
        sandbox,
        stand_in,
        ServiceLimits::default(),
        fast_health(),
        &journal,
    )
    .await;
    running.state.set_viewer_token(Some(TokenHash::of(VIEWER)));
    (running, journal)
}

fn remove(journal: &std::path::Path) {
    let _ = std::fs::remove_file(owners_path(journal));
    let _ = std::fs::remove_file(journal);
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Logs in with `token`; the session cookie (`name=value`) when it is let in.
async fn login(url: &str, token: &str) -> Result<String, u16> {
    let answer = http()
        .post(format!("{url}/status/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    if answer.status() != 303 {
        return Err(answer.status().as_u16());
    }
    let cookie = answer.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/status"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    Ok(cookie.split(';').next().unwrap().to_owned())
}

async fn get(url: &str, cookie: Option<&str>) -> (u16, String) {
    let mut request = http().get(url);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let answer = request.send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_follows_a_switch_live_in_a_real_browser() {
    let sandbox = sandbox().await;
    let (service, journal) = service(&sandbox).await;
    let Some(browser) = Browser::start().await else {
        remove(&journal);
        return;
    };
    browser.goto(&format!("{}/status", service.url)).await;
    browser.wait_for("#token").await;
    browser.fill("#token", VIEWER).await;
    browser.click("#login").await;
    let section = format!("section.bank[data-bank=\"{BANK}\"]");
    browser
        .wait_for(&format!("{section}[data-mode=\"api\"]"))
        .await;
    assert_eq!(browser.text(&format!("{section} .mode")).await, "api");
    // The page's script is connected to /status/live before the switch.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while browser.text("#live").await != "connected" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the live stream did not connect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A mark on this very page: a reload would lose it.
    browser
        .client
        .execute("window.psd2SamePage = 'yes'; return null;", vec![])
        .await
        .unwrap();

    let switched = tokio::time::Instant::now();
    set_override(&service.url, "force-fallback").await;
    let shown = format!("{section}[data-mode=\"fallback\"] svg.timeline[data-switches=\"1\"]");
    while !browser.has(&shown).await {
        assert!(
            switched.elapsed() < Duration::from_secs(2),
            "the page did not show the switch within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(browser.text(&format!("{section} .mode")).await, "fallback");
    assert_eq!(
        browser.text(&format!("{section} .override")).await,
        "force-fallback"
    );
    assert_eq!(browser.text(&format!("{section} .measured")).await, "api");
    let same = browser
        .client
        .execute("return window.psd2SamePage || 'reloaded';", vec![])
        .await
        .unwrap();
    assert_eq!(same, Value::from("yes"));

    let png = browser.client.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&path, &png).unwrap();
    println!("status page screenshot: {}", path.display());
    assert!(png.starts_with(b"\x89PNG"));
    browser.close().await;
    service.stop().await;
    remove(&journal);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_lets_in_operators_and_viewers_only_and_viewers_nowhere_else() {
    let sandbox = sandbox().await;
    let (service, journal) = service(&sandbox).await;
    let url = &service.url;

    // Without a session: the login form, and nothing of the banks.
    let (status, body) = get(&format!("{url}/status"), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("action=\"/status/login\""));
    assert!(!body.contains("data-bank"), "{body}");
    for path in ["/status/panel", "/status/live"] {
        assert_eq!(get(&format!("{url}{path}"), None).await.0, 401, "{path}");
        let forged = format!("psd2_fallback_status={}", "0".repeat(64));
        assert_eq!(
            get(&format!("{url}{path}"), Some(&forged)).await.0,
            401,
            "{path}"
        );
    }
    // A caller's token, a wrong token and an empty one are no login.
    for token in [TOKEN_A, "guess", ""] {
        assert_eq!(login(url, token).await, Err(401), "{token:?}");
    }
    // A form without its field is refused, naming nothing secret.
    let missing = http()
        .post(format!("{url}/status/login"))
        .form(&[("password", VIEWER)])
        .send()
        .await
        .unwrap();
    assert!(missing.status().is_client_error());
    assert!(!missing.text().await.unwrap().contains(VIEWER));

    // The viewer, operator (here: admin) tokens log in.
    let viewer = login(url, VIEWER).await.unwrap();
    assert!(login(url, ADMIN).await.is_ok());
    let (status, panel) = get(&format!("{url}/status/panel"), Some(&viewer)).await;
    assert_eq!(status, 200);
    assert!(
        panel.contains(&format!("data-bank=\"{BANK}\" data-mode=\"api\"")),
        "{panel}"
    );

    // The viewer token (and its session) opens nothing of the operators'.
    let client = http();
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/events"),
        ("PUT", &*format!("/admin/banks/{BANK}/override")),
    ] {
        let by_token = client
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .bearer_auth(VIEWER)
            .body("force-fallback")
            .send()
            .await
            .unwrap();
        assert_eq!(by_token.status(), 401, "{method} {path}");
        let by_cookie = client
            .request(method.parse().unwrap(), format!("{url}{path}"))
            .header("Cookie", &viewer)
            .body("force-fallback")
            .send()
            .await
            .unwrap();
        assert_eq!(by_cookie.status(), 401, "{method} {path}");
    }
    assert_eq!(service.health.override_mode().name(), "auto");

    // Logging out ends the session.
    let out = client
        .post(format!("{url}/status/logout"))
        .header("Cookie", &viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(
        get(&format!("{url}/status/panel"), Some(&viewer)).await.0,
        401
    );
    service.stop().await;
    remove(&journal);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_counts_but_never_names_customers_accounts_or_consents() {
    let sandbox = sandbox().await;
    let (service, journal_path) = service(&sandbox).await;
    // What the service's stores hold about a customer: a consent expiring in 3 days and a website read
    // today, written through the same files the service reads.
    let today = time::OffsetDateTime::now_utc();
    let iban = Iban::parse("BE68539007547034").unwrap();
    let owners = SqliteOwnerStore::beside_journal(&journal_path).unwrap();
    owners
        .record_consent_owner(
            BANK,
            "consent-of-anna-4711",
            &ResourceOwner {
                caller: "budget-app".into(),
                psu: "psu-anna-1000001".into(),
            },
            &ConsentRequest {
                access: ConsentAccess::full(vec![iban.clone()]),
                recurring: true,
                valid_until: today.date() + time::Duration::days(3),
                frequency_per_day: 4,
            },
        )
        .unwrap();
    let journal = SqliteJournal::open(&journal_path).unwrap();
    journal
        .log_access(&AccessEntry {
            at: today,
            bank: BANK.into(),
            psu: "psu-anna-1000001".into(),
            data: "balances acc-anna-01".into(),
            switch_event: None,
        })
        .unwrap();

    let viewer = login(&service.url, VIEWER).await.unwrap();
    let (status, page) = get(&format!("{}/status", service.url), Some(&viewer)).await;
    assert_eq!(status, 200);
    // Counted…
    assert!(page.contains("<dd class=\"expiring\">1</dd>"), "{page}");
    assert!(page.contains("<dd class=\"accesses\">1</dd>"), "{page}");
    // …never named.
    for secret in [
        "anna",
        "1000001",
        "4711",
        iban.as_str(),
        "BE68",
        "acc-",
        "budget-app",
        VIEWER,
        ADMIN,
    ] {
        assert!(!page.contains(secret), "{secret} is on the status page");
    }
    service.stop().await;
    remove(&journal_path);
}
