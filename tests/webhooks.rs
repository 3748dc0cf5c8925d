//! Events for applications, delivered: a real receiver on loopback (axum) that fails the first
//! deliveries, a service stopped in between and started again on the same files — every event still
//! arrives, signed with the caller's key (at least once: the receiver tells duplicates by `X-Event-ID`);
//! a second caller gets its banks' events but never the first caller's consents; and `/events` gives a
//! caller its own events and resumes after `Last-Event-ID`. An account read without its customer until
//! the day's RTS Art. 36(5) budget is low, then spent, gives its consent's caller one `budget.low` and
//! one `budget.exhausted`; a payment whose answer the bank lost, with the website down too, gives its
//! caller `payment.in_doubt`, and the repeat that finds it `payment.settled` — none of them reaching
//! the other caller.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use psd2_fallback_engine::model::{AccountId, ConsentAccess, ConsentRequest, Iban, PsuId};
use psd2_fallback_engine::{Bank, BankError, PsuContext};
use psd2_fallback_sandbox::{ApiFault, Sandbox, WebsiteFault};
use psd2_fallback_service::{
    OwnerStore, ResourceOwner, ServiceLimits, SqliteOutbox, SqliteOwnerStore, Webhook, outbox_path,
    owners_path, signature,
};
use secrecy::SecretString;
use serde_json::Value;

use crate::support::service::{
    BANK, Running, TOKEN_A, TOKEN_B, api_bank, fast_health, post_payment, screen_channel,
    set_override, start_on_journal,
};
use crate::support::{sandbox, signed_consent};

const KEY_A: &str = "webhook-key-of-the-budget-app";
const KEY_B: &str = "webhook-key-of-the-accounting-tool";

/// What a receiver was sent: (answered status, `X-Event-ID`, `X-Signature-SHA256`, body).
type Received = Arc<Mutex<Vec<(u16, String, String, String)>>>;

