//! The selector check (`psd2-fallback selectors check`): every selector of a screen map tried on the
//! live website, so a map author sees in one run which ones the website no longer matches. It logs in
//! (the challenge answered through the `ScaRelay`), visits every screen the map declares — reads by
//! their addresses, and the first step of each write: the form is filled with a harmless payment and
//! submitted up to its confirmation screen, which is checked and then cancelled, never confirmed.
//! The choice of signing method (`sign_method`, when the map gives its address) is checked on an
//! order already waiting for its signature; the signing page itself is not opened (it would start a
//! challenge).

use super::ScreenBank;
use super::contract::{CONTRACT, Must, Need};
use super::driver::{Browser, FillValue};
use super::extract::{Page, Value};
use super::fail::FlowResult;
use super::flow::Effect;
use super::map::{OptionMatch, Screen};
use crate::bank::{Bank, BankResult, PsuContext};
use crate::model::{Account, AccountId};

/// One selector of a screen map, checked against the live website.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorCheck {
    /// The map file.
    pub file: String,
    /// The screen.
    pub screen: String,
    /// The key in the map (`is_here`, `fields.password`, `tables.history.columns.amount`, …).
    pub key: String,
    /// The CSS selector.
    pub selector: String,
    /// Whether it matched; `None` when the screen could not be visited (no order waits for a
    /// signature, no payment file to upload), with the reason in `note`.
    pub matched: Option<bool>,
    /// Whether the flows fail without it (a value marked optional, a link to a next page, an action
    /// only some pages show are not).
    pub required: bool,
    /// Why a screen was not visited, or what the website said when a form was refused.
    pub note: Option<String>,
}

impl SelectorCheck {
    /// Whether this is a problem: a required selector that the page did not match.
    pub fn is_problem(&self) -> bool {
        self.required && self.matched == Some(false)
    }
}

/// Whether the contract lets a website lack this action.
fn optional_action(screen: &str, name: &str) -> bool {
    CONTRACT.iter().any(|(s, need, must)| {
        *s == screen && matches!(need, Need::Action(a) if *a == name) && *must == Must::Optional
    })
}

/// Every selector of a screen, as (key, selector, required).
fn selectors_of(name: &str, screen: &Screen) -> Vec<(String, String, bool)> {
    let mut out = vec![("is_here".to_owned(), screen.is_here.clone(), true)];
    if let Some(ready) = &screen.ready {
        out.push(("ready".to_owned(), ready.clone(), true));
    }
    for (k, f) in &screen.fields {
        out.push((format!("fields.{k}"), f.css.clone(), true));
    }
    for (k, a) in &screen.actions {
        out.push((format!("actions.{k}"), a.clone(), !optional_action(name, k)));
    }
    for (k, v) in &screen.values {
        let required = !v.optional && v.parse != super::map::Parse::Presence;
        out.push((format!("values.{k}"), v.css.clone(), required));
    }
    if let Some(paging) = &screen.paging {
        for (k, css) in [("next", &paging.next), ("more", &paging.more)] {
            if let Some(css) = css {
                // The last page has no link to a next one, and everything shown has no button.
                out.push((format!("paging.{k}"), css.clone(), false));
            }
        }
    }
    for (k, t) in &screen.tables {
        out.push((format!("tables.{k}.rows"), t.rows.clone(), true));
        // Where the JSON a script draws the list from is (read over HTTP instead of the list).
        if let Some(json) = &t.json {
            if let Some(island) = &json.island {
                out.push((format!("tables.{k}.json.island"), island.clone(), true));
            }
            if let Some(call) = &json.call {
                out.push((
                    format!("tables.{k}.json.call"),
                    format!("{}[{}]", call.css, call.attribute),
                    true,
                ));
            }
        }
        for (c, v) in &t.columns {
            if v.css != "." {
                let required = !v.optional && v.parse != super::map::Parse::Presence;
                out.push((
                    format!("tables.{k}.columns.{c}"),
                    format!("{} {}", t.rows, v.css),
                    required,
                ));
            }
        }
    }
    out
}

