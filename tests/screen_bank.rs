//! `ScreenBank` against the sandbox bank's websites, with a real Chromium: every read equals `ApiBank`'s
//! (differential test), on both layouts of the first website and on the second, each with its map;
//! writes made through one channel land once and are seen through the other; and the layout-1 map on
//! the layout-2 website is a *screen changed* with a masked trace bundle.

use std::path::PathBuf;
use std::sync::Arc;

use psd2_fallback_engine::api::{ApiBank, ApiBankConfig};
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentRequest, EndToEndId, ExecutionRule, Frequency,
    PaymentFile, PaymentKind, PaymentProduct, PaymentRef, PaymentRequest, PaymentStatus, ScaStatus,
    ScaTarget, StandingOrderRequest, Transaction, TransactionFilter,
};
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, BankError, PsuContext};
use psd2_fallback_sandbox::{CardReaderRelay, Sandbox, WebsiteFault};
use rust_decimal::dec;
use time::Duration as Days;
use time::macros::date;

use crate::support::processes::{processes_naming, processes_under, settle};
use crate::support::sites::{FIRST_V1, FIRST_V2, SECOND, Site};
use crate::support::{TODAY, browser, pain001, psu, sandbox, sign, transaction_filters};

const ANNA: &str = "1000001";

async fn screen(sandbox: &Sandbox, site: &Site, trace: Option<PathBuf>) -> ScreenBank {
    let mut config = ScreenBankConfig::new(site.map_path(), site.base(sandbox));
    config.spare = false;
    config.max_active = 1;
    config.trace_dir = trace;
    config.pacing_per_second = 200;
    ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts")
}

async fn api_with_consent(sandbox: &Sandbox) -> (ApiBank, PsuContext) {
    let api = ApiBank::new(ApiBankConfig::new(sandbox.api_url())).unwrap();
    let anna = psu(ANNA);
    let ibans = sandbox
        .ledger()
        .accounts(ANNA)
        .into_iter()
        .map(|a| a.iban)
        .collect();
    let request = ConsentRequest {
        access: ConsentAccess::full(ibans),
        recurring: true,
        valid_until: TODAY + Days::days(90),
        frequency_per_day: 4,
    };
    let consent = api.create_consent(&anna, &request).await.unwrap();
    let target = ScaTarget::Consent(consent.clone());
    assert_eq!(sign(&api, &anna, &target).await, ScaStatus::Finalised);
    (api, anna.with_consent(consent))
}

fn sorted(mut list: Vec<Transaction>) -> Vec<Transaction> {
    list.sort_by(|a, b| a.id.cmp(&b.id));
    list
}

/// Every read through the website equals the same read through the API.
async fn check_reads_equal(
    screen: &ScreenBank,
    api: &ApiBank,
    anna: &PsuContext,
    all_filters: bool,
) {
    let site = psu(ANNA);
    assert_eq!(
        screen.accounts(&site).await.unwrap(),
        api.accounts(anna).await.unwrap()
    );
    let id = AccountId::new("acc-01");
    assert_eq!(
        screen.balances(&site, &id, None).await.unwrap(),
        api.balances(anna, &id, None).await.unwrap()
    );
    for day in [date!(2026 - 11 - 22), date!(2026 - 06 - 30)] {
        assert_eq!(
            screen.balances(&site, &id, Some(day)).await.unwrap(),
            api.balances(anna, &id, Some(day)).await.unwrap(),
            "closing balance of {day}"
        );
    }
    let filters = transaction_filters();
    let chosen = if all_filters {
        &filters[..]
    } else {
        &filters[1..3]
    };
    for filter in chosen {
        let got = sorted(screen.transactions(&site, &id, filter).await.unwrap());
        let expected = sorted(api.transactions(anna, &id, filter).await.unwrap());
        assert_eq!(got.len(), expected.len(), "{filter:?}");
        assert_eq!(got, expected, "{filter:?}");
    }
    let order = PaymentRef {
        kind: PaymentKind::Periodic(PaymentProduct::SepaCreditTransfer),
        id: psd2_fallback_engine::model::PaymentId::new("so-001756"),
    };
    assert_eq!(
        screen.payment_status(&site, &order).await.unwrap(),
        api.payment_status(anna, &order).await.unwrap()
    );
    let iban = api.accounts(anna).await.unwrap()[0].iban.clone();
    for amount in [dec!(10), dec!(17334.48), dec!(17334.49), dec!(1000000)] {
        let amount = Amount::eur(amount).unwrap();
        assert_eq!(
            screen.confirm_funds(&site, &iban, &amount).await.unwrap(),
            api.confirm_funds(anna, &iban, &amount).await.unwrap(),
            "funds for {amount:?}"
        );
    }
}

