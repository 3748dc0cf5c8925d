//! Reads: accounts, balances (now and on a date), transactions (filtered, every page), a payment's
//! status, and finding an order by its end-to-end id in the customer's list of orders.

use time::Date;

use super::ScreenBank;
use super::driver::{Browser, DriverError, FillValue};
use super::extract::{Page, Value};
use super::fail::{Fail, FlowResult};
use super::map::Paging;
use super::navigation::{url_encode, want_text};
use super::rows::{
    check_total, disagree, history, history_on, mistyped, model_word, shown_total, text,
};
use crate::bank::BankError;
use crate::model::{
    Account, AccountId, Balance, BalanceType, Currency, Direction, InvalidValue, PaymentId,
    PaymentKind, PaymentProduct, PaymentRef, PaymentStatus, Recurrence, Transaction,
    TransactionFilter,
};

/// Where a history read is in the list's pages: its address, its filter as a query, the links
/// followed and the page number reached.
pub(super) struct Pager {
    /// The history's address for the account.
    pub(super) address: String,
    /// The filter as the address's query, when the map gives the form's query.
    pub(super) filter_query: Option<String>,
    /// How the list pages.
    pub(super) paging: Paging,
    /// `next` links followed.
    links: std::collections::HashSet<String>,
    /// The page reached (`paging.page`).
    number: i64,
}

impl Pager {
    fn new(address: String, filter_query: Option<String>, paging: Paging) -> Self {
        Self {
            address,
            filter_query,
            paging,
            links: Default::default(),
            number: 1,
        }
    }

    /// The address with a query added.
    fn with_query(&self, query: &str) -> String {
        let sep = if self.address.contains('?') { '&' } else { '?' };
        format!("{}{sep}{query}", self.address)
    }

    /// The first page's address: filtered when there is a filter query.
    pub(super) fn first(&self) -> String {
        match &self.filter_query {
            Some(query) => self.with_query(query),
            None => self.address.clone(),
        }
    }

    /// Back at the first page (the read starts again, in the browser).
    fn restart(&mut self) {
        self.links.clear();
        self.number = 1;
    }
}

impl ScreenBank {
    /// The ISO 20022 status a screen shows, through the map's `payment_status` words.
    pub(super) fn status_on(&self, page: &Page<'_>, screen: &str) -> FlowResult<PaymentStatus> {
        let shown = want_text(page.required(screen, "status")?);
        let code = model_word(&self.inner.map, screen, "status", "payment_status", &shown)?;
        PaymentStatus::from_code(&code).ok_or_else(|| mistyped(screen, "status"))
    }

    /// The customer's accounts, from the overview.
    pub(super) async fn account_rows(&self, browser: &Browser) -> FlowResult<Vec<Account>> {
        let page = self.read_page(browser, "accounts", None).await?;
        let mut out = Vec::new();
        for row in page.table("accounts", "accounts")? {
            let iban = row
                .get("iban")
                .and_then(Value::iban)
                .cloned()
                .ok_or_else(|| mistyped("accounts", "accounts.iban"))?;
            // The account's currency: its own column, else its balance's, else the map's.
            let shown = text(&row, "currency");
            let currency = if !shown.is_empty() {
                Currency::from_code(&shown)?
            } else if let Some(booked) = row.get("booked").and_then(Value::amount) {
                booked.currency()
            } else {
                let code = self.inner.map.amounts.currency.clone().ok_or_else(|| {
                    mistyped("accounts", "accounts.currency (and the map gives none)")
                })?;
                Currency::from_code(&code)?
            };
            out.push(Account {
                id: AccountId::new(text(&row, "id")),
                iban,
                currency,
                name: text(&row, "name"),
                product: text(&row, "product"),
                owner_name: text(&row, "owner"),
            });
        }
        Ok(out)
    }

