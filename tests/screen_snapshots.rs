//! Snapshots of extraction: every kind of sandbox page, in both layouts with their maps, read into
//! domain values by `screen::extract::Page`. The pages come from a real Chromium (the history is
//! rendered by a script) driven with the map's own fields and actions; the sandbox's day is pinned, so
//! the values are deterministic. Ids the test creates and challenges are redacted. When the markup
//! drifts, a selector finds nothing (the test fails naming it) or a value changes (a reviewable diff).

use std::path::{Path, PathBuf};
use std::time::Duration;

use psd2_fallback_engine::screen::driver::{Browser, Driver, FillValue, WebDriverTarget};
use psd2_fallback_engine::screen::extract::{Page, Value};
use psd2_fallback_engine::screen::map::ScreenMap;
use psd2_fallback_sandbox::{Sandbox, WebsiteFault, card_reader_response};

use crate::support::{browser, pain001, password, sandbox};

const ANNA: &str = "1000001";
const WAIT: Duration = Duration::from_secs(20);

/// A value as a snapshot shows it.
fn show(value: &Value) -> String {
    match value {
        Value::Text(t) => format!("{t:?}"),
        Value::Amount(a) => a.to_string(),
        Value::Date(d) => d.to_string(),
        Value::Iban(i) => i.as_str().to_owned(),
        Value::Integer(n) => n.to_string(),
    }
}

/// Reads the sandbox website in one layout, page by page, into snapshots.
struct Reader<'a> {
    map: ScreenMap,
    layout: &'a str,
    base: String,
    browser: Browser,
    /// Volatile texts (challenges, ids made by the test) and what the snapshots show instead.
    redact: Vec<(String, String)>,
}

impl Reader<'_> {
    fn url(&self, screen: &str, id: &str) -> String {
        let path = self.map.screens[screen]
            .url
            .clone()
            .expect("the screen has a url");
        format!("{}{}", self.base, path.replace("{id}", id))
    }

    async fn source(&self) -> String {
        self.browser.source().await.expect("the page source")
    }

    /// Waits until the browser shows `screen` (after a navigation or a submit).
    async fn arrive(&self, screen: &str) -> String {
        let is_here = &self.map.screens[screen].is_here;
        let css = format!("html:not([data-psd2-stale]) {is_here}");
        if let Err(e) = self.browser.wait_for(&css, WAIT).await {
            panic!(
                "{}: no {screen} screen ({e}):\n{}",
                self.layout,
                self.source().await
            );
        }
        if let Some(ready) = &self.map.screens[screen].ready {
            let css = format!("html:not([data-psd2-stale]) {ready}");
            self.browser.wait_for(&css, WAIT).await.expect("rendered");
        }
        self.source().await
    }

    async fn open(&self, url: &str, screen: &str) -> String {
        self.browser.goto(url).await.expect("the page loads");
        let source = self.source().await;
        if Page::new(&source, &self.map).is("cookie_banner") {
            let accept = &self.map.screens["cookie_banner"].actions["accept"];
            self.browser.click(accept).await.expect("the banner closes");
        }
        self.arrive(screen).await
    }

    async fn fill(&self, screen: &str, values: &[(&str, FillValue)]) {
        let def = &self.map.screens[screen];
        let fields: Vec<(String, FillValue)> = values
            .iter()
            .map(|(name, v)| (def.fields[*name].css.clone(), v.clone()))
            .collect();
        let missing = self.browser.fill_by_script(&fields).await.expect("filled");
        assert!(missing.is_empty(), "{}: {screen}: {missing:?}", self.layout);
    }

    async fn submit(&self, screen: &str, action: &str, next: &str) -> String {
        self.browser.mark_stale().await.expect("marked");
        let css = &self.map.screens[screen].actions[action];
        self.browser.click(css).await.expect("clicked");
        self.arrive(next).await
    }

    fn value(&self, source: &str, screen: &str, name: &str) -> String {
        let page = Page::new(source, &self.map);
        let value = page
            .required(screen, name)
            .unwrap_or_else(|e| panic!("{}: {e}", self.layout));
        match value {
            Value::Text(t) => t,
            other => show(&other),
        }
    }

    /// Every value of a screen, and every row of its tables, as `name: value` lines.
    fn render(&self, source: &str, screen: &str) -> String {
        let page = Page::new(source, &self.map);
        assert!(page.is(screen), "{}: the page is {screen}", self.layout);
        let def = &self.map.screens[screen];
        let mut out = String::new();
        for name in def.values.keys() {
            let value = page
                .value(screen, name)
                .unwrap_or_else(|e| panic!("{}: {e}", self.layout));
            let shown = value.as_ref().map(show).unwrap_or_else(|| "-".to_owned());
            out.push_str(&format!("{name}: {shown}\n"));
        }
        for name in def.tables.keys() {
            let rows = page
                .table(screen, name)
                .unwrap_or_else(|e| panic!("{}: {e}", self.layout));
            out.push_str(&format!("{name}: {} rows\n", rows.len()));
            for row in rows {
                let cells: Vec<String> = row
                    .iter()
                    .map(|(k, v)| format!("{k}={}", show(v)))
                    .collect();
                out.push_str(&format!("  - {}\n", cells.join(", ")));
            }
        }
        for (volatile, shown) in &self.redact {
            out = out.replace(volatile.as_str(), shown);
        }
        out
    }

    fn snapshot(&self, name: &str, source: &str, screen: &str) {
        let text = self.render(source, screen);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(format!(
            "{} ({screen} screen)",
            self.map.file.rsplit('/').next().unwrap_or("")
        ));
        settings.bind(|| {
            insta::assert_snapshot!(format!("extract_{}_{name}", self.layout), text);
        });
    }
}