/// A webhook receiver on loopback that answers 503 to its first `fail_first` requests.
async fn receiver(fail_first: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State((fail_first, received)): State<(usize, Received)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let mut received = received.lock().unwrap();
                    let status = if received.len() < fail_first {
                        503
                    } else {
                        200
                    };
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    received.push((
                        status,
                        header("X-Event-ID"),
                        header("X-Signature-SHA256"),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state((fail_first, received.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn limits() -> ServiceLimits {
    ServiceLimits {
        webhook_retry: Duration::from_millis(50),
        webhook_retry_max: Duration::from_millis(400),
        requests_per_second: NonZeroU32::new(100).unwrap(),
        ..ServiceLimits::default()
    }
}

/// A consent of `caller` recorded in the owners file, valid until `days` from today.
fn consent(journal: &std::path::Path, caller: &str, id: &str, days: i64) {
    let owners = SqliteOwnerStore::beside_journal(journal).unwrap();
    owners
        .record_consent_owner(
            BANK,
            id,
            &ResourceOwner {
                caller: caller.into(),
                psu: "1000001".into(),
            },
            &ConsentRequest {
                access: ConsentAccess::full(vec![Iban::parse("BE68539007547034").unwrap()]),
                recurring: true,
                valid_until: time::OffsetDateTime::now_utc().date() + time::Duration::days(days),
                frequency_per_day: 4,
            },
        )
        .unwrap();
}

async fn service(
    sandbox: &Sandbox,
    journal: &std::path::Path,
    hooks: &[(&str, &str, &str)],
) -> Running {
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    service_over(sandbox, stand_in, journal, hooks).await
}

/// The service with `screen` as its other channel, an outbox and the callers' webhooks.
async fn service_over(
    sandbox: &Sandbox,
    screen: Arc<dyn Bank>,
    journal: &std::path::Path,
    hooks: &[(&str, &str, &str)],
) -> Running {
    let running = start_on_journal(sandbox, screen, limits(), fast_health(), journal).await;
    // The webhooks before the outbox, as `serve` configures them: an event is given a delivery for
    // each caller with a webhook when it is recorded, and the first are recorded once there is an
    // outbox.
    for (caller, url, key) in hooks {
        running.state.set_webhook(
            caller,
            Some(Webhook {
                url: url.parse().unwrap(),
                key: SecretString::from((*key).to_owned()),
            }),
        );
    }
    running
        .state
        .set_outbox(Arc::new(
            SqliteOutbox::beside_journal(journal).unwrap().into(),
        ))
        .unwrap();
    running
}

fn remove(journal: &std::path::Path) {
    for path in [
        owners_path(journal),
        outbox_path(journal),
        journal.to_path_buf(),
    ] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

/// The events a receiver accepted (2xx), by id, each checked against its signature under `key`.
fn accepted(received: &Received, key: &str) -> Vec<(i64, Value)> {
    let key = SecretString::from(key.to_owned());
    let mut out: Vec<(i64, Value)> = Vec::new();
    for (status, id, signed, body) in received.lock().unwrap().iter() {
        assert_eq!(
            signed,
            &signature(&key, body.as_bytes()),
            "a body not signed with its caller's key"
        );
        let value: Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["id"].to_string(), *id);
        if *status == 200 && !out.iter().any(|(seen, _)| seen.to_string() == *id) {
            out.push((id.parse().unwrap(), value));
        }
    }
    out
}

/// Waits for `done`, failing after a deadline generous enough for a loaded machine, with what the
/// receivers were sent.
async fn wait_until(what: &str, seen: &[&Received], mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        let sent: Vec<Vec<(u16, String, String, String)>> =
            seen.iter().map(|r| r.lock().unwrap().clone()).collect();
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}; sent: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_survive_a_receiver_outage_and_a_restart_and_reach_their_caller_only() {
    let sandbox = sandbox().await;
    let journal =
        std::env::temp_dir().join(format!("psd2-fallback-hooks-{}.db", uuid::Uuid::new_v4()));
    consent(&journal, "budget-app", "consent-of-a-expiring", 2);
    // The receiver of caller A fails its first 4 requests; caller B's answers at once.
    let (url_a, received_a) = receiver(4).await;
    let (url_b, received_b) = receiver(0).await;
    let hooks = [
        ("budget-app", url_a.as_str(), KEY_A),
        ("accounting-tool", url_b.as_str(), KEY_B),
    ];
    let first = service(&sandbox, &journal, &hooks).await;
    set_override(&first.url, "force-fallback").await;
    // A's receiver has refused at least once: the service stops with A's deliveries pending.
    wait_until("a first delivery attempt to A", &[&received_a], || {
        !received_a.lock().unwrap().is_empty()
    })
    .await;
    first.stop().await;
    // Everything A's receiver saw before the restart it refused: what it gets now, the restarted
    // service delivers from the outbox.
    assert!(received_a.lock().unwrap().iter().all(|r| r.0 == 503));

    // Started again on the same files: what was not delivered is, and nothing is lost.
    let second = service(&sandbox, &journal, &hooks).await;
    wait_until(
        "A gets the degraded bank and its expiring consent",
        &[&received_a],
        || {
            let kinds: Vec<String> = accepted(&received_a, KEY_A)
                .iter()
                .map(|(_, v)| v["type"].as_str().unwrap().to_owned())
                .collect();
            kinds.contains(&"bank.degraded".to_owned())
                && kinds.contains(&"consent.expiring".to_owned())
        },
    )
    .await;
    wait_until("B gets the degraded bank", &[&received_b], || {
        accepted(&received_b, KEY_B)
            .iter()
            .any(|(_, v)| v["type"] == "bank.degraded")
    })
    .await;
    let a = accepted(&received_a, KEY_A);
    let expiring = a
        .iter()
        .find(|(_, v)| v["type"] == "consent.expiring")
        .unwrap();
    assert_eq!(expiring.1["consentId"], "consent-of-a-expiring");
    assert_eq!(expiring.1["bank"], BANK);
    let degraded = a
        .iter()
        .find(|(_, v)| v["type"] == "bank.degraded")
        .unwrap();
    // B gets the same bank event (same id), never A's consent; its bodies are signed with B's key only.
    let b = accepted(&received_b, KEY_B);
    assert!(b.iter().any(|(id, _)| *id == degraded.0));
    assert!(
        b.iter().all(|(_, v)| v["type"] != "consent.expiring"),
        "{b:?}"
    );
    assert!(
        !received_b
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.3.contains("consent-of-a"))
    );
    // A's receiver was asked more than its 4 refusals: retried, not given up.
    assert!(received_a.lock().unwrap().len() >= 6);

    // This service started on its API (an override is not kept): off it and back, `bank.recovered`
    // to both.
    set_override(&second.url, "force-fallback").await;
    set_override(&second.url, "auto").await;
    wait_until(
        "A and B get the recovered bank",
        &[&received_a, &received_b],
        || {
            accepted(&received_a, KEY_A)
                .iter()
                .any(|(_, v)| v["type"] == "bank.recovered")
                && accepted(&received_b, KEY_B)
                    .iter()
                    .any(|(_, v)| v["type"] == "bank.recovered")
        },
    )
    .await;
    second.stop().await;
    remove(&journal);
}

/// Reads SSE from a response until `done` holds for what was read.
async fn read_until(
    answer: &mut reqwest::Response,
    seen: &mut String,
    done: impl Fn(&str) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(seen) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not seen in time:\n{seen}"
        );
        if let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(Duration::from_millis(500), answer.chunk()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn events(url: &str, token: &str, last: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{url}/events"))
        .bearer_auth(token);
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_reads_its_own_events_and_resumes_after_the_last_one() {
    let sandbox = sandbox().await;
    let journal =
        std::env::temp_dir().join(format!("psd2-fallback-hooks-{}.db", uuid::Uuid::new_v4()));
    consent(&journal, "budget-app", "consent-of-a-soon", 3);
    consent(&journal, "accounting-tool", "consent-of-b-gone", -1);
    let service = service(&sandbox, &journal, &[]).await;

    let mut a = events(&service.url, TOKEN_A, None).await;
    assert_eq!(a.status(), 200);
    let mut seen = String::new();
    read_until(&mut a, &mut seen, |s| s.contains("consent-of-a-soon")).await;
    set_override(&service.url, "force-fallback").await;
    read_until(&mut a, &mut seen, |s| s.contains("event: bank.degraded")).await;
    assert!(!seen.contains("consent-of-b"), "{seen}");
    // A caller's stream never carries the operators' switch events (their evidence and reasons).
    assert!(!seen.contains("event: switch"), "{seen}");
    drop(a);
    // The id of A's first event: resuming after it gives the later ones only.
    let first_id = seen
        .lines()
        .find_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
        .unwrap()
        .trim()
        .to_owned();
    let mut again = events(&service.url, TOKEN_A, Some(&first_id)).await;
    let mut resumed = String::new();
    read_until(&mut again, &mut resumed, |s| {
        s.contains("event: bank.degraded")
    })
    .await;
    assert!(!resumed.contains("consent-of-a-soon"), "{resumed}");

    // B sees its expired consent and the bank's event, never A's consent.
    let mut b = events(&service.url, TOKEN_B, None).await;
    let mut seen_b = String::new();
    read_until(&mut b, &mut seen_b, |s| {
        s.contains("event: consent.expired") && s.contains("event: bank.degraded")
    })
    .await;
    assert!(seen_b.contains("consent-of-b-gone"));
    assert!(!seen_b.contains("consent-of-a"), "{seen_b}");

    // A resume point that is not an event id is a 400 naming the header.
    let bad = events(&service.url, TOKEN_A, Some("yesterday")).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("Last-Event-ID"));
    service.stop().await;
    remove(&journal);
}

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

fn iban(sandbox: &Sandbox, customer: &str) -> Iban {
    sandbox.ledger().accounts(customer)[0].iban.clone()
}

/// A consent of Anna made and signed through the service by the caller `client` is for; the context
/// that reads under it without her (no `PSU-IP-Address`).
async fn consent_through(client: &dyn Bank, sandbox: &Sandbox) -> PsuContext {
    let consent = signed_consent(client, sandbox, ANNA).await;
    PsuContext::new(PsuId::new(ANNA)).with_consent(consent)
}

/// The kinds of the events a caller's receiver accepted, with how often each distinct event came.
fn of_kind(received: &Received, key: &str, kind: &str) -> Vec<Value> {
    accepted(received, key)
        .into_iter()
        .filter(|(_, v)| v["type"] == kind)
        .map(|(_, v)| v)
        .collect()
}

/// What a caller's `/events` stream holds now (read for a moment).
async fn stream_now(url: &str, token: &str, until: &str) -> String {
    let mut answer = events(url, token, None).await;
    assert_eq!(answer.status(), 200);
    let mut seen = String::new();
    read_until(&mut answer, &mut seen, |s| s.contains(until)).await;
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn unattended_reads_give_their_caller_one_budget_low_and_one_budget_exhausted() {
    let sandbox = sandbox().await;
    let journal =
        std::env::temp_dir().join(format!("psd2-fallback-hooks-{}.db", uuid::Uuid::new_v4()));
    // A's receiver refuses its first delivery: the budget events are retried like the others.
    let (url_a, received_a) = receiver(1).await;
    let (url_b, received_b) = receiver(0).await;
    let service = service(
        &sandbox,
        &journal,
        &[
            ("budget-app", url_a.as_str(), KEY_A),
            ("accounting-tool", url_b.as_str(), KEY_B),
        ],
    )
    .await;
    let a = api_bank(&service.bank_url(), Some(TOKEN_A));
    let unattended = consent_through(&a, &sandbox).await;
    let account: AccountId = a.accounts(&unattended).await.unwrap()[0].id.clone();

    // 4 unattended reads a day: after the second, 2 are left — nothing yet.
    for _ in 0..2 {
        a.balances(&unattended, &account, None).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        of_kind(&received_a, KEY_A, "budget.low").is_empty(),
        "{:?}",
        received_a.lock().unwrap()
    );
    // The third leaves one (low), the fourth none (low still: the same event, not a second).
    a.balances(&unattended, &account, None).await.unwrap();
    a.balances(&unattended, &account, None).await.unwrap();
    // The fifth and sixth are refused: exhausted, once.
    for _ in 0..2 {
        match a.balances(&unattended, &account, None).await {
            Err(BankError::LimitReached { .. }) => {}
            other => panic!("an unattended read past the day's budget answered {other:?}"),
        }
    }
    wait_until(
        "A gets budget.low and budget.exhausted",
        &[&received_a],
        || {
            !of_kind(&received_a, KEY_A, "budget.low").is_empty()
                && !of_kind(&received_a, KEY_A, "budget.exhausted").is_empty()
        },
    )
    .await;
    // Time for any second event to arrive, were one made.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let low = of_kind(&received_a, KEY_A, "budget.low");
    let exhausted = of_kind(&received_a, KEY_A, "budget.exhausted");
    assert_eq!(
        (low.len(), exhausted.len()),
        (1, 1),
        "{low:?} {exhausted:?}"
    );
    let today = time::OffsetDateTime::now_utc().date().to_string();
    for (event, remaining) in [(&low[0], 1), (&exhausted[0], 0)] {
        assert_eq!(event["bank"], BANK);
        assert_eq!(event["account"], account.as_str());
        assert_eq!(
            event["consentId"],
            unattended.consent_id.as_ref().unwrap().as_str()
        );
        assert_eq!(event["day"], today.as_str());
        assert_eq!(event["limit"], 4);
        assert_eq!(event["remaining"], remaining);
    }
    // A's receiver refused the first delivery: it was retried, not lost.
    assert!(received_a.lock().unwrap().iter().any(|r| r.0 == 503));
    // The other caller is told nothing of A's account, by webhook or on its stream.
    assert!(
        !received_b
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.3.contains("budget.") || r.3.contains(account.as_str())),
        "{:?}",
        received_b.lock().unwrap()
    );
    let seen_a = stream_now(&service.url, TOKEN_A, "event: budget.exhausted").await;
    assert_eq!(seen_a.matches("event: budget.low").count(), 1, "{seen_a}");
    set_override(&service.url, "force-fallback").await;
    let seen_b = stream_now(&service.url, TOKEN_B, "event: bank.degraded").await;
    assert!(!seen_b.contains("budget."), "{seen_b}");
    service.stop().await;
    remove(&journal);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_left_in_doubt_and_then_found_gives_its_caller_in_doubt_then_settled() {
    let sandbox = sandbox().await;
    let journal =
        std::env::temp_dir().join(format!("psd2-fallback-hooks-{}.db", uuid::Uuid::new_v4()));
    let (url_a, received_a) = receiver(0).await;
    let (url_b, received_b) = receiver(0).await;
    let service = service_over(
        &sandbox,
        screen_channel(&sandbox).await,
        &journal,
        &[
            ("budget-app", url_a.as_str(), KEY_A),
            ("accounting-tool", url_b.as_str(), KEY_B),
        ],
    )
    .await;
    // Anna signs a consent through the service: the website channel can then look her payments up.
    consent_through(&api_bank(&service.bank_url(), Some(TOKEN_A)), &sandbox).await;
    let before = sandbox.ledger().payments(ANNA).len();
    let body = serde_json::json!({
        "debtorAccount": {"iban": iban(&sandbox, ANNA).as_str()},
        "instructedAmount": {"currency": "EUR", "amount": "7.25"},
        "creditorAccount": {"iban": iban(&sandbox, LUC).as_str()},
        "creditorName": "Luc Peeters",
        "endToEndIdentification": "in-doubt-event-1"
    });
    let request_id = uuid::Uuid::new_v4().to_string();

    // The bank executes the payment and its answer is lost; the website, which could look it up, is
    // down for maintenance: its outcome is unknown.
    sandbox.set_api_fault(ApiFault::ProcessedButNoAnswer);
    sandbox.set_website_fault(WebsiteFault::Maintenance);
    let (status, answer) = post_payment(&service, TOKEN_A, ANNA, &request_id, &body).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(sandbox.ledger().payments(ANNA).len(), before + 1);
    wait_until("A gets payment.in_doubt", &[&received_a], || {
        !of_kind(&received_a, KEY_A, "payment.in_doubt").is_empty()
    })
    .await;
    let in_doubt = of_kind(&received_a, KEY_A, "payment.in_doubt");
    assert_eq!(in_doubt[0]["requestId"], request_id.as_str());
    assert_eq!(in_doubt[0]["bank"], BANK);
    assert!(of_kind(&received_a, KEY_A, "payment.settled").is_empty());

    // Both faces are back; the caller repeats the request: the engine finds the payment, made once.
    sandbox.set_api_fault(ApiFault::Up);
    sandbox.set_website_fault(WebsiteFault::Up);
    let (status, answer) = post_payment(&service, TOKEN_A, ANNA, &request_id, &body).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(sandbox.ledger().payments(ANNA).len(), before + 1);
    wait_until("A gets payment.settled", &[&received_a], || {
        !of_kind(&received_a, KEY_A, "payment.settled").is_empty()
    })
    .await;
    let settled = of_kind(&received_a, KEY_A, "payment.settled");
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(settled[0]["requestId"], request_id.as_str());
    assert_eq!(settled[0]["executed"], true);
    assert_eq!(settled[0]["paymentId"], answer["paymentId"]);
    assert!(settled[0]["id"].as_i64() > in_doubt[0]["id"].as_i64());
    assert_eq!(of_kind(&received_a, KEY_A, "payment.in_doubt").len(), 1);

    // Neither event reaches the other caller, by webhook or on its stream.
    let seen_a = stream_now(&service.url, TOKEN_A, "event: payment.settled").await;
    assert!(seen_a.contains("event: payment.in_doubt"), "{seen_a}");
    assert!(
        !received_b
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.3.contains("payment.") || r.3.contains(&request_id)),
        "{:?}",
        received_b.lock().unwrap()
    );
    set_override(&service.url, "force-fallback").await;
    let seen_b = stream_now(&service.url, TOKEN_B, "event: bank.degraded").await;
    assert!(!seen_b.contains("payment."), "{seen_b}");
    service.stop().await;
    remove(&journal);
}

/// A TPP certificate that expires in 10 days (made by the test PKI, configured as the bank's QWAC):
/// `/health` says so, and every caller with a webhook gets one `certificate.expiring` naming whose
/// certificate, which roles and when — once, however many scans and restarts follow.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_expiring_in_ten_days_is_announced_once_across_scans_and_a_restart() {
    use psd2_fallback_engine::identity::test_pki::{TestPki, TppSpec};
    use psd2_fallback_service::{ServiceConfig, serve};

    let sandbox = sandbox().await;
    let dir = crate::support::child::TempDir::new("certificate-expiring");
    let pki = TestPki::new("Test QTSP").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let qwac = dir.file(
        "qwac.pem",
        &pki.tpp(&TppSpec {
            not_after: now + time::Duration::days(10),
            ..TppSpec::default()
        })
        .unwrap(),
    );
    let text = format!(
        "listen = \"127.0.0.1:0\"\njournal = \"{journal}\"\n[limits]\nconsent_scan_secs = 1\nwebhook_retry_ms = 50\n\
[[callers]]\nname = \"budget-app\"\ntoken_sha256 = \"{token}\"\n\
[[banks]]\nname = \"sandbox\"\napi_base_url = \"{api}\"\nqwac = {{ file = \"{qwac}\" }}\n",
        journal = dir.0.join("journal.db").display(),
        token = crate::support::child::hash(TOKEN_A),
        api = sandbox.api_url(),
        qwac = qwac.display(),
    );
    let config = ServiceConfig::parse(&text, &dir.file("psd2-fallback.toml", &text)).unwrap();
    let (url, received) = receiver(1).await;
    let http = reqwest::Client::new();
    let expiring = |received: &Received| -> Vec<Value> {
        accepted(received, KEY_A)
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| v["type"] == "certificate.expiring")
            .collect()
    };
    for run in 0..2 {
        let (state, probers) = config.build(None).await.unwrap();
        state.set_webhook(
            "budget-app",
            Some(Webhook {
                url: url.parse().unwrap(),
                key: SecretString::from(KEY_A.to_owned()),
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        let health: Value = http
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let certificate = &health["banks"][0]["certificates"][0];
        assert_eq!(certificate["certificate"], "qwac", "{health}");
        assert_eq!(certificate["expiring"], true, "{health}");
        assert!(
            (9..=10).contains(&certificate["daysLeft"].as_i64().unwrap()),
            "{certificate}"
        );
        wait_until("certificate.expiring delivered", &[&received], || {
            expiring(&received).len() == 1
        })
        .await;
        // Several scans later (one a second), still one.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let events = expiring(&received);
        assert_eq!(events.len(), 1, "run {run}: {events:?}");
        let event = &events[0];
        assert_eq!(event["bank"], "sandbox");
        assert_eq!(event["certificate"], "qwac");
        assert_eq!(event["organizationIdentifier"], "PSDBE-NBB-0123456789");
        assert_eq!(event["ncaId"], "BE-NBB");
        assert_eq!(
            event["roles"],
            serde_json::json!(["PSP_AI", "PSP_PI", "PSP_IC"])
        );
        assert!(
            event["notAfter"]
                .as_str()
                .unwrap()
                .starts_with(&(now + time::Duration::days(10)).date().to_string())
        );
        assert!(!event.to_string().contains("PRIVATE"), "{event}");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        for prober in probers {
            prober.abort();
        }
    }
    sandbox.shutdown().await;
}