    /// The filter as the history screen's fields take it: only the fields the map has, in the
    /// website's words and date format.
    fn filter_values(&self, filter: &TransactionFilter) -> FlowResult<Vec<(&'static str, String)>> {
        let map = &self.inner.map;
        let screen = map.screen("history");
        let word = |table: &str, key: &str| -> FlowResult<String> {
            map.site_word(table, key).map(str::to_owned).ok_or_else(|| {
                mistyped("history", &format!("words.{table}.{key} (not in the map)"))
            })
        };
        let day = |d: Option<Date>| d.map(|d| map.dates.input(d)).unwrap_or_default();
        let direction = match filter.direction {
            None => "all",
            Some(Direction::Credit) => "credit",
            Some(Direction::Debit) => "debit",
        };
        let recurrence = match filter.recurrence {
            None => "all",
            Some(Recurrence::OneOff) => "one_off",
            Some(Recurrence::Recurring) => "recurring",
        };
        let mut values = Vec::new();
        for name in [
            "date_from",
            "date_to",
            "direction",
            "recurrence",
            "page_size",
        ] {
            if !screen.fields.contains_key(name) {
                continue;
            }
            let value = match name {
                "date_from" => day(filter.date_from),
                "date_to" => day(filter.date_to),
                "direction" => word("direction", direction)?,
                "recurrence" => word("recurrence", recurrence)?,
                _ => word("page_size", "largest")?,
            };
            values.push((name, value));
        }
        Ok(values)
    }

