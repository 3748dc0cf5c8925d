//! Reads: accounts, balances (now and on a date), transactions (filtered, every page), a payment's
//! status, and finding an order by its end-to-end id in the customer's list of orders.

use time::Date;

use super::ScreenBank;
use super::driver::{Browser, DriverError, FillValue};
use super::extract::{ExtractError, Page, Record, Value};
use super::fail::{Fail, FlowResult};
use super::navigation::{url_encode, want_text};
use crate::bank::BankError;
use crate::model::belgian::format_date;
use crate::model::{
    Account, AccountId, Amount, Balance, BalanceType, BookingStatus, Counterparty, Currency,
    Direction, EndToEndId, InvalidValue, PaymentId, PaymentKind, PaymentProduct, PaymentRef,
    PaymentStatus, Recurrence, Transaction, TransactionFilter, TransactionId,
};

/// A column's text, empty when the row has none.
fn text(record: &Record, key: &str) -> String {
    record
        .get(key)
        .and_then(Value::text)
        .unwrap_or_default()
        .to_owned()
}

/// A column's date, when the row has one.
fn date(record: &Record, key: &str) -> Option<Date> {
    match record.get(key) {
        Some(Value::Date(d)) => Some(*d),
        _ => None,
    }
}

/// The ISO 20022 status a screen shows.
pub(super) fn status_on(page: &Page<'_>, screen: &str) -> FlowResult<PaymentStatus> {
    let code = want_text(page.required(screen, "status")?);
    PaymentStatus::from_code(&code).ok_or_else(|| {
        Fail::Extract(ExtractError::Unparsable {
            screen: screen.to_owned(),
            item: "status".to_owned(),
            reason: format!("{code:?} is not an ISO 20022 status"),
        })
    })
}

impl ScreenBank {
    /// The customer's accounts, from the overview.
    pub(super) async fn account_rows(&self, browser: &Browser) -> FlowResult<Vec<Account>> {
        let source = self.open(browser, "accounts", None).await?;
        let page = Page::new(&source, &self.inner.map);
        let mut out = Vec::new();
        for row in page.table("accounts", "accounts")? {
            let iban = match row.get("iban") {
                Some(Value::Iban(i)) => i.clone(),
                _ => unreachable!("the iban column parses as an IBAN"),
            };
            out.push(Account {
                id: AccountId::new(text(&row, "id")),
                iban,
                currency: Currency::from_code(&text(&row, "currency"))?,
                name: text(&row, "name"),
                product: text(&row, "product"),
                owner_name: text(&row, "owner"),
            });
        }
        Ok(out)
    }

    /// One page of history rows as transactions.
    fn history(&self, source: &str) -> FlowResult<Vec<Transaction>> {
        let page = Page::new(source, &self.inner.map);
        let mut out = Vec::new();
        for row in page.table("account", "history")? {
            let status = match text(&row, "status").as_str() {
                "Pending" => BookingStatus::Pending,
                _ => BookingStatus::Booked,
            };
            let amount = match row.get("amount") {
                Some(Value::Amount(a)) => *a,
                _ => unreachable!("the amount column parses as an amount"),
            };
            let name = text(&row, "name");
            let iban = match row.get("iban") {
                Some(Value::Iban(i)) => Some(i.clone()),
                _ => None,
            };
            let counterparty =
                (!name.is_empty() || iban.is_some()).then_some(Counterparty { name, iban });
            let e2e = text(&row, "e2e");
            let order = text(&row, "order");
            let code = text(&row, "code");
            let remittance = text(&row, "communication");
            out.push(Transaction {
                id: TransactionId::new(text(&row, "id")),
                status,
                booking_date: date(&row, "booking_date"),
                value_date: date(&row, "value_date")
                    .or(date(&row, "date"))
                    .unwrap_or(Date::MIN),
                amount,
                counterparty,
                remittance: (!remittance.is_empty()).then_some(remittance),
                bank_transaction_code: (!code.is_empty()).then_some(code),
                end_to_end_id: if e2e.is_empty() {
                    None
                } else {
                    Some(EndToEndId::new(e2e)?)
                },
                standing_order: (!order.is_empty()).then(|| PaymentId::new(order)),
            });
        }
        Ok(out)
    }

