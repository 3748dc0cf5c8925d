//! The website channel's permits under load (issue 15), on the sandbox website in a real Chromium:
//! a read served over HTTP on a logged-in session takes no browser permit, so it is served while a
//! login holds every permit (the customer is slow to answer the card reader); over the queue's
//! bound a read that needs a browser is refused at once while a logged-in customer is still
//! served; a browser killed in the middle of a login is replaced and its permit given back; the
//! spares launched ahead are handed to new sessions, one each, never shared.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use psd2_fallback_engine::model::{AccountId, PsuId, ScaAnswer, ScaChallenge};
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, BankError, ScaRelay};
use psd2_fallback_sandbox::{Sandbox, card_reader_response};
use tokio::sync::{Notify, Semaphore};

use crate::support::processes::processes_naming;
use crate::support::{browser, psu, sandbox};

const ANNA: &str = "1000001";
const BOB: &str = "1000002";
const CAROL: &str = "1000003";

/// The customers' card readers, with one customer slow to answer: their login waits in the relay,
/// holding its browser permit, until the test lets it go (`release`), the first time only.
#[derive(Debug)]
struct SlowReader {
    slow: String,
    asked: Notify,
    answer: Semaphore,
    held_once: AtomicBool,
}

impl SlowReader {
    fn new(slow: &str) -> Arc<Self> {
        Arc::new(Self {
            slow: slow.to_owned(),
            asked: Notify::new(),
            answer: Semaphore::new(0),
            held_once: AtomicBool::new(false),
        })
    }

    fn release(&self) {
        self.answer.add_permits(1);
    }
}

#[async_trait::async_trait]
impl ScaRelay for SlowReader {
    async fn answer(&self, psu: &PsuId, challenge: &ScaChallenge) -> Option<ScaAnswer> {
        if psu.as_str() == self.slow && !self.held_once.swap(true, Ordering::SeqCst) {
            self.asked.notify_one();
            let _ = self.answer.acquire().await.map(|p| p.forget());
        }
        Some(ScaAnswer::new(card_reader_response(
            psu.as_str(),
            &challenge.data,
        )))
    }
}

async fn bank(sandbox: &Sandbox, relay: Arc<SlowReader>, max_queue: usize) -> ScreenBank {
    bank_waiting(sandbox, relay, max_queue, None).await
}

async fn bank_waiting(
    sandbox: &Sandbox,
    relay: Arc<SlowReader>,
    max_queue: usize,
    max_wait: Option<Duration>,
) -> ScreenBank {
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 1;
    config.max_queue = max_queue;
    config.max_wait = max_wait;
    config.pacing_per_second = 200;
    ScreenBank::new(config, Some(relay))
        .await
        .expect("the screen channel starts")
}