/// r12: the second website — a login in two steps, a cookie wall, cards, history drawn by a script
/// with "load more", its own amounts, dates and words — is read through its map alone, and every read
/// equals the API's.
#[tokio::test]
async fn r12_the_second_websites_reads_equal_api_reads_through_its_map() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let (api, anna) = api_with_consent(&sandbox).await;
    let screen = screen(&sandbox, &SECOND, None).await;
    check_reads_equal(&screen, &api, &anna, true).await;
    screen.close().await;
}

/// r12: on the second website, a payment (through a choice of signing method and a debtor chosen by
/// the IBAN its option shows), a standing order (a debtor chosen by the account's id), a payment file
/// and a cancellation land once in the ledger and are seen through the API.
#[tokio::test]
async fn r12_writes_through_the_second_website_land_once() {
    writes_land_once_and_are_seen_through_the_other_channel(&SECOND).await;
}

/// r12: a payment confirmed on the second website passes its choice of signing method; when the page
/// after that choice is not the one the map expects, the order the bank recorded is still returned by
/// the reference the choice page showed — never *outcome unknown* — and it is in the ledger once.
#[tokio::test]
async fn r12_a_payment_past_the_signing_choice_is_never_outcome_unknown() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let text = std::fs::read_to_string(SECOND.map_path()).unwrap();
    let signing = "[screens.sign]\nurl = ";
    let at = text.find(signing).expect("the map's sign screen");
    let is_here = at + text[at..].find("is_here = ").unwrap();
    let end = is_here + text[is_here..].find('\n').unwrap();
    let mut drifted = text.clone();
    drifted.replace_range(is_here..end, "is_here = \"body.never-shown\"");
    let dir = std::env::temp_dir().join(format!("psd2-map-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let map = dir.join("drifted.toml");
    std::fs::write(&map, drifted).unwrap();
    let mut config = ScreenBankConfig::new(map, SECOND.base(&sandbox));
    config.spare = false;
    config.max_active = 1;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts");
    let ibans = anna_ibans(&sandbox);
    let before = sandbox.ledger().payments(ANNA).len();
    let request = PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: ibans[0].clone(),
        creditor_name: "Anna Peeters".to_owned(),
        creditor: ibans[1].clone(),
        amount: Amount::eur(dec!(3.21)).unwrap(),
        remittance: Some("Past the choice".to_owned()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::new("SCREEN-CHOICE-1").unwrap(),
    };
    let made = screen.initiate_payment(&psu(ANNA), &request).await;
    screen.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
    let made = made.unwrap_or_else(|e| panic!("the recorded order is returned, got {e:?}"));
    let records = sandbox.ledger().payments(ANNA);
    assert_eq!(records.len(), before + 1);
    assert_eq!(records[0].payment.id, made.payment.id);
    assert_eq!(records[0].status, PaymentStatus::Received);
}

#[tokio::test]
async fn screen_reads_equal_api_reads() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let (api, anna) = api_with_consent(&sandbox).await;
    let screen = screen(&sandbox, &FIRST_V1, None).await;
    check_reads_equal(&screen, &api, &anna, true).await;
    screen.close().await;
}

#[tokio::test]
async fn layout_v2_with_its_map_gives_the_same_values() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let (api, anna) = api_with_consent(&sandbox).await;
    let screen = screen(&sandbox, &FIRST_V2, None).await;
    check_reads_equal(&screen, &api, &anna, false).await;
    screen.close().await;
}