/// The screens the login walks: their selectors were used, so they matched.
const AT_LOGIN: &[&str] = &["login", "sca"];

/// Screens reached by submitting a form: (form, what follows it).
const FORMS: &[(&str, &str)] = &[
    ("payment_new", "payment_confirm"),
    ("order_new", "order_confirm"),
];

impl ScreenBank {
    /// Logs in and walks every screen of the map, checking each selector on the live page.
    pub async fn check_selectors(&self, psu: &PsuContext) -> BankResult<Vec<SelectorCheck>> {
        let accounts = self.accounts(psu).await?;
        self.run(psu, Effect::Safe, move |bank, browser| {
            let accounts = accounts.clone();
            Box::pin(async move { bank.walk(browser, &accounts).await })
        })
        .await
    }

    /// Visits every screen and tries each of its selectors on the page.
    async fn walk(
        &self,
        browser: &Browser,
        accounts: &[Account],
    ) -> FlowResult<Vec<SelectorCheck>> {
        let map = &self.inner.map;
        let first = accounts.first().map(|a| a.id.clone());
        let mut pages: Vec<(String, Result<String, String>)> = Vec::new();
        // A payment on the list of orders, for the screens of one payment; and one waiting for its
        // signature (its status `RCVD` through the map's words), for the choice of signing method.
        let mut payment = None;
        let mut unsigned = None;
        if map.get("payments").is_some_and(|s| s.url.is_some()) {
            let source = self.visit(browser, "payments", None).await?;
            let page = Page::new(&source, map);
            let rows = page.table("payments", "payments").unwrap_or_default();
            let id = |row: &super::extract::Record| {
                row.get("id").and_then(Value::text).map(str::to_owned)
            };
            payment = rows.first().and_then(id);
            unsigned = rows
                .iter()
                .find(|row| {
                    let shown = row.get("status").and_then(Value::text).unwrap_or_default();
                    map.model_word("payment_status", shown) == Some("RCVD")
                })
                .and_then(id);
        }
        for (name, screen) in &map.screens {
            if AT_LOGIN.contains(&name.as_str())
                || map.login_steps.contains(name)
                || FORMS.iter().any(|(_, next)| next == name)
            {
                continue;
            }
            let Some(url) = &screen.url else {
                pages.push((
                    name.clone(),
                    Err("no address: reached only through another screen".to_owned()),
                ));
                continue;
            };
            let id = if url.contains("{account}") {
                first.as_ref().map(AccountId::to_string)
            } else if url.contains("{payment}") && name == "sign_method" {
                // Its page only shows the methods: opening it signs nothing and starts no challenge.
                unsigned.clone()
            } else if url.contains("{payment}") {
                payment.clone()
            } else {
                Some(String::new())
            };
            match id {
                Some(_) if name == "sign" => pages.push((
                    name.clone(),
                    Err("not visited: only an order waiting for its signature shows it".to_owned()),
                )),
                Some(id) => {
                    let source = self.visit(browser, name, Some(&id)).await?;
                    pages.push((name.clone(), Ok(source)));
                    let next = FORMS.iter().find(|(form, _)| form == name);
                    if let Some((_, next)) = next.filter(|(_, next)| map.get(next).is_some()) {
                        let reached = self.first_step(browser, name, next, accounts).await?;
                        pages.push(((*next).to_owned(), reached));
                    }
                }
                None if name == "sign_method" => pages.push((
                    name.clone(),
                    Err("not visited: no order waits for its signature".to_owned()),
                )),
                None => pages.push((
                    name.clone(),
                    Err("not visited: no account or order to show".to_owned()),
                )),
            }
        }
        let mut out = Vec::new();
        let at_login = AT_LOGIN
            .iter()
            .copied()
            .chain(map.login_steps.iter().map(String::as_str).skip(1));
        for name in at_login {
            if let Some(screen) = map.get(name) {
                for (key, selector, required) in selectors_of(name, screen) {
                    let used = required && !key.starts_with("values.error");
                    out.push(SelectorCheck {
                        file: map.file.clone(),
                        screen: name.to_owned(),
                        key,
                        selector,
                        matched: used.then_some(true),
                        required,
                        note: (!used).then(|| "only shown on a refusal".to_owned()),
                    });
                }
            }
        }
        for (name, source) in pages {
            let Some(screen) = map.get(&name) else {
                continue;
            };
            let page = source.as_ref().ok().map(|s| Page::new(s, map));
            for (key, selector, required) in selectors_of(&name, screen) {
                out.push(SelectorCheck {
                    file: map.file.clone(),
                    screen: name.clone(),
                    key,
                    matched: page.as_ref().map(|p| p.has(&selector)),
                    required,
                    selector,
                    note: source.as_ref().err().cloned(),
                });
            }
        }
        Ok(out)
    }

