//! Snapshots of extraction: every kind of sandbox page, on both websites (the first in both layouts)
//! with their maps, read into domain values by `ScreenMap::read` (what the screen channel reads from
//! the same page). The pages
//! come from a real Chromium (the history is rendered by a script) driven with the map's own fields
//! and actions; the sandbox's day is pinned, so the values are deterministic. Ids the test creates and
//! challenges are redacted, IBANs masked as the engine masks them. When the markup drifts, a selector finds nothing (the test fails naming
//! it) or a value changes (a reviewable diff).

use psd2_fallback_engine::screen::map::ScreenMap;
use psd2_fallback_engine::screen::{Reading, Value};
use psd2_fallback_sandbox::{Sandbox, card_reader_response};

use crate::support::browser::{Browser, FieldValue};
use crate::support::sites::{ACCOUNT, FIRST_V1, FIRST_V2, SECOND, Site};
use crate::support::{pain001, password, sandbox};

const ANNA: &str = "1000001";

/// A value as a snapshot shows it.
fn show(value: &Value) -> String {
    match value {
        Value::Text(t) => format!("{t:?}"),
        Value::Amount(a) => a.to_string(),
        Value::Date(d) => d.to_string(),
        Value::Iban(i) => i.as_str().to_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Flag(b) => b.to_string(),
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
        let path = path.replace("{account}", id).replace("{payment}", id);
        format!("{}{path}", self.base)
    }

    /// Waits until the browser shows `screen` (after a navigation or a submit), with its data rendered.
    async fn arrive(&self, screen: &str) -> String {
        let is_here = &self.map.screens[screen].is_here;
        self.browser
            .wait_for(&format!("html:not([data-psd2-stale]) {is_here}"))
            .await;
        if let Some(ready) = &self.map.screens[screen].ready {
            self.browser
                .wait_for(&format!("html:not([data-psd2-stale]) {ready}"))
                .await;
        }
        self.browser.source().await
    }

    async fn open(&self, url: &str, screen: &str) -> String {
        self.browser.goto(url).await;
        if self
            .browser
            .has(&self.map.screens["cookie_banner"].is_here)
            .await
        {
            let accept = &self.map.screens["cookie_banner"].actions["accept"];
            self.browser.click(accept).await;
        }
        self.arrive(screen).await
    }

    async fn fill(&self, screen: &str, values: &[(&str, FieldValue)]) {
        let def = &self.map.screens[screen];
        let fields: Vec<(String, FieldValue)> = values
            .iter()
            .map(|(name, v)| (def.fields[*name].css.clone(), v.clone()))
            .collect();
        let missing = self.browser.set_fields(&fields).await;
        assert!(missing.is_empty(), "{}: {screen}: {missing:?}", self.layout);
    }

    async fn submit(&self, screen: &str, action: &str, next: &str) -> String {
        self.browser.mark_stale().await;
        self.browser
            .click(&self.map.screens[screen].actions[action])
            .await;
        self.arrive(next).await
    }

    /// The page read as `screen` through the map; a failure names the layout, map, screen and selector.
    fn read(&self, source: &str, screen: &str) -> Reading {
        self.map
            .read(screen, source)
            .unwrap_or_else(|e| panic!("{}: {e}", self.layout))
    }

    /// A value the screen must show, as text.
    fn value(&self, source: &str, screen: &str, name: &str) -> String {
        let reading = self.read(source, screen);
        let value = reading
            .value(name)
            .unwrap_or_else(|| panic!("{}: {screen} shows no {name}", self.layout));
        match value {
            Value::Text(t) => t.clone(),
            other => show(other),
        }
    }

    /// Every value of a screen (or of several, joined by `+`, read from one page), and every row of
    /// its tables, as `name: value` lines.
    fn render(&self, source: &str, screens: &str) -> String {
        let readings: Vec<Reading> = screens
            .split('+')
            .map(|screen| self.read(source, screen))
            .collect();
        let mut values = std::collections::BTreeMap::new();
        let mut tables = std::collections::BTreeMap::new();
        for reading in &readings {
            values.extend(reading.values());
            tables.extend(reading.tables());
        }
        let mut out = String::new();
        for (name, value) in values {
            let shown = value.map(show).unwrap_or_else(|| "-".to_owned());
            out.push_str(&format!("{name}: {shown}\n"));
        }
        for (name, rows) in tables {
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
        // No full IBAN in a file of the repository: each keeps its country and last two characters.
        psd2_fallback_engine::mask::mask(&out, &[])
    }

    fn snapshot(&self, name: &str, source: &str, screen: &str) {
        let text = self.render(source, screen);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        let label = match screen {
            ACCOUNT => "account",
            "balances+balance_on_date" => "balances",
            other => other,
        };
        settings.set_description(format!(
            "{} ({label} screen)",
            self.map.file.rsplit('/').next().unwrap_or("")
        ));
        settings.bind(|| {
            insta::assert_snapshot!(format!("extract_{}_{name}", self.layout), text);
        });
    }
}

async fn read_every_page(site: Site) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let sandbox: Sandbox = sandbox().await;
    let map = ScreenMap::load(&site.map_path()).expect("the map loads");
    let layout = site.layout;
    let mut r = Reader {
        map,
        layout,
        base: site.base(&sandbox),
        browser,
        redact: Vec::new(),
    };

    // Login: a wrong password first (the error), then the right one and the card reader.
    let login = r.open(&r.url("login", ""), "login").await;
    r.snapshot("login", &login, "login");
    let refused = log_in(&r, &site, "wrong-password", "login", false).await;
    r.snapshot("login_refused", &refused, "login");
    let sca = log_in(&r, &site, password(ANNA), "sca", true).await;
    let challenge = r.value(&sca, "sca", "challenge");
    r.redact.push((challenge.clone(), "[challenge]".to_owned()));
    r.snapshot("sca", &sca, "sca");
    let response = card_reader_response(ANNA, &challenge);
    r.fill("sca", &[("response", FieldValue::Text(response))])
        .await;
    r.submit("sca", "submit", "accounts").await;

    // Accounts and one account: balances, a balance on a date, the history (first batch), a filter.
    let accounts = r.open(&r.url("accounts", ""), "accounts").await;
    r.snapshot("accounts", &accounts, "accounts");
    let (balance_screens, history_screens) = site.account_screens();
    let balances_page = if site.second { "balances" } else { "history" };
    let account = r.open(&r.url(balances_page, "acc-01"), balances_page).await;
    r.snapshot("account", &account, balance_screens);
    r.fill(
        "balance_on_date",
        &[("balance_date", FieldValue::Text(site.typed("30/06/2026")))],
    )
    .await;
    let on_date = r
        .submit("balance_on_date", "show_balance", balances_page)
        .await;
    r.snapshot("account_balance_on_date", &on_date, balance_screens);
    if site.second {
        let history = r.open(&r.url("history", "acc-01"), "history").await;
        r.snapshot("account_history", &history, history_screens);
    }
    let (monthly, debit, all) = site.options();
    let query = r.map.screens["history"].query.clone().expect("a query");
    let query = query
        .replace("{date_from}", &site.typed("01/09/2026").replace('/', "%2F"))
        .replace("{date_to}", &site.typed("30/09/2026").replace('/', "%2F"))
        .replace("{direction}", debit)
        .replace("{recurrence}", all)
        .replace("{page_size}", "50");
    let filtered = r
        .open(
            &format!("{}?{query}", r.url("history", "acc-01")),
            "history",
        )
        .await;
    r.snapshot("account_history_filtered", &filtered, history_screens);

    // A payment: the form, the read-back, the signing page, the result, the list, the detail.
    let first = sandbox.ledger().accounts(ANNA)[0].clone();
    let debtor = site.debtor(&first);
    r.open(&r.url("payment_new", ""), "payment_new").await;
    r.fill(
        "payment_new",
        &[
            ("debtor", FieldValue::Text(debtor.clone())),
            ("creditor_name", FieldValue::Text("Luc Janssens".to_owned())),
            (
                "creditor_iban",
                FieldValue::Text("BE71096123456769".to_owned()),
            ),
            ("amount", FieldValue::Text("1234,56".to_owned())),
            (
                "communication",
                FieldValue::Text("Snapshot test".to_owned()),
            ),
            ("execution_date", FieldValue::Text(site.typed("30/11/2026"))),
            ("instant", FieldValue::Checked(false)),
            ("reference", FieldValue::Text("SNAP-PAY-1".to_owned())),
        ],
    )
    .await;
    let confirm = r.submit("payment_new", "submit", "payment_confirm").await;
    r.snapshot("payment_confirm", &confirm, "payment_confirm");
    let sign = if site.second {
        // Confirming leads to a choice of signing method first (the map's `sign_method`).
        let method = r.submit("payment_confirm", "confirm", "sign_method").await;
        let id = r.value(&method, "sign_method", "reference");
        r.redact.push((id, "[new payment]".to_owned()));
        r.snapshot("sign_method", &method, "sign_method");
        r.submit("sign_method", "choose", "sign").await
    } else {
        r.submit("payment_confirm", "confirm", "sign").await
    };
    let id = r.value(&sign, "sign", "reference");
    let challenge = r.value(&sign, "sign", "challenge");
    r.redact.push((id.clone(), "[new payment]".to_owned()));
    r.redact.push((challenge.clone(), "[challenge]".to_owned()));
    r.snapshot("sign", &sign, "sign");
    let response = card_reader_response(ANNA, &challenge);
    r.fill("sign", &[("response", FieldValue::Text(response))])
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
            ("debtor", FieldValue::Text(debtor.clone())),
            ("creditor_name", FieldValue::Text("Huisbaas".to_owned())),
            (
                "creditor_iban",
                FieldValue::Text("BE68539007547034".to_owned()),
            ),
            ("amount", FieldValue::Text("750,00".to_owned())),
            ("communication", FieldValue::Text("Huur".to_owned())),
            ("start_date", FieldValue::Text(site.typed("01/12/2026"))),
            ("end_date", FieldValue::Text(String::new())),
            ("frequency", FieldValue::Text(monthly.to_owned())),
            ("day", FieldValue::Text("1".to_owned())),
            ("reference", FieldValue::Text("SNAP-SO-1".to_owned())),
        ],
    )
    .await;
    let order = r.submit("order_new", "submit", "order_confirm").await;
    r.snapshot("order_confirm", &order, "order_confirm");

    // A payment file's review page.
    r.open(&r.url("files", ""), "files").await;
    let xml = pain001(
        first.iban.as_str(),
        &[("Luc Janssens", "BE71096123456769", "5.00")],
        "2026-11-24",
    );
    // One file per layout and run: both layouts run at once.
    let staged =
        std::env::temp_dir().join(format!("snapshot-file-{layout}-{}.xml", std::process::id()));
    std::fs::write(&staged, xml).expect("the file is staged");
    let css = r.map.screens["files"].fields["file"].css.clone();
    r.browser.upload(&css, &staged).await;
    let review = r.submit("files", "upload", "file_review").await;
    let _ = std::fs::remove_file(&staged);
    let message_id = r.value(&review, "file_review", "message_id");
    r.redact
        .push((message_id, "[message id of the test file]".to_owned()));
    r.snapshot("file_review", &review, "file_review");

    let Reader { browser, .. } = r;
    browser.close().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn extraction_snapshots_layout_1() {
    read_every_page(FIRST_V1).await;
}

#[tokio::test]
async fn extraction_snapshots_layout_2() {
    read_every_page(FIRST_V2).await;
}

#[tokio::test]
async fn extraction_snapshots_second_website() {
    read_every_page(SECOND).await;
}

/// Submits the login with a password and waits for `next`. The second website asks for the password
/// on a page of its own after the customer number (its map's `login_password` step), snapshotted on
/// the way when `snapshot` is set.
async fn log_in(r: &Reader<'_>, site: &Site, pw: &str, next: &str, snapshot: bool) -> String {
    let customer = ("customer", FieldValue::Text(ANNA.to_owned()));
    if !site.second {
        r.fill(
            "login",
            &[customer, ("password", FieldValue::Text(pw.to_owned()))],
        )
        .await;
        return r.submit("login", "submit", next).await;
    }
    r.fill("login", &[customer]).await;
    let step = r.submit("login", "submit", "login_password").await;
    if snapshot {
        r.snapshot("login_password", &step, "login_password");
    }
    r.fill(
        "login_password",
        &[("password", FieldValue::Text(pw.to_owned()))],
    )
    .await;
    r.submit("login_password", "submit", next).await
}