#[tokio::test]
async fn layout_one_map_on_layout_two_is_screen_changed_with_a_masked_trace() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    sandbox.set_website_fault(WebsiteFault::LayoutV2);
    let trace = std::env::temp_dir().join(format!("psd2-trace-{}", uuid::Uuid::new_v4().simple()));
    let screen = screen(&sandbox, &FIRST_V1, Some(trace.clone())).await;
    let error = screen.accounts(&psu(ANNA)).await.unwrap_err();
    screen.close().await;
    let BankError::ScreenChanged {
        file,
        screen: name,
        selector,
        capture,
    } = error
    else {
        panic!("expected a screen change, got {error:?}");
    };
    assert!(file.ends_with("selectors/sandbox.toml"), "{file}");
    assert_eq!(name, "login");
    assert_eq!(selector, "body[data-screen=login]");
    let capture = capture.expect("a trace bundle");
    assert!(capture.starts_with(&trace));
    let page = std::fs::read_to_string(capture.join("page.html")).unwrap();
    assert!(page.contains("view-login"), "the page is captured");
    for secret in [
        ANNA,
        "anna-sandbox",
        "BE60 7381 2345 6770",
        "BE60738123456770",
    ] {
        assert!(!page.contains(secret), "{secret} is masked");
    }
    let png = std::fs::read(capture.join("screenshot.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    // r11: a captured bank page is its owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&capture), 0o700, "the trace folder");
    for file in ["page.html", "screenshot.png", "README.txt"] {
        assert_eq!(mode(&capture.join(file)), 0o600, "{file}");
    }
    std::fs::remove_dir_all(&trace).unwrap();
}

#[tokio::test]
async fn writes_through_one_channel_are_seen_through_the_other() {
    writes_land_once_and_are_seen_through_the_other_channel(&FIRST_V1).await;
}

/// Payments, standing orders, files and cancellations through one channel land once in the ledger and
/// are seen through the other, on `site`.
async fn writes_land_once_and_are_seen_through_the_other_channel(site: &Site) {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let (api, anna) = api_with_consent(&sandbox).await;
    let screen = screen(&sandbox, site, None).await;
    let site = psu(ANNA);
    let before = sandbox.ledger().payments(ANNA).len();
    let accounts = api.accounts(&anna).await.unwrap();
    let (debtor, creditor) = (accounts[0].iban.clone(), accounts[1].iban.clone());
    let payment = |e2e: &str, when| PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: debtor.clone(),
        creditor_name: "Anna Peeters".to_owned(),
        creditor: creditor.clone(),
        amount: Amount::eur(dec!(12.34)).unwrap(),
        remittance: Some("Screen test".to_owned()),
        requested_execution_date: when,
        end_to_end_id: EndToEndId::new(e2e).unwrap(),
    };

    // A payment through the website, signed there, seen by the API.
    let made = screen
        .initiate_payment(&site, &payment("SCREEN-PAY-1", None))
        .await
        .unwrap();
    assert_eq!(made.status, PaymentStatus::Received);
    assert_eq!(
        api.payment_status(&anna, &made.payment).await.unwrap(),
        PaymentStatus::Received
    );
    let target = ScaTarget::Payment(made.payment.clone());
    assert_eq!(sign(&screen, &site, &target).await, ScaStatus::Finalised);
    // Both channels read the same payment; the bank may settle it (ACTC -> ACSC, 200 ms here)
    // between the two reads, so the later read may only be further along, never elsewhere.
    let on_site = screen.payment_status(&site, &made.payment).await.unwrap();
    let on_api = api.payment_status(&anna, &made.payment).await.unwrap();
    assert!(
        on_api == on_site
            || (on_site == PaymentStatus::AcceptedTechnical
                && on_api == PaymentStatus::AcceptedSettlementCompleted),
        "website {on_site:?}, then API {on_api:?}"
    );
    assert!(
        matches!(
            on_site,
            PaymentStatus::AcceptedTechnical | PaymentStatus::AcceptedSettlementCompleted
        ),
        "{on_site:?}"
    );

    // A future-dated payment through the API, cancelled through the website.
    let later = api
        .initiate_payment(&anna, &payment("API-PAY-2", Some(TODAY + Days::days(10))))
        .await
        .unwrap();
    assert_eq!(
        sign(&api, &anna, &ScaTarget::Payment(later.payment.clone())).await,
        ScaStatus::Finalised
    );
    assert_eq!(
        screen
            .cancel_payment(&site, &later.payment)
            .await
            .unwrap()
            .status,
        PaymentStatus::Cancelled
    );
    assert_eq!(
        api.payment_status(&anna, &later.payment).await.unwrap(),
        PaymentStatus::Cancelled
    );

    // A standing order through the website, cancelled through the API.
    let order = StandingOrderRequest {
        payment: payment("SCREEN-SO-1", None),
        start_date: TODAY + Days::days(3),
        end_date: None,
        frequency: Frequency::Monthly,
        day_of_execution: None,
        execution_rule: ExecutionRule::Following,
    };
    let made = screen.create_standing_order(&site, &order).await.unwrap();
    assert!(matches!(made.payment.kind, PaymentKind::Periodic(_)));
    assert_eq!(
        sign(&screen, &site, &ScaTarget::Payment(made.payment.clone())).await,
        ScaStatus::Finalised
    );
    assert_eq!(
        api.cancel_standing_order(&anna, &made.payment)
            .await
            .unwrap()
            .status,
        PaymentStatus::Cancelled
    );
    assert_eq!(
        screen.payment_status(&site, &made.payment).await.unwrap(),
        PaymentStatus::Cancelled
    );

    // A payment file through the website, signed there, seen by the API.
    let xml = pain001(
        debtor.as_str(),
        &[("Luc Janssens", "BE71096123456769", "5.00")],
        "2026-11-24",
    );
    let file = PaymentFile::parse(&xml).unwrap();
    let made = screen.upload_payment_file(&site, &file).await.unwrap();
    assert_eq!(made.payment.kind, PaymentKind::File);
    assert_eq!(
        sign(&screen, &site, &ScaTarget::Payment(made.payment.clone())).await,
        ScaStatus::Finalised
    );
    assert_eq!(
        api.payment_status(&anna, &made.payment).await.unwrap(),
        screen.payment_status(&site, &made.payment).await.unwrap()
    );
    // Four orders were made (two payments, a standing order, a file): each is in the ledger once.
    let records = sandbox.ledger().payments(ANNA);
    assert_eq!(records.len(), before + 4, "{records:#?}");
    for e2e in ["SCREEN-PAY-1", "API-PAY-2", "SCREEN-SO-1"] {
        let found = records
            .iter()
            .filter(|r| format!("{:?}", r.detail).contains(e2e))
            .count();
        assert_eq!(found, 1, "{e2e} in the ledger");
    }
    screen.close().await;
}

