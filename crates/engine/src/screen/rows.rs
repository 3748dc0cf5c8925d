//! History rows into transactions, pure (HTML and map in, transactions out), with the cross-checks
//! that turn a misread page into an error instead of wrong numbers: a row's debit/credit word against
//! its amount's sign, a running balance against the amounts between, a list's shown total against the
//! rows read.

use rust_decimal::Decimal;
use time::Date;

use super::extract::{ExtractError, Page, Record, Value};
use super::fail::{Fail, FlowResult};
use super::map::ScreenMap;
use crate::bank::{BankError, Channel};
use crate::model::{
    BookingStatus, Counterparty, EndToEndId, PaymentId, Transaction, TransactionId,
};

/// A column's text, empty when the row has none.
pub(super) fn text(record: &Record, key: &str) -> String {
    record
        .get(key)
        .and_then(Value::text)
        .unwrap_or_default()
        .to_owned()
}

/// A column's date, when the row has one.
fn date(record: &Record, key: &str) -> Option<Date> {
    record.get(key).and_then(Value::date)
}

/// A value or column that is not of the type the flows need (the contract checked at load makes this
/// a map the loader let through, reported as a screen that cannot be read rather than a panic).
pub(super) fn mistyped(screen: &str, item: &str) -> Fail {
    Fail::Extract(ExtractError::Unparsable {
        screen: screen.to_owned(),
        item: item.to_owned(),
        reason: "is not of the type the flows need".to_owned(),
    })
}

/// Values the website shows that must agree and do not: the page cannot be vouched for, so it is an
/// unusable answer naming the item (a read so answered may be served by the other channel).
pub(super) fn disagree(field: String, reason: String) -> Fail {
    Fail::Bank(BankError::Unusable {
        channel: Channel::Screen,
        field,
        reason,
        write_sent: false,
    })
}

/// The model's word for a website's word, through the map's word table; a word the table does not
/// know is an unreadable screen naming the table.
pub(super) fn model_word(
    map: &ScreenMap,
    screen: &str,
    item: &str,
    table: &str,
    shown: &str,
) -> FlowResult<String> {
    map.model_word(table, shown)
        .map(str::to_owned)
        .ok_or_else(|| {
            Fail::Extract(ExtractError::Unparsable {
                screen: screen.to_owned(),
                item: item.to_owned(),
                reason: format!("{shown:?} is not one of the map's words.{table}"),
            })
        })
}

/// One page of history rows as transactions, each cross-checked where the website shows a
/// value twice.
pub(super) fn history(map: &ScreenMap, source: &str) -> FlowResult<Vec<Transaction>> {
    history_on(map, &Page::new(source, map))
}

/// [`history`] on a page already parsed.
pub(super) fn history_on(map: &ScreenMap, page: &Page<'_>) -> FlowResult<Vec<Transaction>> {
    history_rows(map, page.table("history", "history")?)
}

