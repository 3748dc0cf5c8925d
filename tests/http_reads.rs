//! Reads over HTTP on the browser's session (issue 15), differential: on both sandbox websites every
//! read through a `ScreenBank` that fetches server-rendered screens over HTTP equals the same read
//! through one that reads everything in the browser — for two customers reading at once; a session
//! the website ended makes the HTTP read fall back to the browser, counted, and the answer is still
//! right.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::model::{AccountId, Amount, PaymentRef, TransactionFilter};
use psd2_fallback_engine::screen::{HttpReads, ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, PsuContext};
use psd2_fallback_sandbox::{CardReaderRelay, Sandbox, SandboxConfig};
use rust_decimal::dec;

use crate::support::sites::{FIRST_V1, FIRST_V2, SECOND, Site};
use crate::support::{TODAY, browser, psu, sandbox};

/// A screen channel on `site`, reading server-rendered screens over HTTP or not.
async fn screen(sandbox: &Sandbox, site: &Site, http_reads: bool) -> ScreenBank {
    let mut config = ScreenBankConfig::new(site.map_path(), site.base(sandbox));
    config.spare = false;
    config.max_active = 1;
    config.pacing_per_second = 200;
    config.http_reads = http_reads;
    ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts")
}

/// Every read a customer can make, as one comparable text: accounts, balances of every account,
/// a day's closing balance, one filtered history, the status of every order, and finding the
/// newest and the oldest order (and an absent one) by reference on the list of orders.
async fn every_read(bank: &ScreenBank, sandbox: &Sandbox, psu: &PsuContext) -> Vec<String> {
    let customer = psu.psu_id.as_str();
    let mut out = Vec::new();
    let accounts = bank.accounts(psu).await.expect("accounts");
    out.push(format!("{accounts:?}"));
    for account in &accounts {
        let balances = bank
            .balances(psu, &account.id, None)
            .await
            .expect("balances");
        out.push(format!("{}: {balances:?}", account.id));
    }
    let first = &accounts[0];
    let day = TODAY - time::Duration::days(1);
    out.push(format!(
        "{:?}",
        bank.balances(psu, &first.id, Some(day))
            .await
            .expect("on a day")
    ));
    let filter = TransactionFilter {
        date_from: Some(TODAY - time::Duration::days(30)),
        ..TransactionFilter::default()
    };
    let mut history = bank
        .transactions(psu, &first.id, &filter)
        .await
        .expect("history");
    history.sort_by(|a, b| a.id.cmp(&b.id));
    out.push(format!("{history:?}"));
    let amount = Amount::eur(dec!(100)).expect("an amount");
    out.push(format!(
        "{:?}",
        bank.confirm_funds(psu, &first.iban, &amount)
            .await
            .expect("funds")
    ));
    let orders = sandbox.ledger().payments(customer);
    for order in &orders {
        let status = bank
            .payment_status(psu, &order.payment)
            .await
            .expect("status");
        out.push(format!("{:?}: {status:?}", order.payment.id));
    }
    let mut references: Vec<String> = orders.iter().map(|o| o.reference()).collect();
    references.truncate(1);
    references.extend(orders.last().map(|o| o.reference()));
    references.push("NOT-AN-ORDER-OF-THIS-CUSTOMER".to_owned());
    for reference in references {
        let found: Option<(PaymentRef, _)> = bank
            .find_payment(psu, &first.iban, &reference)
            .await
            .expect("find on the list");
        out.push(format!("{reference}: {found:?}"));
    }
    out
}

