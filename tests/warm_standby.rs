//! Warm standby (issue 15), from outside: a real sandbox (its API over loopback, its website through
//! a real Chromium driven by the engine's own driver), a real SQLite journal, and the engine's own
//! prober. The API first *degrades* (it answers 503 to every probe: failures, but no switch), then
//! goes *down* (connections refused: the RTS rule switches), or recovers first. What is observed is
//! what an outsider can count: the sandbox website's logins per customer, the channel's login and
//! warm-session counts, the access log, the answers — never a stopwatch.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::api::{ApiBank, ApiBankConfig};
use psd2_fallback_engine::failover::{BuiltFailover, FailoverBuilder, WarmStandbyConfig};
use psd2_fallback_engine::health::{HealthConfig, Mode};
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::{AccountId, ConsentAccess, ConsentRequest, PsuId, ScaTarget};
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, BankError, PsuContext};
use psd2_fallback_sandbox::{ApiFault, CardReaderRelay, Sandbox};

use crate::support::{browser, ibans, password, psu, sandbox, sign};

const ANNA: &str = "1000001";
const BOB: &str = "1000002";
const CAROL: &str = "1000003";

/// A journal in a folder of its own, removed afterwards.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("psd2-fallback-warm-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The engine under test: the prober probes every 150 ms; only the RTS rule switches (a 503 with
/// its error body is an answer, so an API answering 503 degrades without a switch).
async fn engine(sandbox: &Sandbox, journal: Arc<SqliteJournal>) -> (BuiltFailover, ScreenBank) {
    let mut api = ApiBankConfig::new(sandbox.api_url());
    api.request_timeout = Duration::from_millis(400);
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 2;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts");
    let built = FailoverBuilder::new("sandbox", ApiBank::new(api).unwrap(), screen.clone())
        .health(HealthConfig {
            dwell: Duration::from_secs(120),
            probe_interval: Duration::from_millis(150),
            probe_jitter: Duration::from_millis(30),
            probe_timeout: Duration::from_millis(400),
            ..HealthConfig::default()
        })
        .warm_standby(WarmStandbyConfig {
            window: Duration::from_secs(600),
            max_sessions: 8,
            concurrency: 2,
            settle: Duration::from_secs(1),
        })
        .build(journal)
        .await
        .expect("the engine builds");
    (built, screen)
}

/// A consent of `customer` to all their accounts, `per_day` unattended reads a day, signed with the
/// card reader through the engine (on the API).
async fn consent(bank: &dyn Bank, sandbox: &Sandbox, customer: &str, per_day: u32) -> PsuContext {
    let present = psu(customer);
    let consent = bank
        .create_consent(
            &present,
            &ConsentRequest {
                access: ConsentAccess::full(ibans(sandbox, customer)),
                recurring: true,
                valid_until: sandbox.ledger().today() + time::Duration::days(90),
                frequency_per_day: per_day,
            },
        )
        .await
        .unwrap();
    sign(bank, &present, &ScaTarget::Consent(consent.clone())).await;
    present.with_consent(consent)
}

/// The same consent, the customer absent (an unattended read, counted against the day's budget).
fn unattended(present: &PsuContext) -> PsuContext {
    PsuContext::new(PsuId::new(present.psu_id.as_str()))
        .with_password(secrecy::SecretString::from(password(
            present.psu_id.as_str(),
        )))
        .with_consent(present.consent_id.clone().unwrap())
}