fn first_account(sandbox: &Sandbox, customer: &str) -> AccountId {
    sandbox.ledger().accounts(customer)[0].id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_a_read_over_http_on_the_session_is_served_while_a_login_holds_every_permit() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let relay = SlowReader::new(BOB);
    let screen = bank(&sandbox, relay.clone(), 0).await;
    let (anna, bob, carol) = (psu(ANNA), psu(BOB), psu(CAROL));
    let annas = first_account(&sandbox, ANNA);
    let expected = screen.balances(&anna, &annas, None).await.unwrap();

    // Bob logs in; his card reader is slow: his login holds the only permit.
    let bobs = {
        let (screen, account) = (screen.clone(), first_account(&sandbox, BOB));
        tokio::spawn(async move { screen.balances(&bob, &account, None).await })
    };
    tokio::time::timeout(Duration::from_secs(60), relay.asked.notified())
        .await
        .expect("Bob's login reaches the card reader");
    assert_eq!(screen.load().0, 1, "Bob's login holds the only permit");

    // Anna, logged in already, is served over HTTP on her session meanwhile — the same answer.
    let before = screen.flow_costs().without_browser;
    let again = tokio::time::timeout(
        Duration::from_secs(20),
        screen.balances(&anna, &annas, None),
    )
    .await
    .expect("a read on a logged-in session does not wait behind a login")
    .unwrap();
    assert_eq!(again, expected);
    assert_eq!(screen.flow_costs().without_browser, before + 1);

    // Carol needs a login, and no flow may wait for a permit (`max_queue` 0): she is refused at
    // once, with nothing started for her, and so is Bob's second read (his session is in his
    // login, which holds the permit) …
    let carols = first_account(&sandbox, CAROL);
    let refused = screen.balances(&carol, &carols, None).await.unwrap_err();
    assert!(
        matches!(refused, BankError::Overloaded { .. }),
        "over the bound: {refused}"
    );
    assert_eq!(screen.sessions(), 2, "no session was opened for her");
    let refused = screen
        .balances(&psu(BOB), &first_account(&sandbox, BOB), None)
        .await
        .unwrap_err();
    assert!(matches!(refused, BankError::Overloaded { .. }), "{refused}");
    // … while Anna, logged in and free, is still served.
    assert_eq!(
        screen.balances(&anna, &annas, None).await.unwrap(),
        expected
    );

    relay.release();
    bobs.await.unwrap().expect("Bob is served once he answers");
    screen
        .balances(&carol, &carols, None)
        .await
        .expect("Carol is served once the permit is free");
    assert_eq!(screen.load(), (0, 0), "every permit is back, no one waits");
    let costs = screen.flow_costs();
    assert_eq!(costs.logins, 3, "one login per customer: {costs:?}");
    screen.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_a_browser_killed_mid_login_is_replaced_and_its_permit_given_back() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let relay = SlowReader::new(ANNA);
    let screen = bank(&sandbox, relay.clone(), 4).await;
    let folder = screen.driver_folder().expect("a local driver").to_owned();
    let annas = first_account(&sandbox, ANNA);

    let read = {
        let (screen, account) = (screen.clone(), annas.clone());
        tokio::spawn(async move { screen.balances(&psu(ANNA), &account, None).await })
    };
    tokio::time::timeout(Duration::from_secs(60), relay.asked.notified())
        .await
        .expect("Anna's login reaches the card reader");
    // Her browser (the only one: no spare) dies while her login waits for the card reader.
    let browsers: Vec<u32> = processes_naming(&folder)
        .into_iter()
        .filter(|(_, name)| name != "chromedriver")
        .map(|(pid, _)| pid)
        .collect();
    assert!(!browsers.is_empty(), "Anna's browser runs");
    for pid in &browsers {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    relay.release();
    let balances = tokio::time::timeout(Duration::from_secs(90), read)
        .await
        .expect("the read ends")
        .unwrap()
        .expect("a new browser logs in and serves the read");
    assert!(!balances.is_empty());
    assert_eq!(screen.load(), (0, 0), "the dead browser's permit is back");
    // Bob, next, gets the permit and a browser of his own.
    let bobs = screen
        .balances(&psu(BOB), &first_account(&sandbox, BOB), None)
        .await
        .unwrap();
    assert!(!bobs.is_empty());
    let costs = screen.flow_costs();
    assert_eq!(
        costs.launches, 3,
        "Anna's two browsers and Bob's: {costs:?}"
    );
    assert_eq!(screen.sessions(), 2);
    screen.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_spares_launched_ahead_go_to_one_new_session_each() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = true;
    config.spares = 2;
    config.max_active = 2;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(
        config,
        Some(Arc::new(psd2_fallback_sandbox::CardReaderRelay)),
    )
    .await
    .expect("the screen channel starts");
    assert_eq!(screen.fill_spares(2).await, 2, "two spares wait");
    let launched = screen.flow_costs().launched_ahead;
    // Two customers at once: each takes a spare (no launch while they log in), and logs in on
    // its own.
    let mut reads = Vec::new();
    for customer in [ANNA, BOB] {
        let screen = screen.clone();
        let account = first_account(&sandbox, customer);
        reads.push(tokio::spawn(async move {
            screen.balances(&psu(customer), &account, None).await
        }));
    }
    for read in reads {
        assert!(!read.await.unwrap().unwrap().is_empty());
    }
    let costs = screen.flow_costs();
    assert_eq!((costs.spares_used, costs.launches), (2, 0), "{costs:?}");
    assert_eq!(
        costs.logins, 2,
        "each session logged in on its own: {costs:?}"
    );
    assert_eq!(screen.sessions(), 2);
    // Anna's second read is hers alone: no login, no browser work.
    let before = screen.flow_costs();
    screen
        .balances(&psu(ANNA), &first_account(&sandbox, ANNA), None)
        .await
        .unwrap();
    let after = screen.flow_costs();
    assert_eq!(after.logins, before.logins);
    assert_eq!(after.without_browser, before.without_browser + 1);
    // The spares are made again in the channel's idle time.
    assert_eq!(screen.fill_spares(2).await, 2);
    assert!(screen.flow_costs().launched_ahead >= launched + 2);
    screen.close().await;
}

/// With `max_wait`, a call that must log in while the logins ahead of it would not end in time is
/// refused at once with a `Retry-After` — and its login is made meanwhile, once, so its retry is
/// served on the logged-in session over HTTP with no second login. A call that brought no password
/// gets no login made for it; a consent's second refused call does not start a second login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_a_call_refused_over_max_wait_has_its_login_made_for_its_retry() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let relay = SlowReader::new(ANNA);
    // One permit, and a wait shorter than one login: one login in flight at a time.
    let screen = bank_waiting(
        &sandbox,
        relay.clone(),
        64,
        Some(Duration::from_millis(100)),
    )
    .await;
    let logins = |c: &str| sandbox.ledger().website_logins(c);

    // Anna logs in; her card reader is slow: her login is the one in flight.
    let annas = {
        let (screen, account) = (screen.clone(), first_account(&sandbox, ANNA));
        tokio::spawn(async move { screen.balances(&psu(ANNA), &account, None).await })
    };
    tokio::time::timeout(Duration::from_secs(60), relay.asked.notified())
        .await
        .expect("Anna's login reaches the card reader");

    // Bob's call is refused at once, told when to come back; asked twice, one login is made.
    let bobs = first_account(&sandbox, BOB);
    for _ in 0..2 {
        match screen.balances(&psu(BOB), &bobs, None).await {
            Err(BankError::Overloaded { retry_after, .. }) => {
                assert!(retry_after >= Duration::from_millis(100), "{retry_after:?}")
            }
            other => panic!("over max_wait: {other:?}"),
        }
    }
    // Carol brought no password: refused, and nothing can be made for her.
    let carol = psd2_fallback_engine::PsuContext::new(PsuId::new(CAROL));
    let carols = first_account(&sandbox, CAROL);
    let refused = screen.balances(&carol, &carols, None).await.unwrap_err();
    assert!(matches!(refused, BankError::Overloaded { .. }), "{refused}");

    // Anna answers; her read is served, then Bob's login made ahead runs.
    relay.release();
    annas
        .await
        .unwrap()
        .expect("Anna is served once she answers");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while screen.flow_costs().logins_ahead < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Bob's login is made ahead: {:?}",
            screen.flow_costs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bob's retry is served on his logged-in session, over HTTP, with no new login.
    let before = screen.flow_costs();
    let balances = screen.balances(&psu(BOB), &bobs, None).await.unwrap();
    assert_eq!(
        balances,
        sandbox.ledger().balances(BOB, &bobs, None).unwrap()
    );
    let after = screen.flow_costs();
    assert_eq!(
        after.without_browser,
        before.without_browser + 1,
        "{after:?}"
    );
    assert_eq!((logins(ANNA), logins(BOB), logins(CAROL)), (1, 1, 0));
    assert_eq!(
        after.logins_ahead, 1,
        "one login made ahead for Bob's two refused calls"
    );
    screen.close().await;
    sandbox.shutdown().await;
}