#[tokio::test]
async fn without_a_relay_a_read_asks_for_the_challenge_and_a_consent_logs_in() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let mut config = ScreenBankConfig::new(FIRST_V1.map_path(), FIRST_V1.base(&sandbox));
    config.spare = false;
    let screen = ScreenBank::new(config, None).await.unwrap();
    let site = psu(ANNA);
    let error = screen.accounts(&site).await.unwrap_err();
    assert!(error.is_sca_required(), "{error:?}");
    let request = ConsentRequest {
        access: ConsentAccess::full(anna_ibans(&sandbox)),
        recurring: true,
        valid_until: TODAY + Days::days(90),
        frequency_per_day: 4,
    };
    let consent = screen.create_consent(&site, &request).await.unwrap();
    let target = ScaTarget::Consent(consent.clone());
    assert_eq!(sign(&screen, &site, &target).await, ScaStatus::Finalised);
    assert_eq!(
        screen.consent_status(&site, &consent).await.unwrap(),
        psd2_fallback_engine::model::ConsentStatus::Valid
    );
    // The consent's session is logged in; the customer's own (no consent) still is not.
    let under = site.clone().with_consent(consent);
    assert_eq!(screen.accounts(&under).await.unwrap().len(), 2);
    let error = screen.accounts(&site).await.unwrap_err();
    assert!(error.is_sca_required(), "{error:?}");
    screen.close().await;
}

fn anna_ibans(sandbox: &Sandbox) -> Vec<psd2_fallback_engine::model::Iban> {
    sandbox
        .ledger()
        .accounts(ANNA)
        .into_iter()
        .map(|a| a.iban)
        .collect()
}