/// Waits (at most 60 s) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two customers active before the outage get a logged-in session while the API degrades; after
/// the switch their first reads need no new login (and the warm-up counted against no budget). A
/// customer not active, a consent not used, and a consent whose unattended reads are spent get
/// none; a warm session never serves another consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_warm_standby_logs_in_recent_customers_before_the_switch() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let journal = Arc::new(SqliteJournal::open(&scratch.0.join("journal.sqlite")).unwrap());
    let (built, screen) = engine(&sandbox, journal.clone()).await;
    let engine = &built.failover;
    let health = engine.health().clone();
    let account = AccountId::new("acc-01");
    let bobs_account = sandbox.ledger().accounts(BOB)[0].id.clone();

    // Before the outage, on the API: Anna reads unattended under her consent (2 reads a day), Bob
    // present under his; Bob's second consent (1 read a day) spends its day's budget. Anna's
    // second consent and Carol's are never used.
    let anna = unattended(&consent(engine, &sandbox, ANNA, 2).await);
    let anna_other = unattended(&consent(engine, &sandbox, ANNA, 4).await);
    let bob = consent(engine, &sandbox, BOB, 4).await;
    let bob_spent = unattended(&consent(engine, &sandbox, BOB, 1).await);
    let carol = consent(engine, &sandbox, CAROL, 4).await;
    engine.balances(&anna, &account, None).await.unwrap();
    engine.balances(&bob, &bobs_account, None).await.unwrap();
    engine
        .balances(&bob_spent, &bobs_account, None)
        .await
        .unwrap();
    assert_eq!(screen.sessions(), 0, "all on the API so far");
    let logins = |c: &str| sandbox.ledger().website_logins(c);
    assert_eq!((logins(ANNA), logins(BOB), logins(CAROL)), (0, 0, 0));

    // The API degrades: the prober's calls are answered 503, no switch.
    sandbox.set_api_fault(ApiFault::Down);
    until("two warm sessions", || {
        screen.warm_counts().warm_logins == 2
    })
    .await;
    let counts = screen.warm_counts();
    assert_eq!((counts.warm_sessions, counts.logins), (2, 2), "{counts:?}");
    assert_eq!(health.mode(), Mode::Api, "degrading, not switched");
    assert_eq!((logins(ANNA), logins(BOB), logins(CAROL)), (1, 1, 0));
    let log = journal
        .access_log(time::OffsetDateTime::now_utc().date())
        .unwrap();
    let warm_ups: Vec<_> = log
        .iter()
        .filter(|e| e.data.contains("warm standby"))
        .collect();
    assert_eq!(warm_ups.len(), 2, "{log:?}");
    assert!(
        warm_ups
            .iter()
            .all(|e| e.data.contains("no account data read") && e.switch_event.is_none())
    );
    assert!(
        log.iter().all(|e| e.data.contains("warm standby")),
        "no data read ahead: {log:?}"
    );

    // The API goes down: refused connections trip the RTS rule.
    sandbox.set_api_fault(ApiFault::Refuse);
    let mut mode = health.watch();
    tokio::time::timeout(
        Duration::from_secs(30),
        mode.wait_for(|m| *m == Mode::Fallback),
    )
    .await
    .expect("the engine switched")
    .unwrap();

    // Both first fallback reads, at once, need no new login, and answer what the ledger holds.
    let (a, b) = tokio::join!(
        engine.balances(&anna, &account, None),
        engine.balances(&bob, &bobs_account, None)
    );
    assert_eq!(
        a.unwrap(),
        sandbox.ledger().balances(ANNA, &account, None).unwrap()
    );
    assert_eq!(
        b.unwrap(),
        sandbox.ledger().balances(BOB, &bobs_account, None).unwrap()
    );
    assert_eq!((logins(ANNA), logins(BOB)), (1, 1), "no new login");
    let counts = screen.warm_counts();
    assert_eq!((counts.logins, counts.warm_sessions), (2, 0), "{counts:?}");
    // Anna's second unattended read of the day was her last: the warm-up counted for nothing.
    let refused = engine.balances(&anna, &account, None).await.unwrap_err();
    assert!(
        matches!(refused, BankError::LimitReached { .. }),
        "{refused}"
    );

    // Anna's other consent has a session of its own: a login, never the warm one.
    engine.balances(&anna_other, &account, None).await.unwrap();
    assert_eq!(logins(ANNA), 2, "another consent, another login");
    // Carol was not active: her first read logs in.
    let carols_account = sandbox.ledger().accounts(CAROL)[0].id.clone();
    engine
        .balances(&carol, &carols_account, None)
        .await
        .unwrap();
    assert_eq!(logins(CAROL), 1);
    assert_eq!(logins(BOB), 1, "the spent consent was never warmed");

    built.shutdown().await;
    sandbox.shutdown().await;
}

/// The API degrades, the warm sessions are prepared, and the API recovers before any switch: the
/// warm sessions are closed, nothing switched, and reads go on through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_a_recovery_before_the_switch_tears_the_warm_sessions_down() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let scratch = Scratch::new();
    let journal = Arc::new(SqliteJournal::open(&scratch.0.join("journal.sqlite")).unwrap());
    let (built, screen) = engine(&sandbox, journal).await;
    let engine = &built.failover;
    let mut events = engine.health().events();
    let account = AccountId::new("acc-01");
    let bobs_account = sandbox.ledger().accounts(BOB)[0].id.clone();
    let anna = consent(engine, &sandbox, ANNA, 4).await;
    let bob = consent(engine, &sandbox, BOB, 4).await;
    engine.balances(&anna, &account, None).await.unwrap();
    engine.balances(&bob, &bobs_account, None).await.unwrap();

    sandbox.set_api_fault(ApiFault::Down);
    until("two warm sessions", || {
        screen.warm_counts().warm_sessions == 2
    })
    .await;
    sandbox.set_api_fault(ApiFault::Up);
    until("the warm sessions closed", || {
        screen.warm_counts().cooled == 2
    })
    .await;
    let counts = screen.warm_counts();
    assert_eq!(
        (screen.sessions(), counts.warm_sessions),
        (0, 0),
        "{counts:?}"
    );
    assert_eq!(engine.health().mode(), Mode::Api);
    assert!(events.try_recv().is_err(), "no switch");
    engine.balances(&anna, &account, None).await.unwrap();
    assert_eq!(screen.sessions(), 0, "served by the API");
    assert_eq!(
        sandbox.ledger().website_logins(ANNA),
        1,
        "the warm-up's alone"
    );

    built.shutdown().await;
    sandbox.shutdown().await;
}