/// History rows, however read (off a page, or from the JSON it is drawn from), as transactions.
pub(super) fn history_rows(
    map: &ScreenMap,
    rows: Vec<super::extract::Record>,
) -> FlowResult<Vec<Transaction>> {
    let mut out = Vec::new();
    let mut running = Vec::new();
    let reads_orders = map
        .get("history")
        .and_then(|screen| screen.tables.get("history"))
        .is_some_and(|table| table.columns.contains_key("order"));
    for row in rows {
        running.push(
            row.get("balance")
                .and_then(Value::amount)
                .map(|b| b.value()),
        );
        let status = match row.get("status").and_then(Value::text) {
            None => BookingStatus::Booked,
            Some(shown) => {
                match model_word(map, "history", "history.status", "booking_status", shown)?
                    .as_str()
                {
                    "pending" => BookingStatus::Pending,
                    _ => BookingStatus::Booked,
                }
            }
        };
        let amount = row
            .get("amount")
            .and_then(Value::amount)
            .ok_or_else(|| mistyped("history", "history.amount"))?;
        if let Some(shown) = row.get("direction").and_then(Value::text) {
            let side = model_word(map, "history", "history.direction", "debit_credit", shown)?;
            let debit = side == "debit";
            if !amount.value().is_zero() && amount.value().is_sign_negative() != debit {
                return Err(disagree(
                    format!("history[{}].amount", text(&row, "id")),
                    format!("its sign disagrees with its {side} column"),
                ));
            }
        }
        let name = text(&row, "name");
        let iban = row.get("iban").and_then(Value::iban).cloned();
        let counterparty =
            (!name.is_empty() || iban.is_some()).then_some(Counterparty { name, iban });
        let e2e = text(&row, "e2e");
        let id = text(&row, "id");
        let mut order = text(&row, "order");
        if order.is_empty() && row.get("recurring").and_then(Value::flag) == Some(true) {
            if reads_orders {
                // The map reads the real order id: an item marked recurring that names none is a
                // page the map misreads, never an id made up.
                return Err(disagree(
                    format!("history[{id}].order"),
                    "the item is marked recurring but names no standing order".to_owned(),
                ));
            }
            // The website never names the order (the map has no `order` column): the item's own id,
            // marked as such (`recurring-…`), stands for it so that the item reads as recurring.
            order = format!("recurring-{id}");
        }
        let code = text(&row, "code");
        let remittance = text(&row, "communication");
        let value_date = date(&row, "value_date")
            .or(date(&row, "date"))
            .or(date(&row, "booking_date"))
            .ok_or_else(|| mistyped("history", "history.value_date (or date)"))?;
        out.push(Transaction {
            id: TransactionId::new(id),
            status,
            booking_date: date(&row, "booking_date"),
            value_date,
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
    check_running(&out, &running)?;
    Ok(out)
}

/// A running balance (each row's balance after it) must follow from the amounts between, in the
/// page's order whichever way it runs (newest first or oldest first).
fn check_running(rows: &[Transaction], running: &[Option<Decimal>]) -> FlowResult<()> {
    let pairs: Vec<(usize, Decimal, Decimal)> = running
        .windows(2)
        .enumerate()
        .filter_map(|(i, w)| Some((i, w[0]?, w[1]?)))
        .collect();
    let newest_first = |(i, a, b): &(usize, Decimal, Decimal)| *a - rows[*i].amount.value() == *b;
    let oldest_first =
        |(i, a, b): &(usize, Decimal, Decimal)| *a + rows[*i + 1].amount.value() == *b;
    let fits_newest = pairs.iter().all(newest_first);
    if fits_newest || pairs.iter().all(oldest_first) {
        return Ok(());
    }
    // Name the first row where the page's own direction breaks.
    let first_ok_newest = pairs.first().is_some_and(newest_first);
    let broken = pairs
        .iter()
        .find(|p| {
            if first_ok_newest {
                !newest_first(p)
            } else {
                !oldest_first(p)
            }
        })
        .map(|(i, _, _)| if first_ok_newest { *i } else { *i + 1 })
        .unwrap_or_default();
    Err(disagree(
        format!("history[{}].balance", rows[broken].id),
        "the running balance does not follow from the amounts between".to_owned(),
    ))
}

/// The number of items the history says it has (its `total` value), when it shows one.
pub(super) fn shown_total(page: &Page<'_>) -> FlowResult<Option<i64>> {
    Ok(page.value("history", "total")?.and_then(|v| v.integer()))
}

/// The rows read must be as many as the list said it has.
pub(super) fn check_total(shown: Option<i64>, read: usize) -> FlowResult<()> {
    match shown {
        Some(total) if usize::try_from(total).ok() != Some(read) => Err(disagree(
            "history.total".to_owned(),
            format!("the website says {total} items, {read} were read"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map of a website unlike the sandbox's: German words, movement cards, amounts like
    /// `1.234,56-`, dates with month names, ISO dates in attributes, a debit/credit word, a running
    /// balance, a recurring badge, a total; no payments, orders or files at all.
    const OTHER_BANK: &str = r##"
absent = ["balance_on_date", "payment_new", "payment_confirm", "order_new", "order_confirm", "files",
          "file_review", "sign", "result", "payments", "payment"]

[bank]
name = "andere"
layout = "2026"

[sca]
method = "SMS_OTP"
instructions = "Geben Sie den Code aus der SMS ein."

[formats.amount]
decimal = ","
grouping = "."
minus = "trailing"
symbols = { "€" = "EUR" }
currency = "EUR"

[formats.date]
patterns = ["[day padding:none] [month] [year]"]
months = ["januar", "februar", "märz", "april", "mai", "juni", "juli", "august", "september",
          "oktober", "november", "dezember"]

[words.booking_status]
booked = "Gebucht"
pending = ["In Bearbeitung", "Geplant"]

[words.debit_credit]
credit = "Haben"
debit = "Soll"

[screens.login]
url = "/anmelden"
is_here = "form.anmelden"
fields.customer = { css = "input[name=kunde]" }
fields.password = { css = "input[name=pin]", input = "keys" }
actions.submit = "form.anmelden button"

[screens.sca]
is_here = "form.sms"
fields.response = { css = "input[name=code]" }
actions.submit = "form.sms button"
values.challenge = { css = ".sms-ref" }

[screens.accounts]
url = "/uebersicht"
is_here = "section.konten"

[screens.accounts.tables.accounts]
rows = "section.konten div.karte"
columns.id = { css = ".", attribute = "data-nr" }
columns.iban = { css = "p.nummer", parse = "iban" }
columns.name = { css = "h3" }

[screens.balances]
url = "/konto/{account}/saldo"
is_here = "section.saldo"
values.booked = { css = ".gebucht", parse = "amount" }

[screens.history]
url = "/konto/{account}/umsaetze"
is_here = "section.umsaetze"
paging = { more = "button.mehr" }
values.total = { css = ".anzahl", attribute = "data-anzahl", parse = "integer", optional = true }

[screens.history.tables.history]
rows = "section.umsaetze article"
columns.id = { css = ".", attribute = "data-id" }
columns.date = { css = "time", attribute = "datetime", parse = "iso_date" }
columns.value_date = { css = ".valuta", parse = "date" }
columns.amount = { css = ".betrag", parse = "amount" }
columns.direction = { css = ".art" }
columns.status = { css = ".status" }
columns.balance = { css = ".saldo-nach", parse = "amount", optional = true }
columns.recurring = { css = ".badge-dauerauftrag", parse = "presence" }
columns.name = { css = ".gegenpartei", optional = true }
"##;

    fn card(id: &str, amount: &str, side: &str, after: &str, badge: bool) -> String {
        format!(
            r#"<article data-id="{id}"><time datetime="2026-06-0{d}T09:00:00Z">gestern</time>
            <span class="valuta">{d} juni 2026</span><span class="gegenpartei">Laden</span>
            <span class="betrag">{amount}</span><span class="art">{side}</span>
            <span class="status">Gebucht</span><span class="saldo-nach">€ {after}</span>{}</article>"#,
            if badge {
                r#"<i class="badge-dauerauftrag">↻</i>"#
            } else {
                ""
            },
            d = &id[1..],
        )
    }

    fn page(cards: &[String], total: Option<usize>) -> String {
        format!(
            r#"<html><body><section class="umsaetze">{}{}</section></body></html>"#,
            total
                .map(|t| format!(r#"<p class="anzahl" data-anzahl="{t}"></p>"#))
                .unwrap_or_default(),
            cards.concat()
        )
    }

    fn read(html: &str) -> FlowResult<Vec<Transaction>> {
        let map = ScreenMap::parse("andere.toml", OTHER_BANK).unwrap_or_else(|e| panic!("{e}"));
        let rows = history(&map, html)?;
        check_total(shown_total(&Page::new(html, &map))?, rows.len())?;
        Ok(rows)
    }

    /// The field an unusable answer names, or the reason of a screen that cannot be read.
    fn failure(result: FlowResult<Vec<Transaction>>) -> String {
        match result {
            Ok(rows) => format!("read {} rows", rows.len()),
            Err(Fail::Bank(BankError::Unusable { field, .. })) => field,
            Err(Fail::Extract(e)) => e.to_string(),
            Err(_) => "another failure".to_owned(),
        }
    }

    #[test]
    fn a_website_unlike_the_sandbox_reads_through_its_map() {
        let html = page(
            &[
                card("t3", "1.234,56-", "Soll", "100,00", false),
                card("t2", "34,56", "Haben", "1.334,56", true),
                card("t1", "0,01-", "Soll", "1.300,00", false),
            ],
            Some(3),
        );
        let rows = read(&html).unwrap_or_else(|_| panic!("reads"));
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].amount.to_string(), "-1234.56 EUR");
        assert_eq!(rows[1].amount.to_string(), "34.56 EUR");
        assert_eq!(rows[0].value_date.to_string(), "2026-06-03");
        assert!(rows[1].is_recurring() && !rows[0].is_recurring());
        assert_eq!(rows[0].status, BookingStatus::Booked);
    }

    /// r12: without an `order` column the item's own id, marked `recurring-`, stands for the order;
    /// with one, a recurring badge on an item that names no order is an error, never a made-up id.
    #[test]
    fn a_recurring_item_gets_its_order_id_from_the_page_or_says_it_has_none() {
        let html = page(&[card("t2", "34,56", "Haben", "1.334,56", true)], None);
        let rows = read(&html).unwrap_or_else(|_| panic!("reads"));
        assert_eq!(
            rows[0].standing_order.as_ref().map(ToString::to_string),
            Some("recurring-t2".to_owned())
        );
        let with_orders = OTHER_BANK.replace(
            "columns.recurring =",
            "columns.order = { css = \".auftrag\", optional = true }\ncolumns.recurring =",
        );
        let map = ScreenMap::parse("andere.toml", &with_orders).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            failure(history(&map, &html)),
            "history[t2].order",
            "a badge without an order id"
        );
        let named = html.replace(
            "</article>",
            "<span class=\"auftrag\">SO-7</span></article>",
        );
        let rows = history(&map, &named).unwrap_or_else(|_| panic!("reads"));
        assert_eq!(
            rows[0].standing_order.as_ref().map(ToString::to_string),
            Some("SO-7".to_owned())
        );
    }

    /// Markup that flips a sign, shifts a column or loses a row is an error naming the row, never a
    /// wrong number.
    #[test]
    fn values_that_must_agree_are_cross_checked() {
        let good = || {
            vec![
                card("t3", "1.234,56-", "Soll", "100,00", false),
                card("t2", "34,56", "Haben", "1.334,56", false),
                card("t1", "0,01-", "Soll", "1.300,00", false),
            ]
        };
        let mut flipped = good();
        flipped[1] = card("t2", "34,56-", "Haben", "1.334,56", false);
        let mut flipped_both = good();
        flipped_both[0] = card("t3", "1.234,56", "Soll", "100,00", false);
        let mut shifted = good();
        shifted[1] = card("t2", "1.334,56", "Haben", "34,56", false);
        let mut misread = good();
        misread[1] = card("t2", "43,56", "Haben", "1.334,56", false);
        let mut unknown_word = good();
        unknown_word[0] = card("t3", "1.234,56-", "Lastschrift", "100,00", false);
        let oldest_first: Vec<String> = good().into_iter().rev().collect();
        let mut leading_minus = good();
        leading_minus[0] = card("t3", "-1.234,56", "Soll", "100,00", false);
        let cases: Vec<(&str, String, &str)> = vec![
            ("as shown", page(&good(), Some(3)), "read 3 rows"),
            ("oldest first", page(&oldest_first, None), "read 3 rows"),
            ("sign flipped", page(&flipped, None), "history[t2].amount"),
            (
                "sign and side",
                page(&flipped_both, None),
                "history[t3].amount",
            ),
            (
                "columns shifted",
                page(&shifted, None),
                "history[t2].balance",
            ),
            ("digit misread", page(&misread, None), "history[t2].balance"),
            ("a row lost", page(&good()[..2], Some(3)), "history.total"),
            (
                "word unknown",
                page(&unknown_word, None),
                "words.debit_credit",
            ),
            (
                "minus misplaced",
                page(&leading_minus, None),
                "stands after the number",
            ),
        ];
        for (what, html, expected) in cases {
            let got = failure(read(&html));
            assert!(got.contains(expected), "{what}: {got}");
        }
    }
}