/// On `site`, two customers at once: every read over HTTP equals the browser's, and the HTTP reads
/// were served over HTTP (none fell back).
async fn http_reads_equal_browser_reads(site: &Site) {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let over_http = screen(&sandbox, site, true).await;
    let in_browser = screen(&sandbox, site, false).await;
    // The browser's reads first, then both customers over HTTP at once (their sessions are their
    // own: a mixed-up cookie would show another customer's accounts).
    let (anna, bob) = (psu("1000001"), psu("1000002"));
    let expected_anna = every_read(&in_browser, &sandbox, &anna).await;
    let expected_bob = every_read(&in_browser, &sandbox, &bob).await;
    let (got_anna, got_bob) = tokio::join!(
        every_read(&over_http, &sandbox, &anna),
        every_read(&over_http, &sandbox, &bob)
    );
    assert_eq!(got_anna, expected_anna, "{}", site.layout);
    assert_eq!(got_bob, expected_bob, "{}", site.layout);
    assert_ne!(
        expected_anna[0], expected_bob[0],
        "two customers, two lists"
    );
    let counts = over_http.http_reads();
    assert!(counts.served > 10, "{counts:?}");
    assert_eq!(counts.fell_back, 0, "{counts:?}");
    assert_eq!(in_browser.http_reads(), HttpReads::default());

    // Four months of history: read over HTTP from the JSON its list is drawn from (on the second
    // website several batches of its JSON call), with no browser at all, equal to the list the
    // browser draws and reads (there, clicking "load more" batch after batch).
    let account = AccountId::new("acc-01");
    let everything = TransactionFilter {
        date_from: Some(TODAY - time::Duration::days(120)),
        ..TransactionFilter::default()
    };
    let (costs, served) = (over_http.flow_costs(), over_http.http_reads().served);
    let by_http = over_http
        .transactions(&anna, &account, &everything)
        .await
        .expect("the history over HTTP");
    assert_eq!(
        over_http.flow_costs().without_browser,
        costs.without_browser + 1,
        "the history needed no browser: {:?}",
        over_http.flow_costs()
    );
    assert!(over_http.http_reads().served > served);
    assert_eq!(over_http.http_reads().fell_back, 0);
    let by_browser = in_browser
        .transactions(&anna, &account, &everything)
        .await
        .expect("the history in the browser");
    assert!(by_http.len() > 60, "{}", by_http.len());
    assert_eq!(
        format!("{by_http:?}"),
        format!("{by_browser:?}"),
        "{}",
        site.layout
    );
    over_http.close().await;
    in_browser.close().await;
}

#[tokio::test]
async fn r15_http_reads_equal_browser_reads_on_the_first_website() {
    http_reads_equal_browser_reads(&FIRST_V1).await;
}

#[tokio::test]
async fn r15_http_reads_equal_browser_reads_on_the_first_website_layout_two() {
    http_reads_equal_browser_reads(&FIRST_V2).await;
}

#[tokio::test]
async fn r15_http_reads_equal_browser_reads_on_the_second_website() {
    http_reads_equal_browser_reads(&SECOND).await;
}

/// On `site`, with website sessions that end after three idle seconds: a read after the session ended
/// lands on the login page over HTTP, falls back to the browser (which logs in again), is counted,
/// and answers as the browser does; the next read is over HTTP again.
async fn an_ended_session_falls_back_and_answers_right(site: &Site) {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        session_idle: Duration::from_secs(3),
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let bank = screen(&sandbox, site, true).await;
    let anna = psu("1000001");
    let account = AccountId::new("acc-01");
    let before = bank
        .balances(&anna, &account, None)
        .await
        .expect("balances");
    let served = bank.http_reads().served;
    assert!(served >= 1, "{:?}", bank.http_reads());
    // The website forgets the session after three seconds without a request.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    let after = bank
        .balances(&anna, &account, None)
        .await
        .expect("balances");
    assert_eq!(after, before, "{}", site.layout);
    let counts = bank.http_reads();
    assert_eq!(counts.fell_back, 1, "{counts:?}");
    let accounts = bank.accounts(&anna).await.expect("accounts");
    assert!(!accounts.is_empty());
    assert!(
        bank.http_reads().served >= served + 2,
        "{:?}",
        bank.http_reads()
    );
    assert_eq!(bank.http_reads().fell_back, 1);
    bank.close().await;
}

#[tokio::test]
async fn r15_an_ended_session_falls_back_to_the_browser_on_the_first_website() {
    an_ended_session_falls_back_and_answers_right(&FIRST_V1).await;
}

#[tokio::test]
async fn r15_an_ended_session_falls_back_to_the_browser_on_the_second_website() {
    an_ended_session_falls_back_and_answers_right(&SECOND).await;
}