async fn read_every_page(layout: &str, file: &str, fault: Option<WebsiteFault>) {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox: Sandbox = sandbox().await;
    if let Some(fault) = fault {
        sandbox.set_website_fault(fault);
    }
    let map_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("selectors")
        .join(file);
    let map = ScreenMap::load(&map_path).expect("the map loads");
    let driver = Driver::start(&WebDriverTarget::default(), Duration::from_secs(30))
        .await
        .expect("chromedriver starts");
    let browser = driver.new_browser().await.expect("a browser");
    let mut r = Reader {
        map,
        layout,
        base: sandbox.web_url(),
        browser,
        redact: Vec::new(),
    };

    // Login: a wrong password first (the error), then the right one and the card reader.
    let login = r.open(&r.url("login", ""), "login").await;
    r.snapshot("login", &login, "login");
    let fields = |pw: &str| {
        [
            ("customer", FillValue::Text(ANNA.to_owned())),
            ("password", FillValue::Text(pw.to_owned())),
        ]
    };
    r.fill("login", &fields("wrong-password")).await;
    let refused = r.submit("login", "submit", "login").await;
    r.snapshot("login_refused", &refused, "login");
    r.fill("login", &fields(password(ANNA))).await;
    let sca = r.submit("login", "submit", "sca").await;
    let challenge = r.value(&sca, "sca", "challenge");
    r.redact.push((challenge.clone(), "[challenge]".to_owned()));
    r.snapshot("sca", &sca, "sca");
    let response = card_reader_response(ANNA, &challenge);
    r.fill("sca", &[("response", FillValue::Text(response))])
        .await;
    r.submit("sca", "submit", "accounts").await;

    // Accounts and one account: balances, the first history page, a balance on a date, a filter.
    let accounts = r.open(&r.url("accounts", ""), "accounts").await;
    r.snapshot("accounts", &accounts, "accounts");
    let account = r.open(&r.url("account", "acc-01"), "account").await;
    r.snapshot("account", &account, "account");
    r.fill(
        "account",
        &[("balance_date", FillValue::Text("30/06/2026".to_owned()))],
    )
    .await;
    let on_date = r.submit("account", "show_balance", "account").await;
    r.snapshot("account_balance_on_date", &on_date, "account");
    let query = r.map.screens["account"].query.clone().expect("a query");
    let query = query
        .replace("{date_from}", "01%2F09%2F2026")
        .replace("{date_to}", "30%2F09%2F2026")
        .replace("{direction}", "debit")
        .replace("{recurrence}", "all")
        .replace("{page_size}", "50");
    let filtered = r
        .open(
            &format!("{}?{query}", r.url("account", "acc-01")),
            "account",
        )
        .await;
    r.snapshot("account_history_filtered", &filtered, "account");

    // A payment: the form, the read-back, the signing page, the result, the list, the detail.
    let debtor = sandbox.ledger().accounts(ANNA)[0].iban.to_string();
    r.open(&r.url("payment_new", ""), "payment_new").await;
    r.fill(
        "payment_new",
        &[
            ("debtor", FillValue::Text(debtor.clone())),
            ("creditor_name", FillValue::Text("Luc Janssens".to_owned())),
            (
                "creditor_iban",
                FillValue::Text("BE71096123456769".to_owned()),
            ),
            ("amount", FillValue::Text("1234,56".to_owned())),
            ("communication", FillValue::Text("Snapshot test".to_owned())),
            ("execution_date", FillValue::Text("30/11/2026".to_owned())),
            ("instant", FillValue::Checked(false)),
            ("reference", FillValue::Text("SNAP-PAY-1".to_owned())),
        ],
    )
    .await;
    let confirm = r.submit("payment_new", "submit", "payment_confirm").await;
    r.snapshot("payment_confirm", &confirm, "payment_confirm");
    let sign = r.submit("payment_confirm", "confirm", "sign").await;
    let id = r.value(&sign, "sign", "reference");
    let challenge = r.value(&sign, "sign", "challenge");
    r.redact.push((id.clone(), "[new payment]".to_owned()));
    r.redact.push((challenge.clone(), "[challenge]".to_owned()));
    r.snapshot("sign", &sign, "sign");
    let response = card_reader_response(ANNA, &challenge);
    r.fill("sign", &[("response", FillValue::Text(response))])
        .await;
    let result = r.submit("sign", "submit", "result").await;
    r.snapshot("result", &result, "result");
    let payments = r.open(&r.url("payments", ""), "payments").await;
    r.snapshot("payments", &payments, "payments");
    let detail = r.open(&r.url("payment", &id), "payment").await;
    r.snapshot("payment", &detail, "payment");

    // A standing order's read-back, cancelled on the page.
    r.open(&r.url("order_new", ""), "order_new").await;
    r.fill(
        "order_new",
        &[
            ("debtor", FillValue::Text(debtor.clone())),
            ("creditor_name", FillValue::Text("Huisbaas".to_owned())),
            (
                "creditor_iban",
                FillValue::Text("BE68539007547034".to_owned()),
            ),
            ("amount", FillValue::Text("750,00".to_owned())),
            ("communication", FillValue::Text("Huur".to_owned())),
            ("start_date", FillValue::Text("01/12/2026".to_owned())),
            ("end_date", FillValue::Text(String::new())),
            ("frequency", FillValue::Text("Monthly".to_owned())),
            ("day", FillValue::Text("1".to_owned())),
            ("reference", FillValue::Text("SNAP-SO-1".to_owned())),
        ],
    )
    .await;
    let order = r.submit("order_new", "submit", "order_confirm").await;
    r.snapshot("order_confirm", &order, "order_confirm");

    // A payment file's review page.
    r.open(&r.url("files", ""), "files").await;
    let xml = pain001(
        &debtor,
        &[("Luc Janssens", "BE71096123456769", "5.00")],
        "2026-11-24",
    );
    let staged = driver
        .folder()
        .unwrap_or(Path::new("/tmp"))
        .join("snapshot-file.xml");
    std::fs::write(&staged, xml).expect("the file is staged");
    let css = r.map.screens["files"].fields["file"].css.clone();
    r.browser.upload(&css, &staged).await.expect("uploaded");
    let review = r.submit("files", "upload", "file_review").await;
    let message_id = r.value(&review, "file_review", "message_id");
    r.redact
        .push((message_id, "[message id of the test file]".to_owned()));
    r.snapshot("file_review", &review, "file_review");

    let Reader { browser, .. } = r;
    browser.close().await;
    driver.shutdown();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn extraction_snapshots_layout_1() {
    read_every_page("v1", "sandbox.toml", None).await;
}

#[tokio::test]
async fn extraction_snapshots_layout_2() {
    read_every_page("v2", "sandbox-v2.toml", Some(WebsiteFault::LayoutV2)).await;
}