    /// Opens a screen by its address and waits for its data, whatever the page turns out to be.
    async fn visit(&self, browser: &Browser, name: &str, id: Option<&str>) -> FlowResult<String> {
        self.pace().await;
        browser.goto(&self.url(name, id)).await?;
        let source = browser.source().await?;
        self.cookies(browser, &source).await?;
        if let Some(ready) = &self.inner.map.screen(name).ready {
            let _ = browser
                .wait_for(ready, self.inner.config.wait_timeout)
                .await;
        }
        Ok(browser.source().await?)
    }

    /// The first step of a write: the form filled with a harmless order between the customer's own
    /// accounts and submitted; the confirmation screen it leads to is returned and then cancelled.
    async fn first_step(
        &self,
        browser: &Browser,
        form: &str,
        next: &str,
        accounts: &[Account],
    ) -> FlowResult<Result<String, String>> {
        let map = &self.inner.map;
        let (Some(from), Some(to)) = (accounts.first(), accounts.last()) else {
            return Ok(Err("not reached: the customer has no account".to_owned()));
        };
        let later = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
        let mut values = vec![
            (
                "debtor",
                FillValue::Text(match map.screen(form).fields["debtor"].option {
                    OptionMatch::AccountId => from.id.to_string(),
                    _ => from.iban.as_str().to_owned(),
                }),
            ),
            ("creditor_name", FillValue::Text(to.owner_name.clone())),
            (
                "creditor_iban",
                FillValue::Text(to.iban.as_str().to_owned()),
            ),
            (
                "amount",
                FillValue::Text(map.amounts.input(rust_decimal::Decimal::new(1, 2))),
            ),
            (
                "communication",
                FillValue::Text("selectors check".to_owned()),
            ),
            (
                "reference",
                FillValue::Text(format!(
                    "CHECK-{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..16]
                )),
            ),
        ];
        if form == "order_new" {
            let monthly = map.site_word("frequency", "Monthly").unwrap_or("Monthly");
            values.push(("start_date", FillValue::Text(map.dates.input(later))));
            values.push(("frequency", FillValue::Text(monthly.to_owned())));
        }
        let fields = &map.screen(form).fields;
        values.retain(|(name, _)| fields.contains_key(*name));
        self.fill(browser, form, &values).await?;
        let source = self.submit(browser, &self.action(form, "submit")).await?;
        if !Page::new(&source, map).is(next) {
            let refusal = match self.refusal(&source, form, "FORM_REFUSED") {
                super::fail::Fail::Bank(e) => e.to_string(),
                _ => String::new(),
            };
            return Ok(Err(format!(
                "not reached: the form was refused ({refusal})"
            )));
        }
        // Never confirmed: the order is cancelled on its confirmation screen.
        if let Some(cancel) = map.screen(next).actions.get("cancel") {
            let _ = self.submit(browser, cancel).await;
        }
        Ok(Ok(source))
    }
}