fn code(error: BankError) -> String {
    match error {
        BankError::Rejected { code, .. } => code,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Regression (isolation defect 1): the website ignored consents — a consent became valid because a
/// session was logged in, reads under a consent not (yet) valid were served, and a consent for one
/// account read all of them. Each consent now has its own session and is checked as the API checks it.
#[tokio::test]
async fn r_isolation_a_website_consent_is_its_own_session_and_reads_only_what_it_allows() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let screen = screen(&sandbox, &FIRST_V1, None).await;
    let site = psu(ANNA);
    let ibans = anna_ibans(&sandbox);
    // The customer's own session is logged in (through the relay) before any consent exists.
    assert_eq!(screen.accounts(&site).await.unwrap().len(), 2);

    let one = ConsentRequest {
        access: ConsentAccess::full(vec![ibans[0].clone()]),
        recurring: true,
        valid_until: TODAY + Days::days(90),
        frequency_per_day: 4,
    };
    let consent = screen.create_consent(&site, &one).await.unwrap();
    assert_eq!(
        screen.consent_status(&site, &consent).await.unwrap(),
        psd2_fallback_engine::model::ConsentStatus::Received,
        "a logged-in session does not make a new consent valid"
    );
    let under = site.clone().with_consent(consent.clone());
    let first = AccountId::new("acc-01");
    let second = AccountId::new("acc-02");
    assert_eq!(
        code(screen.accounts(&under).await.unwrap_err()),
        "CONSENT_INVALID"
    );
    assert_eq!(
        code(screen.balances(&under, &first, None).await.unwrap_err()),
        "CONSENT_INVALID"
    );

    let target = ScaTarget::Consent(consent.clone());
    assert_eq!(sign(&screen, &site, &target).await, ScaStatus::Finalised);
    let accounts = screen.accounts(&under).await.unwrap();
    assert_eq!(
        accounts.iter().map(|a| a.iban.clone()).collect::<Vec<_>>(),
        vec![ibans[0].clone()],
        "a consent for one account lists that account only"
    );
    assert_eq!(accounts[0].id, first);
    assert_eq!(
        screen.balances(&under, &first, None).await.unwrap().len(),
        5
    );
    assert_eq!(
        code(screen.balances(&under, &second, None).await.unwrap_err()),
        "CONSENT_INVALID"
    );
    assert_eq!(
        code(
            screen
                .transactions(&under, &second, &TransactionFilter::default())
                .await
                .unwrap_err()
        ),
        "CONSENT_INVALID"
    );
    assert_eq!(
        code(
            screen
                .balances(&under, &AccountId::new("acc-99"), None)
                .await
                .unwrap_err()
        ),
        "RESOURCE_UNKNOWN"
    );
    let amount = Amount::eur(dec!(1.00)).unwrap();
    assert_eq!(
        code(
            screen
                .confirm_funds(&under, &ibans[1], &amount)
                .await
                .unwrap_err()
        ),
        "CONSENT_INVALID"
    );

    // Another customer naming this consent does not find it.
    let luc = psu("1000002").with_consent(consent.clone());
    assert_eq!(
        code(screen.accounts(&luc).await.unwrap_err()),
        "CONSENT_UNKNOWN"
    );
    // A consent the caller recorded as expired, or past its validUntil, is refused as expired.
    let mut expired = site
        .clone()
        .with_consent(psd2_fallback_engine::model::ConsentId::new("api-1"));
    expired.grant = Some(psd2_fallback_engine::model::Consent {
        id: psd2_fallback_engine::model::ConsentId::new("api-1"),
        request: ConsentRequest {
            valid_until: date!(2020 - 01 - 01),
            ..one.clone()
        },
        status: psd2_fallback_engine::model::ConsentStatus::Valid,
    });
    assert_eq!(
        code(screen.accounts(&expired).await.unwrap_err()),
        "CONSENT_EXPIRED"
    );
    // The customer's session and the consent's are two browsers.
    assert_eq!(screen.sessions(), 2);
    screen.close().await;
}

/// A few flows for Anna: accounts, balances, one transactions page.
async fn serve_a_few_flows(screen: &ScreenBank) {
    let site = psu(ANNA);
    let id = AccountId::new("acc-01");
    assert_eq!(screen.accounts(&site).await.unwrap().len(), 2);
    assert_eq!(screen.balances(&site, &id, None).await.unwrap().len(), 5);
    let filter = TransactionFilter {
        date_from: Some(date!(2026 - 11 - 01)),
        ..Default::default()
    };
    assert!(
        !screen
            .transactions(&site, &id, &filter)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn hygiene_bank(sandbox: &Sandbox, spare: bool) -> (ScreenBank, PathBuf) {
    let mut config = ScreenBankConfig::new(FIRST_V1.map_path(), FIRST_V1.base(sandbox));
    config.spare = spare;
    config.max_active = 1;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts");
    let folder = screen
        .driver_folder()
        .expect("a local driver")
        .to_path_buf();
    (screen, folder)
}

#[tokio::test]
async fn closing_the_screen_bank_leaves_no_process_and_no_folder() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let (screen, folder) = hygiene_bank(&sandbox, true).await;
    serve_a_few_flows(&screen).await;
    // The spare is launched in the channel's idle time, after the flows.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !screen.spare_ready().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a spare browser is up too"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let running = processes_naming(&folder);
    assert!(
        running.iter().any(|(_, c)| c.starts_with("chromedriver"))
            && running.iter().any(|(_, c)| !c.starts_with("chromedriver")),
        "chromedriver and Chromium run under {}: {running:?}",
        folder.display()
    );
    screen.close().await;
    assert_eq!(
        settle(&folder).await,
        Vec::<(u32, String)>::new(),
        "processes left after close"
    );
    assert!(!folder.exists(), "{} is removed", folder.display());
    sandbox.shutdown().await;
}

/// The uid that owns a process, from `/proc/<pid>/status`.
fn process_uid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// r11: Chromium keeps its sandbox. Run as root (as CI runs), the browser runs as the account
/// `scripts/setup` makes, never as root; as any other user, as that user. No Chromium process is
/// started with `--no-sandbox`, and the renderers run under a seccomp filter (the sandbox's mark).
#[tokio::test]
async fn the_browser_keeps_its_sandbox_and_never_runs_as_root() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let own = process_uid(std::process::id()).expect("our own uid");
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let account = passwd.lines().find_map(|l| {
        let fields: Vec<&str> = l.split(':').collect();
        (fields.first() == Some(&psd2_fallback_engine::screen::BROWSER_USER))
            .then(|| fields[2].parse::<u32>().unwrap())
    });
    let expected = if own == 0 {
        account.unwrap_or_else(|| {
            panic!(
                "running as root, the browser needs the account {}: run scripts/setup",
                psd2_fallback_engine::screen::BROWSER_USER
            )
        })
    } else {
        own
    };
    let sandbox = sandbox().await;
    let (screen, folder) = hygiene_bank(&sandbox, false).await;
    serve_a_few_flows(&screen).await;
    let running = processes_under(&folder);
    let browsers: Vec<&(u32, String)> = running
        .iter()
        .filter(|(_, c)| !c.starts_with("chromedriver"))
        .collect();
    assert!(!browsers.is_empty(), "Chromium runs: {running:?}");
    let mut filtered = 0;
    for (pid, name) in &running {
        let Some(uid) = process_uid(*pid) else {
            continue; // gone meanwhile
        };
        assert_eq!(uid, expected, "{name} ({pid}) runs as uid {uid}");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("--no-sandbox"),
            "{name} ({pid}) was started without its sandbox"
        );
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status
            .lines()
            .any(|l| l.starts_with("Seccomp:") && l.ends_with('2'))
        {
            filtered += 1;
        }
    }
    assert!(
        filtered > 0,
        "no Chromium process runs under a seccomp filter: {running:?}"
    );
    screen.close().await;
    assert_eq!(settle(&folder).await, Vec::<(u32, String)>::new());
    assert!(!folder.exists(), "{} is removed", folder.display());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_screen_bank_dropped_by_a_panic_leaves_no_process_and_no_folder() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let (screen, folder) = hygiene_bank(&sandbox, true).await;
    let task = tokio::spawn(async move {
        serve_a_few_flows(&screen).await;
        panic!("a caller panics while it holds the screen channel (expected by this test)");
    });
    let outcome = task.await;
    assert!(outcome.is_err_and(|e| e.is_panic()));
    assert_eq!(
        settle(&folder).await,
        vec![],
        "processes left after the panic"
    );
    assert!(!folder.exists(), "{} is removed", folder.display());
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_killed_browser_is_replaced_on_the_next_call_and_nothing_leaks() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let (screen, folder) = hygiene_bank(&sandbox, false).await;
    let site = psu(ANNA);
    let id = AccountId::new("acc-01");
    let before = screen.balances(&site, &id, None).await.unwrap();
    // Anna's is the only browser of this driver: every Chromium process under its folder is hers.
    let chromium: Vec<u32> = processes_naming(&folder)
        .into_iter()
        .filter(|(_, comm)| !comm.starts_with("chromedriver"))
        .map(|(pid, _)| pid)
        .collect();
    assert!(!chromium.is_empty(), "Anna's Chromium runs");
    let killed = std::process::Command::new("kill")
        .arg("-KILL")
        .args(chromium.iter().map(u32::to_string))
        .status()
        .unwrap();
    assert!(killed.success());
    let after = screen.balances(&site, &id, None).await.unwrap();
    assert_eq!(after, before, "the next call succeeds with a new session");
    assert_eq!(screen.sessions(), 1);

    // Killed again while a multi-page history read is under way: that call is retried on a new
    // browser or fails as unavailable (never anything else), and the next call succeeds.
    let chromium_now = |folder: &std::path::Path| -> Vec<u32> {
        processes_naming(folder)
            .into_iter()
            .filter(|(_, comm)| !comm.starts_with("chromedriver"))
            .map(|(pid, _)| pid)
            .collect()
    };
    let second: Vec<u32> = chromium_now(&folder);
    let reading = {
        let (screen, site, id) = (screen.clone(), site.clone(), id.clone());
        tokio::spawn(async move {
            screen
                .transactions(&site, &id, &TransactionFilter::default())
                .await
        })
    };
    tokio::task::yield_now().await;
    std::process::Command::new("kill")
        .arg("-KILL")
        .args(second.iter().map(u32::to_string))
        .status()
        .unwrap();
    match reading.await.unwrap() {
        Ok(list) => assert!(list.len() > 1000, "the whole history"),
        Err(e) => assert!(e.triggers_switch(), "unavailable, not {e:?}"),
    }
    let again = screen.balances(&site, &id, None).await.unwrap();
    assert_eq!(again, before);
    let chromium: Vec<u32> = chromium.into_iter().chain(second).collect();
    let survivors: Vec<u32> = processes_naming(&folder)
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| chromium.contains(pid))
        .collect();
    assert_eq!(
        survivors,
        Vec::<u32>::new(),
        "the killed browser's processes are gone"
    );
    screen.close().await;
    assert_eq!(
        settle(&folder).await,
        Vec::<(u32, String)>::new(),
        "processes left after close"
    );
    assert!(!folder.exists(), "{} is removed", folder.display());
    sandbox.shutdown().await;
}

/// Browsers are bounded: beyond `max_sessions`, the least recently used session is closed to make room.
#[tokio::test]
async fn open_sessions_are_bounded_and_the_least_recently_used_is_closed() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let mut config = ScreenBankConfig::new(FIRST_V1.map_path(), FIRST_V1.base(&sandbox));
    config.spare = false;
    config.max_sessions = 1;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .unwrap();
    assert_eq!(screen.accounts(&psu(ANNA)).await.unwrap().len(), 2);
    assert_eq!(screen.sessions(), 1);
    assert!(!screen.accounts(&psu("1000002")).await.unwrap().is_empty());
    assert_eq!(screen.sessions(), 1);
    // Anna's session was closed: she is served again, in a new one.
    assert_eq!(screen.accounts(&psu(ANNA)).await.unwrap().len(), 2);
    assert_eq!(screen.sessions(), 1);
    screen.close().await;
}
