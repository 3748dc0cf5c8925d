//! The browser pool shared by two banks (issue 15): both sandbox websites, each its own
//! `ScreenBank`, one pool of one flow at a time. Bank A's three customers queue first; bank B's
//! customer, queued after them, is served at the very next turn of A's, not after all of them; the
//! cap is never exceeded; over the queue's bound a read is refused at once with `Overloaded` (the
//! service's 503 with `Retry-After`), and served when retried.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use psd2_fallback_engine::model::AccountId;
use psd2_fallback_engine::screen::{BrowserPool, PoolBound, ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, BankError};
use psd2_fallback_sandbox::{CardReaderRelay, Sandbox};

use crate::support::sites::{FIRST_V1, SECOND, Site};
use crate::support::{browser, psu, sandbox};

async fn bank(sandbox: &Sandbox, site: &Site, pool: &BrowserPool) -> ScreenBank {
    let mut config = ScreenBankConfig::new(site.map_path(), site.base(sandbox));
    config.spare = false;
    // Enough of the bank's own permits for all its customers: the shared pool is the bound here.
    config.max_active = 4;
    config.pacing_per_second = 200;
    config.pool = Some(pool.clone());
    ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_two_banks_share_the_browser_pool_fairly_and_over_its_bound_are_refused_at_once() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let pool = BrowserPool::new(PoolBound {
        max_active: 1,
        max_queue: 3,
    });
    let (a, b) = (
        bank(&sandbox, &FIRST_V1, &pool).await,
        bank(&sandbox, &SECOND, &pool).await,
    );
    let account = AccountId::new("acc-01");
    let bobs = sandbox.ledger().accounts("1000002")[0].id.clone();
    let done = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut peak = 0usize;

    // Bank A: three customers read at once (one runs, two wait in the pool).
    let mut tasks = Vec::new();
    for customer in ["1000001", "1000002", "1000003"] {
        let (a, done) = (a.clone(), done.clone());
        let account = sandbox.ledger().accounts(customer)[0].id.clone();
        tasks.push(tokio::spawn(async move {
            a.balances(&psu(customer), &account, None).await.unwrap();
            done.lock().unwrap().push(format!("a/{customer}"));
        }));
    }
    while pool.load().1 < 2 {
        peak = peak.max(pool.load().0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Bank B's customer queues behind them.
    let b_read = {
        let (b, done) = (b.clone(), done.clone());
        let account = account.clone();
        tokio::spawn(async move {
            b.balances(&psu("1000001"), &account, None).await.unwrap();
            done.lock().unwrap().push("b/1000001".to_owned());
        })
    };
    while pool.load().1 < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The pool is full (one running, three waiting): one more is refused at once, whichever bank.
    for bank in [&a, &b] {
        let refused = bank
            .balances(&psu("1000002"), &bobs, None)
            .await
            .unwrap_err();
        assert!(
            matches!(refused, BankError::Overloaded { retry_after, .. } if retry_after > Duration::ZERO),
            "{refused}"
        );
    }
    while !b_read.is_finished() || tasks.iter().any(|t| !t.is_finished()) {
        peak = peak.max(pool.load().0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    b_read.await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let order = done.lock().unwrap().clone();
    let b_at = order.iter().position(|d| d == "b/1000001").unwrap();
    // A's first runs, then A's next in turn, then B's: B never waits for all of A's.
    assert!(b_at <= 2 && b_at < order.len() - 1, "{order:?}");
    assert_eq!(peak, 1, "the cap holds across both banks");
    assert_eq!(pool.load(), (0, 0));

    // Retried once the pool has room, the refused read is served.
    b.balances(&psu("1000002"), &bobs, None)
        .await
        .expect("served once retried");
    a.close().await;
    b.close().await;
    sandbox.shutdown().await;
}
