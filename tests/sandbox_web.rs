//! The sandbox bank's website: driven by a real headless Chromium for what a customer does, and over
//! plain HTTP for sessions, CSRF, errors and faults.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use psd2_fallback_engine::model::belgian::{format_amount, format_date};
use psd2_fallback_engine::model::{
    AccountId, Amount, BalanceType, PaymentFile, PaymentId, PaymentKind, PaymentStatus,
    TransactionFilter,
};
use psd2_fallback_sandbox::ledger::PaymentDetail;
use psd2_fallback_sandbox::{Sandbox, SandboxConfig, WebsiteFault, card_reader_response};
use rust_decimal::dec;
use time::macros::date;

use crate::support::browser::Browser;

const CUSTOMER: &str = "1000001";
const PASSWORD: &str = "anna-sandbox";

async fn sandbox(session_idle: Option<Duration>) -> Sandbox {
    let mut config = SandboxConfig {
        today: Some(date!(2026 - 11 - 23)),
        ..Default::default()
    };
    if let Some(idle) = session_idle {
        config.session_idle = idle;
    }
    Sandbox::start(config).await.expect("the sandbox starts")
}

fn interim_booked(sandbox: &Sandbox, account: &AccountId) -> String {
    let balances = sandbox
        .ledger()
        .balances(CUSTOMER, account, None)
        .expect("balances");
    let booked = balances
        .iter()
        .find(|b| b.kind == BalanceType::InterimBooked)
        .expect("an interimBooked balance");
    format_amount(&booked.amount)
}