    /// The account's history under a filter's date, direction and recurrence, every page of it.
    pub(super) async fn read_transactions(
        &self,
        browser: &Browser,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> FlowResult<Vec<Transaction>> {
        let direction = match filter.direction {
            None => "all",
            Some(Direction::Credit) => "credit",
            Some(Direction::Debit) => "debit",
        };
        let recurrence = match filter.recurrence {
            None => "all",
            Some(Recurrence::OneOff) => "one-off",
            Some(Recurrence::Recurring) => "recurring",
        };
        let day = |d: Option<Date>| d.map(format_date).unwrap_or_default();
        let values = [
            ("date_from", day(filter.date_from)),
            ("date_to", day(filter.date_to)),
            ("direction", direction.to_owned()),
            ("recurrence", recurrence.to_owned()),
            ("page_size", "500".to_owned()),
        ];
        let ready = self
            .inner
            .map
            .screen("account")
            .ready
            .clone()
            .unwrap_or_default();
        let next = self.action("account", "next_page");
        match self.inner.map.screen("account").query.clone() {
            // One page load: the filtered history at its own address, as the form would ask for it.
            Some(query) => {
                let query = values.iter().fold(query, |q, (name, value)| {
                    q.replace(&format!("{{{name}}}"), &url_encode(value))
                });
                self.pace().await;
                browser
                    .goto(&format!(
                        "{}?{query}",
                        self.url("account", Some(account.as_str()))
                    ))
                    .await?;
            }
            None => {
                self.open(browser, "account", Some(account.as_str()))
                    .await?;
                let fields: Vec<(&str, FillValue)> = values
                    .iter()
                    .map(|(name, value)| (*name, FillValue::Text(value.clone())))
                    .collect();
                self.fill(browser, "account", &fields).await?;
                self.submit(browser, &self.action("account", "filter"))
                    .await?;
            }
        }
        // Each page is read once, when its script has rendered the history — or as soon as the page
        // shows something that will never render it (a refused filter, the login page, maintenance,
        // the bank's error page), so those are known without waiting out the limit.
        let map = &self.inner.map;
        let mut settled = vec![format!("html:not([data-psd2-stale]) {ready}")];
        settled.push(map.screen("account").values["error"].css.clone());
        for screen in ["login", "maintenance", "error"] {
            settled.push(map.screen(screen).is_here.clone());
        }
        let settled = settled.join(", ");
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let waited = browser
                .wait_for(&settled, self.inner.config.wait_timeout)
                .await;
            let source = browser.source().await?;
            self.expect(&source, &["account"])?;
            let (error, rendered, href) = {
                let page = Page::new(&source, map);
                (
                    page.value("account", "error")?,
                    page.has(&ready),
                    page.attribute(&next, "href"),
                )
            };
            if let Some(Value::Text(error)) = error {
                return Err(Fail::Bank(BankError::Rejected {
                    code: "FILTER_REFUSED".to_owned(),
                    message: error,
                }));
            }
            match waited {
                Ok(()) if rendered => {}
                Ok(()) | Err(DriverError::Timeout(_)) => {
                    return Err(Fail::Unexpected {
                        screen: "account".to_owned(),
                        selector: ready.clone(),
                    });
                }
                Err(other) => return Err(Fail::Driver(other)),
            }
            out.extend(self.history(&source)?);
            match href {
                Some(href) if seen.insert(href.clone()) => {
                    self.pace().await;
                    browser.goto(&format!("{}{href}", self.inner.base)).await?;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// The account's balances now, or its closing balance on a day.
    pub(super) async fn read_balances(
        &self,
        browser: &Browser,
        account: &AccountId,
        at: Option<Date>,
    ) -> FlowResult<Vec<Balance>> {
        let source = self
            .open(browser, "account", Some(account.as_str()))
            .await?;
        let amount = |page: &Page<'_>, name: &str| -> FlowResult<Amount> {
            match page.required("account", name)? {
                Value::Amount(a) => Ok(a),
                _ => unreachable!("balances parse as amounts"),
            }
        };
        let day = |page: &Page<'_>, name: &str| -> FlowResult<Date> {
            match page.required("account", name)? {
                Value::Date(d) => Ok(d),
                _ => unreachable!("dates parse as dates"),
            }
        };
        let Some(at) = at else {
            let page = Page::new(&source, &self.inner.map);
            let today = day(&page, "today")?;
            let balance = |kind, amount, date| Balance {
                kind,
                amount,
                reference_date: Some(date),
            };
            return Ok(vec![
                balance(
                    BalanceType::ClosingBooked,
                    amount(&page, "closing")?,
                    day(&page, "closing_date")?,
                ),
                balance(BalanceType::InterimBooked, amount(&page, "booked")?, today),
                balance(
                    BalanceType::InterimAvailable,
                    amount(&page, "available")?,
                    today,
                ),
                balance(BalanceType::Expected, amount(&page, "expected")?, today),
                // A forward balance is of no particular day.
                Balance {
                    kind: BalanceType::ForwardAvailable,
                    amount: amount(&page, "forward")?,
                    reference_date: None,
                },
            ]);
        };
        self.fill(
            browser,
            "account",
            &[("balance_date", FillValue::Text(format_date(at)))],
        )
        .await?;
        let source = self
            .submit(browser, &self.action("account", "show_balance"))
            .await?;
        self.expect(&source, &["account"])?;
        let page = Page::new(&source, &self.inner.map);
        if let Some(error) = page.value("account", "error")? {
            return Err(InvalidValue::new("date", want_text(error)).into());
        }
        Ok(vec![Balance {
            kind: BalanceType::ClosingBooked,
            amount: amount(&page, "balance_on_date")?,
            reference_date: Some(day(&page, "balance_on_date_day")?),
        }])
    }

    /// A payment's status, from its detail page.
    pub(super) async fn status_of(
        &self,
        browser: &Browser,
        payment: &PaymentRef,
    ) -> FlowResult<PaymentStatus> {
        let source = self
            .open(browser, "payment", Some(payment.id.as_str()))
            .await?;
        status_on(&Page::new(&source, &self.inner.map), "payment")
    }

    /// A payment, standing order or file found by its end-to-end id (a file: its message id) in the
    /// customer's list of orders — every page of it, so `None` proves it absent.
    pub(super) async fn find_on_list(
        &self,
        browser: &Browser,
        reference: &str,
    ) -> FlowResult<Option<(PaymentRef, PaymentStatus)>> {
        let next = self.inner.map.screen("payments").actions.get("next_page");
        let mut source = self.open(browser, "payments", None).await?;
        let mut seen = std::collections::HashSet::new();
        loop {
            if let Some(found) = self.find_on_page(&source, reference)? {
                return Ok(Some(found));
            }
            let href =
                next.and_then(|next| Page::new(&source, &self.inner.map).attribute(next, "href"));
            match href {
                Some(href) if seen.insert(href.clone()) => {
                    self.pace().await;
                    browser.goto(&format!("{}{href}", self.inner.base)).await?;
                    source = browser.source().await?;
                    self.expect(&source, &["payments"])?;
                }
                _ => return Ok(None),
            }
        }
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
            let kind = match text(&row, "kind").as_str() {
                "Instant transfer" => {
                    PaymentKind::Single(PaymentProduct::InstantSepaCreditTransfer)
                }
                "Transfer" => PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
                "Standing order" => PaymentKind::Periodic(PaymentProduct::SepaCreditTransfer),
                "Payment file" => PaymentKind::File,
                other => {
                    return Err(Fail::Extract(ExtractError::Unparsable {
                        screen: "payments".to_owned(),
                        item: "kind".to_owned(),
                        reason: format!("{other:?} is not a known kind of order"),
                    }));
                }
            };
            let code = text(&row, "status");
            let status = PaymentStatus::from_code(&code).ok_or_else(|| {
                Fail::Extract(ExtractError::Unparsable {
                    screen: "payments".to_owned(),
                    item: "status".to_owned(),
                    reason: format!("{code:?} is not an ISO 20022 status"),
                })
            })?;
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