    /// The account's history under a filter's date, direction and recurrence (as far as the website
    /// filters; the caller applies the rest), every page of it: over HTTP on the session when the map
    /// allows it (`history_over_http`), else in the browser.
    pub(super) async fn read_transactions(
        &self,
        browser: &Browser,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> FlowResult<Vec<Transaction>> {
        let map = &self.inner.map;
        let screen = map.screen("history");
        let values = self.filter_values(filter)?;
        let filter_query = screen.query.as_ref().map(|query| {
            values.iter().fold(query.clone(), |q, (name, value)| {
                q.replace(&format!("{{{name}}}"), &url_encode(value))
            })
        });
        let mut pager = Pager::new(
            self.url("history", Some(account.as_str())),
            filter_query,
            screen.paging.clone().unwrap_or_default(),
        );
        // The filtered history at its own address (or no filter on the website): one page load.
        let at_address = pager.filter_query.is_some() || values.is_empty();
        if at_address {
            if let Some(rows) = self.history_over_http(browser, &mut pager).await? {
                return Ok(rows);
            }
            pager.restart();
        }
        match (at_address, screen.actions.get("filter")) {
            (true, _) => {
                self.pace().await;
                browser.goto(&pager.first()).await?;
            }
            (false, Some(action)) => {
                self.open(browser, "history", Some(account.as_str()))
                    .await?;
                let fields: Vec<(&str, FillValue)> = values
                    .iter()
                    .map(|(name, value)| (*name, FillValue::Text(value.clone())))
                    .collect();
                self.fill(browser, "history", &fields).await?;
                self.submit(browser, action).await?;
            }
            // Fields but neither a query nor a filter action: the contract refuses such a map.
            (false, None) => {
                self.pace().await;
                browser.goto(&pager.address).await?;
            }
        }
        let mut out = Vec::new();
        let mut total = None;
        loop {
            // Each page is parsed once: checked, its total, rows and next page read from that parse
            // (the parsed page is not kept across an await: it cannot leave its thread).
            let (source, next) = {
                let (source, page) = self.history_page(browser).await?;
                if total.is_none() {
                    total = shown_total(&page)?;
                }
                // "Load more" lists are read once everything is on the one page (below).
                let next = if pager.paging.more.is_some() {
                    None
                } else {
                    out.extend(history_on(map, &page)?);
                    Some(self.next_history_page(&page, &mut pager)?)
                };
                (source, next)
            };
            if let Some(more) = &pager.paging.more {
                // "Load more": click until everything is on the one page, then read it once.
                if self
                    .load_more(browser, &source, "history", more)
                    .await?
                    .is_some()
                {
                    continue;
                }
                out.extend(history(map, &source)?);
                break;
            }
            let Some(Some(next)) = next else {
                break;
            };
            self.pace().await;
            browser.goto(&next).await?;
        }
        check_total(total, out.len())?;
        Ok(out)
    }

    /// The address of the history's page after `page`, as the map's paging says; `None` after the
    /// last (or a link already followed: a website that links back is not followed round).
    pub(super) fn next_history_page(
        &self,
        page: &Page<'_>,
        pager: &mut Pager,
    ) -> FlowResult<Option<String>> {
        if let Some(next) = &pager.paging.next {
            return Ok(page
                .attribute(next, "href")
                .filter(|href| pager.links.insert(href.clone()))
                .map(|href| self.absolute(&href)));
        }
        let Some(page_query) = &pager.paging.page else {
            return Ok(None);
        };
        let pages = page.typed("history", "pages", Value::integer)?;
        if pager.number >= pages {
            return Ok(None);
        }
        pager.number += 1;
        let query = page_query.replace("{page}", &pager.number.to_string());
        Ok(Some(pager.with_query(&match &pager.filter_query {
            Some(f) => format!("{f}&{query}"),
            None => query,
        })))
    }

    /// Waits for a history page to be rendered — or to show something that will never render it (a
    /// refused filter, the login page, maintenance, the bank's error page) — and returns its source
    /// and the page parsed from it (once).
    async fn history_page(&self, browser: &Browser) -> FlowResult<(String, Page<'_>)> {
        let map = &self.inner.map;
        let screen = map.screen("history");
        let ready = screen
            .ready
            .clone()
            .unwrap_or_else(|| screen.is_here.clone());
        let mut settled = vec![format!("html:not([data-psd2-stale]) {ready}")];
        if let Some(error) = screen.values.get("error") {
            settled.push(error.css.clone());
        }
        for other in ["login", "maintenance", "error"] {
            if let Some(s) = map.get(other) {
                settled.push(s.is_here.clone());
            }
        }
        let waited = browser
            .wait_for(&settled.join(", "), self.inner.config.wait_timeout)
            .await;
        let source = browser.source().await?;
        let page = Page::new(&source, map);
        self.expect_on(&page, &["history"])?;
        if let Some(Value::Text(error)) = page.value("history", "error")? {
            return Err(Fail::Bank(BankError::Rejected {
                code: "FILTER_REFUSED".to_owned(),
                message: error,
            }));
        }
        match waited {
            Ok(()) if page.has(&ready) => Ok((source, page)),
            Ok(()) | Err(DriverError::Timeout(_)) => Err(Fail::Unexpected {
                screen: "history".to_owned(),
                selector: ready,
            }),
            Err(other) => Err(Fail::Driver(other)),
        }
    }

    /// The account's balances now (the types the website shows), or its closing balance on a day.
    pub(super) async fn read_balances(
        &self,
        browser: &Browser,
        account: &AccountId,
        at: Option<Date>,
    ) -> FlowResult<Vec<Balance>> {
        let Some(at) = at else {
            let page = self
                .read_page(browser, "balances", Some(account.as_str()))
                .await?;
            let today = page.value("balances", "today")?.and_then(|v| v.date());
            let closing_day = page
                .value("balances", "closing_date")?
                .and_then(|v| v.date());
            let mut out = Vec::new();
            for (name, kind, day) in [
                ("closing", BalanceType::ClosingBooked, closing_day),
                ("booked", BalanceType::InterimBooked, today),
                ("available", BalanceType::InterimAvailable, today),
                ("expected", BalanceType::Expected, today),
                // A forward balance is of no particular day.
                ("forward", BalanceType::ForwardAvailable, None),
            ] {
                if !self.inner.map.screen("balances").values.contains_key(name) {
                    continue;
                }
                out.push(Balance {
                    kind,
                    amount: page.typed("balances", name, Value::amount)?,
                    reference_date: day,
                });
            }
            return Ok(out);
        };
        self.open(browser, "balance_on_date", Some(account.as_str()))
            .await?;
        self.fill(
            browser,
            "balance_on_date",
            &[(
                "balance_date",
                FillValue::Text(self.inner.map.dates.input(at)),
            )],
        )
        .await?;
        let source = self
            .submit(browser, &self.action("balance_on_date", "show_balance"))
            .await?;
        self.expect(&source, &["balance_on_date"])?;
        let page = Page::new(&source, &self.inner.map);
        if let Some(error) = page.value("balance_on_date", "error")? {
            return Err(InvalidValue::new("date", want_text(error)).into());
        }
        let day = page.typed("balance_on_date", "balance_on_date_day", Value::date)?;
        if day != at {
            return Err(disagree(
                "balance_on_date_day".to_owned(),
                format!("the website shows the balance of {day}, not of {at}"),
            ));
        }
        Ok(vec![Balance {
            kind: BalanceType::ClosingBooked,
            amount: page.typed("balance_on_date", "balance_on_date", Value::amount)?,
            reference_date: Some(day),
        }])
    }

    /// A payment's status, from its detail page.
    pub(super) async fn status_of(
        &self,
        browser: &Browser,
        payment: &PaymentRef,
    ) -> FlowResult<PaymentStatus> {
        let page = self
            .read_page(browser, "payment", Some(payment.id.as_str()))
            .await?;
        self.status_on(&page, "payment")
    }

    /// A payment, standing order or file found by its end-to-end id (a file: its message id) in the
    /// customer's list of orders — every page of it, so `None` proves it absent.
    pub(super) async fn find_on_list(
        &self,
        browser: &Browser,
        reference: &str,
    ) -> FlowResult<Option<(PaymentRef, PaymentStatus)>> {
        let map = &self.inner.map;
        let screen = map.screen("payments");
        let paging = screen.paging.clone().unwrap_or_default();
        let mut source = self
            .read_at(browser, "payments", &self.url("payments", None))
            .await?;
        let mut links = std::collections::HashSet::new();
        let mut number = 1;
        loop {
            let longer = match &paging.more {
                Some(more) => self.load_more(browser, &source, "payments", more).await?,
                None => None,
            };
            if let Some(longer) = longer {
                source = longer;
                continue;
            }
            if let Some(found) = self.find_on_page(&source, reference)? {
                return Ok(Some(found));
            }
            let next = self.next_page(&source, &paging, &mut links, &mut number)?;
            let Some(next) = next else {
                return Ok(None);
            };
            source = self.read_at(browser, "payments", &next).await?;
        }
    }

    /// The address of the list of orders' next page (by link or by number), if there is one.
    fn next_page(
        &self,
        source: &str,
        paging: &Paging,
        links: &mut std::collections::HashSet<String>,
        number: &mut i64,
    ) -> FlowResult<Option<String>> {
        let page = Page::new(source, &self.inner.map);
        Ok(if let Some(next) = &paging.next {
            page.attribute(next, "href")
                .filter(|href| links.insert(href.clone()))
                .map(|href| self.absolute(&href))
        } else if let Some(page_query) = &paging.page {
            let pages = page.typed("payments", "pages", Value::integer)?;
            (*number < pages).then(|| {
                *number += 1;
                let address = self.url("payments", None);
                let sep = if address.contains('?') { '&' } else { '?' };
                format!(
                    "{address}{sep}{}",
                    page_query.replace("{page}", &number.to_string())
                )
            })
        } else {
            None
        })
    }

    /// Clicks a list's "load more" button when the page offers it and waits for the rows it adds:
    /// the page's new source, or `None` when everything is shown. A click that adds nothing while the
    /// button stays is a screen that no longer works as its map says.
    async fn load_more(
        &self,
        browser: &Browser,
        source: &str,
        screen: &str,
        more: &str,
    ) -> FlowResult<Option<String>> {
        let map = &self.inner.map;
        let rows = &map.screen(screen).tables[screen].rows;
        let offered =
            |page: &Page<'_>| page.has(more) && page.attribute(more, "disabled").is_none();
        let shown = {
            let page = Page::new(source, map);
            if !offered(&page) {
                return Ok(None);
            }
            page.count(rows)
        };
        self.pace().await;
        browser.click(more).await?;
        browser
            .wait_for_more(rows, more, shown, self.inner.config.wait_timeout)
            .await?;
        let longer = browser.source().await?;
        let stuck = {
            let page = Page::new(&longer, map);
            page.count(rows) == shown && offered(&page)
        };
        if stuck {
            return Err(Fail::Unexpected {
                screen: screen.to_owned(),
                selector: more.to_owned(),
            });
        }
        Ok(Some(longer))
    }

    /// The order with end-to-end id `reference` on one page of the list of orders, if it is there.
    fn find_on_page(
        &self,
        source: &str,
        reference: &str,
    ) -> FlowResult<Option<(PaymentRef, PaymentStatus)>> {
        let page = Page::new(source, &self.inner.map);
        for row in page.table("payments", "payments")? {
            if text(&row, "reference") != reference {
                continue;
            }
            let kind = match model_word(
                &self.inner.map,
                "payments",
                "payments.kind",
                "order_kind",
                &text(&row, "kind"),
            )?
            .as_str()
            {
                "instant_transfer" => {
                    PaymentKind::Single(PaymentProduct::InstantSepaCreditTransfer)
                }
                "transfer" => PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
                "standing_order" => PaymentKind::Periodic(PaymentProduct::SepaCreditTransfer),
                _ => PaymentKind::File,
            };
            let shown = text(&row, "status");
            let code = model_word(
                &self.inner.map,
                "payments",
                "payments.status",
                "payment_status",
                &shown,
            )?;
            let status =
                PaymentStatus::from_code(&code).ok_or_else(|| mistyped("payments", "status"))?;
            return Ok(Some((
                PaymentRef {
                    kind,
                    id: PaymentId::new(text(&row, "id")),
                },
                status,
            )));
        }
        Ok(None)
    }
}