/// Accepts the cookie banner, logs in and answers the card-reader challenge, in layout 1.
async fn log_in(browser: &Browser, sandbox: &Sandbox) {
    browser.goto(&format!("{}/", sandbox.web_url())).await;
    browser.wait_for(r#"body[data-screen="login"]"#).await;
    browser.wait_for("#cookie-banner").await;
    browser.click("#cookie-accept").await;
    assert!(
        !browser.has("#cookie-banner").await,
        "the banner is gone once accepted"
    );
    browser.fill("#customer", CUSTOMER).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-submit").await;
    browser.wait_for(r#"body[data-screen="sca"]"#).await;
    let challenge = browser.text("#challenge").await;
    browser
        .fill("#response", &card_reader_response(CUSTOMER, &challenge))
        .await;
    browser.click("#sca-submit").await;
    browser.wait_for(r#"body[data-screen="accounts"]"#).await;
}

/// Answers the signing page's challenge and returns the result page's reference and status.
async fn sign(browser: &Browser) -> (String, String) {
    browser.wait_for(r#"body[data-screen="sign"]"#).await;
    let challenge = browser.text("#challenge").await;
    browser
        .fill("#response", &card_reader_response(CUSTOMER, &challenge))
        .await;
    browser.click("#sign-submit").await;
    browser.wait_for(r#"body[data-screen="result"]"#).await;
    (
        browser.text("#result-reference").await,
        browser.text("#result-status").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_reads_accounts_and_history_in_both_layouts() {
    let sandbox = sandbox(None).await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    log_in(&browser, &sandbox).await;

    // The overview shows the ledger's interimBooked balance, in Belgian format.
    let accounts = sandbox.ledger().accounts(CUSTOMER);
    let account = &accounts[0];
    let expected = interim_booked(&sandbox, &account.id);
    let cell = format!(
        r#"tr.account-row[data-account-id="{}"] td.account-balance"#,
        account.id
    );
    assert_eq!(browser.text(&cell).await, expected);
    let png = browser.client.screenshot().await.expect("a screenshot");
    std::fs::write("/tmp/accounts.png", png).expect("the screenshot is written");

    // The account page: its history is rendered by script, 50 rows a page.
    browser
        .click(&format!(
            r#"tr.account-row[data-account-id="{}"] td.account-name a"#,
            account.id
        ))
        .await;
    browser.wait_for(r#"body[data-screen="account"]"#).await;
    browser
        .wait_for(r#"table#history[data-rendered="true"]"#)
        .await;
    let ledger_rows = sandbox
        .ledger()
        .transactions(CUSTOMER, &account.id, &TransactionFilter::default())
        .expect("transactions");
    assert!(
        ledger_rows.len() > 50,
        "the seed has more than a page of history"
    );
    let rows = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('tr.tx-row')).map(r => [r.dataset.txId, r.querySelector('.tx-date').textContent, r.querySelector('.tx-amount').textContent]);",
            vec![],
        )
        .await
        .expect("the rows");
    let rows: Vec<(String, String, String)> =
        serde_json::from_value(rows).expect("rows as triples");
    assert_eq!(rows.len(), 50);
    for (row, t) in rows.iter().zip(&ledger_rows) {
        assert_eq!(
            row,
            &(
                t.id.to_string(),
                format_date(t.date()),
                format_amount(&t.amount)
            )
        );
    }
    let pages = browser
        .client
        .find(fantoccini::Locator::Css("#page-info"))
        .await
        .expect("the pager");
    assert_eq!(
        pages.attr("data-pages").await.expect("an attribute"),
        Some(ledger_rows.len().div_ceil(50).to_string())
    );
    assert_eq!(browser.text("#balance-booked").await, expected);

    // Balance at the end of a past day.
    browser.fill("#balance_date", "01/11/2026").await;
    browser.click("#balance-date-submit").await;
    let past = browser
        .wait_for("#balance-on-date")
        .await
        .text()
        .await
        .expect("text");
    let closing = sandbox
        .ledger()
        .balances(CUSTOMER, &account.id, Some(date!(2026 - 11 - 01)))
        .expect("a past balance");
    assert_eq!(past, format_amount(&closing[0].amount));

    // Layout 2: the same balance under other markup; the layout-1 marker is gone.
    sandbox.set_website_fault(WebsiteFault::LayoutV2);
    browser
        .goto(&format!("{}/accounts", sandbox.web_url()))
        .await;
    browser.wait_for("main#view-accounts").await;
    assert!(!browser.has("body[data-screen]").await);
    assert!(!browser.has("tr.account-row").await);
    let v2 = format!(
        r#"article.acct[data-account-id="{}"] [data-field="accountBalance"]"#,
        account.id
    );
    assert_eq!(browser.text(&v2).await, expected);
    browser
        .goto(&format!("{}/accounts/{}", sandbox.web_url(), account.id))
        .await;
    browser.wait_for(r#"ul#movements[data-ready="yes"]"#).await;
    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("li.movement"))
            .await
            .expect("rows")
            .len(),
        50
    );

    // Maintenance: the maintenance page instead.
    sandbox.set_website_fault(WebsiteFault::Maintenance);
    browser
        .goto(&format!("{}/accounts", sandbox.web_url()))
        .await;
    browser.wait_for(r#"body[data-screen="maintenance"]"#).await;

    browser.close().await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_makes_a_payment_and_signs_a_file() {
    let sandbox = sandbox(None).await;
    let file = crate::support::pain001(
        sandbox.ledger().accounts(CUSTOMER)[1].iban.as_str(),
        &[
            ("Jan Smet", "BE68539007547034", "10.25"),
            ("Els Maes", "BE71096123456769", "20.25"),
        ],
        "2026-11-23",
    );
    let parsed = PaymentFile::parse(&file).expect("the test's file is valid");
    assert_eq!(parsed.payments.len(), 2);
    let Some(browser) = Browser::start().await else {
        return;
    };
    log_in(&browser, &sandbox).await;
    let from = sandbox.ledger().accounts(CUSTOMER)[1].clone();

    // Form → read-back → signing → result.
    browser.click("#nav-new-payment").await;
    browser.wait_for(r#"body[data-screen="payment-new"]"#).await;
    let select = browser.wait_for("select#from_account").await;
    select
        .select_by_value(from.iban.as_str())
        .await
        .expect("the account is an option");
    browser.fill("#beneficiary_name", "Jan Smet").await;
    browser
        .fill("#beneficiary_iban", "BE68 5390 0754 7034")
        .await;
    browser.fill("#amount", "12,3,4").await;
    browser.click("#payment-submit").await;
    // A malformed amount comes back naming the field, with the values kept.
    browser.wait_for("#errors li[data-field=\"amount\"]").await;
    assert_eq!(
        browser
            .wait_for("#beneficiary_name")
            .await
            .prop("value")
            .await
            .expect("a value"),
        Some("Jan Smet".to_owned())
    );
    browser.fill("#amount", "12,34").await;
    browser.fill("#communication", "Browser test").await;
    browser.fill("#reference", "WEB-E2E-1").await;
    browser.click("#payment-submit").await;
    browser
        .wait_for(r#"body[data-screen="payment-confirm"]"#)
        .await;
    assert_eq!(browser.text("#confirm-amount").await, "12,34 EUR");
    assert_eq!(browser.text("#confirm-iban").await, "BE68 5390 0754 7034");
    assert_eq!(browser.text("#confirm-beneficiary").await, "Jan Smet");
    assert_eq!(browser.text("#confirm-reference").await, "WEB-E2E-1");
    assert_eq!(browser.text("#confirm-date").await, "23/11/2026");
    browser.click("#confirm").await;
    let (reference, status) = sign(&browser).await;
    assert!(status == "ACTC" || status == "ACSC", "status {status}");
    let record = sandbox
        .ledger()
        .payment(CUSTOMER, &PaymentId::new(reference.clone()))
        .expect("the ledger holds the payment");
    assert!(matches!(
        record.status,
        PaymentStatus::AcceptedTechnical | PaymentStatus::AcceptedSettlementCompleted
    ));
    let PaymentDetail::Single(request) = &record.detail else {
        panic!("a single payment: {record:?}")
    };
    assert_eq!(request.amount, Amount::eur(dec!(12.34)).expect("an amount"));
    assert_eq!(request.end_to_end_id.as_str(), "WEB-E2E-1");
    assert_eq!(request.debtor, from.iban);
    assert_eq!(
        sandbox
            .ledger()
            .find_by_end_to_end_id(CUSTOMER, "WEB-E2E-1")
            .map(|r| r.payment.id.to_string()),
        Some(reference.clone())
    );

    // The payments list shows it with its status.
    browser
        .goto(&format!("{}/payments", sandbox.web_url()))
        .await;
    let row = format!(r#"tr.payment-row[data-payment-id="{reference}"] td.payment-e2e"#);
    assert_eq!(
        browser.wait_for(&row).await.text().await.expect("text"),
        "WEB-E2E-1"
    );

    // A payment file: upload → summary → signing → result.
    let path = std::env::temp_dir().join(format!("psd2-fallback-web-{}.xml", std::process::id()));
    std::fs::write(&path, &file).expect("the file is written");
    browser.goto(&format!("{}/files", sandbox.web_url())).await;
    browser
        .wait_for("input#file")
        .await
        .send_keys(path.to_str().expect("a UTF-8 path"))
        .await
        .expect("the file is chosen");
    browser.click("#upload-submit").await;
    browser.wait_for(r#"body[data-screen="file-review"]"#).await;
    std::fs::remove_file(&path).expect("the file is removed");
    assert_eq!(browser.text("#file-message-id").await, parsed.message_id);
    assert_eq!(browser.text("#file-count").await, "2");
    assert_eq!(browser.text("#file-control-sum").await, "30,50 EUR");
    browser.click("#file-sign").await;
    let (reference, status) = sign(&browser).await;
    assert!(status == "ACTC" || status == "ACSC", "status {status}");
    let record = sandbox
        .ledger()
        .payment(CUSTOMER, &PaymentId::new(reference))
        .expect("the ledger holds the file");
    assert_eq!(record.payment.kind, PaymentKind::File);

    browser.close().await;
    sandbox.shutdown().await;
}

/// A website visitor over plain HTTP: keeps cookies, follows no redirects.
struct Visitor {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

/// What a page answered.
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Visitor {
    fn new(sandbox: &Sandbox) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let mut cookies = HashMap::new();
        cookies.insert("cookies".to_owned(), "accepted".to_owned());
        Self {
            client,
            base: sandbox.web_url(),
            cookies,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = value
                .to_str()
                .expect("ASCII")
                .split(';')
                .next()
                .expect("a pair");
            let (k, v) = pair.split_once('=').expect("name=value");
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|v| v.to_str().expect("ASCII").to_owned());
        Page {
            status,
            location,
            body: response.text().await.expect("a body"),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("an answer");
        self.read(response).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("an answer");
        self.read(response).await
    }

    /// Logs in with the password and the card reader's response; returns the session's CSRF token.
    async fn log_in(&mut self) -> String {
        let login = self.get("/login").await;
        let csrf = between(&login.body, r#"name="csrf" value=""#, "\"");
        let after = self
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("customer", CUSTOMER),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(after.location.as_deref(), Some("/sca"));
        let sca = self.get("/sca").await;
        let csrf = between(&sca.body, r#"name="csrf" value=""#, "\"");
        let challenge = between(&sca.body, r#"<strong id="challenge">"#, "<");
        let done = self
            .post(
                "/sca",
                &[
                    ("csrf", &csrf),
                    ("response", &card_reader_response(CUSTOMER, &challenge)),
                ],
            )
            .await;
        assert_eq!(done.location.as_deref(), Some("/accounts"));
        csrf
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page:\n{text}"))
        + start.len();
    let len = text[from..].find(end).expect("the end marker");
    text[from..from + len].to_owned()
}

#[tokio::test]
async fn website_session_expires_after_idle_time() {
    let idle = Duration::from_millis(300);
    let sandbox = sandbox(Some(idle)).await;
    let mut visitor = Visitor::new(&sandbox);
    visitor.log_in().await;
    assert_eq!(visitor.get("/accounts").await.status, 200);
    // Idleness is the thing under test: let the session's idle time pass for real.
    tokio::time::sleep(idle + Duration::from_millis(200)).await;
    let page = visitor.get("/accounts").await;
    assert_eq!(page.location.as_deref(), Some("/login?expired=1"));
    let login = visitor.get("/login?expired=1").await;
    assert!(login.body.contains(r#"data-screen="login""#));
    assert!(
        login.body.contains("Your session has expired"),
        "{}",
        login.body
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn website_refuses_a_form_without_the_session_csrf_token() {
    let sandbox = sandbox(None).await;
    let mut visitor = Visitor::new(&sandbox);
    visitor.get("/login").await;
    let page = visitor
        .post(
            "/login",
            &[
                ("csrf", "forged"),
                ("customer", CUSTOMER),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains(r#"data-screen="forbidden""#));
    visitor.log_in().await;
    let payments_before = sandbox.ledger().payments(CUSTOMER).len();
    let page = visitor
        .post(
            "/payments/new",
            &[
                ("csrf", "forged"),
                ("beneficiary_name", "Mallory"),
                ("beneficiary_iban", "BE68539007547034"),
                ("amount", "10,00"),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(sandbox.ledger().payments(CUSTOMER).len(), payments_before);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn website_says_the_credentials_are_wrong() {
    let sandbox = sandbox(None).await;
    let mut visitor = Visitor::new(&sandbox);
    let login = visitor.get("/login").await;
    let csrf = between(&login.body, r#"name="csrf" value=""#, "\"");
    let page = visitor
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("customer", CUSTOMER),
                ("password", "wrong"),
            ],
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"data-screen="login""#));
    assert!(
        page.body.contains(
            r#"<p id="error" class="msg msg-error">Customer number or password is wrong.</p>"#
        ),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"value="1000001""#),
        "the customer number is kept"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn website_payment_form_names_the_wrong_field() {
    let sandbox = sandbox(None).await;
    let mut visitor = Visitor::new(&sandbox);
    let csrf = visitor.log_in().await;
    let from = sandbox.ledger().accounts(CUSTOMER)[0].iban.to_string();
    let page = visitor
        .post(
            "/payments/new",
            &[
                ("csrf", &csrf),
                ("from_account", &from),
                ("beneficiary_name", "Jan"),
                ("beneficiary_iban", "BE00 1234"),
                ("amount", "1,234.56"),
            ],
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"<li data-field="beneficiary_iban">Beneficiary IBAN: "#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"<li data-field="amount">Amount: "#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="Jan""#), "the values are kept");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn website_maintenance_answers_503_but_not_the_admin_routes() {
    let sandbox = sandbox(None).await;
    sandbox.set_website_fault(WebsiteFault::Maintenance);
    let mut visitor = Visitor::new(&sandbox);
    for path in ["/login", "/accounts", "/no-such-page"] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 503, "{path}");
        assert!(page.body.contains(r#"data-screen="maintenance""#), "{path}");
    }
    assert_eq!(visitor.get("/_sandbox/faults/website").await.status, 200);
    sandbox.set_website_fault(WebsiteFault::Up);
    assert_eq!(visitor.get("/login").await.status, 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn website_slow_fault_delays_every_page() {
    let sandbox = sandbox(None).await;
    sandbox.set_website_fault(WebsiteFault::Slow { ms: 400 });
    let mut visitor = Visitor::new(&sandbox);
    let started = Instant::now();
    let page = visitor.get("/login").await;
    assert_eq!(page.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "answered after {:?}",
        started.elapsed()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn website_standing_order_is_created_signed_and_cancelled() {
    let sandbox = sandbox(None).await;
    let mut visitor = Visitor::new(&sandbox);
    let csrf = visitor.log_in().await;
    let from = sandbox.ledger().accounts(CUSTOMER)[1].iban.to_string();
    let form = [
        ("csrf", csrf.as_str()),
        ("from_account", &from),
        ("beneficiary_name", "Huisbaas"),
        ("beneficiary_iban", "BE68539007547034"),
        ("amount", "750,00"),
        ("communication", "Huur"),
        ("start_date", "01/12/2026"),
        ("frequency", "Monthly"),
        ("day_of_execution", "1"),
        ("reference", "WEB-SO-1"),
    ];
    let page = visitor.post("/standing-orders/new", &form).await;
    assert_eq!(page.location.as_deref(), Some("/standing-orders/confirm"));
    let confirm = visitor.get("/standing-orders/confirm").await;
    assert!(
        confirm
            .body
            .contains(r#"<td id="confirm-frequency">Monthly</td>"#),
        "{}",
        confirm.body
    );
    assert!(
        confirm
            .body
            .contains(r#"<td id="confirm-amount">750,00 EUR</td>"#)
    );
    let page = visitor
        .post(
            "/standing-orders/confirm",
            &[("csrf", &csrf), ("decision", "confirm")],
        )
        .await;
    let sign_path = page.location.expect("to the signing page");
    let sign = visitor.get(&sign_path).await;
    let challenge = between(&sign.body, r#"<strong id="challenge">"#, "<");
    let response = card_reader_response(CUSTOMER, &challenge);
    let page = visitor
        .post(&sign_path, &[("csrf", &csrf), ("response", &response)])
        .await;
    let result = visitor.get(&page.location.expect("to the result")).await;
    assert!(
        result.body.contains(r#"<td id="result-status">ACTC</td>"#),
        "{}",
        result.body
    );
    let id = between(&result.body, r#"<td id="result-reference">"#, "<");
    let list = visitor.get("/standing-orders").await;
    assert!(list.body.contains(&format!(r#"data-order-id="{id}""#)));
    let page = visitor
        .post(
            &format!("/payments/{id}/cancel"),
            &[("csrf", &csrf), ("return", "/standing-orders")],
        )
        .await;
    assert_eq!(
        page.location,
        Some(format!("/standing-orders?cancelled={id}"))
    );
    let record = sandbox
        .ledger()
        .payment(CUSTOMER, &PaymentId::new(id))
        .expect("the order");
    assert_eq!(record.status, PaymentStatus::Cancelled);
    sandbox.shutdown().await;
}
