//! The accounts overview and an account's page: balances, the balance at the end of a past day, and the
//! history (filtered, 50 rows a page, rendered by a script from a JSON island).

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::history::{history_keys, history_table, pager};
use super::html::{self, Button, Col, Field, FormData, Layout, Row, escape, url_encode};
use super::page::{amount_html, error_page, refusal, render};
use super::visitor::Customer;
use psd2_fallback_engine::model::belgian::{format_amount, format_date, parse_date};
use psd2_fallback_engine::model::{
    AccountId, Balance, BalanceType, BookingStatus, Direction, Recurrence, TransactionFilter,
};

/// Rows per history page, unless the visitor chooses another size.
pub(crate) const PAGE_SIZE: usize = 50;

/// The page sizes a visitor may choose.
const PAGE_SIZES: [usize; 3] = [50, 100, 500];

const SHOW_BALANCE: Button = Button {
    v1: "balance-date-submit",
    v1_text: "Show balance",
    v2: "lookup-balance",
    v2_text: "Look up",
};

const FILTER: Button = Button {
    v1: "filter-submit",
    v1_text: "Filter",
    v2: "apply-filter",
    v2_text: "Apply",
};

fn find(balances: &[Balance], kind: BalanceType) -> Option<&Balance> {
    balances.iter().find(|b| b.kind == kind)
}

/// The accounts overview (marker `accounts`).
pub(crate) async fn overview(customer: Customer) -> Response {
    let layout = customer.layout();
    let ledger = &customer.web.shared.ledger;
    let cols = [
        Col {
            key: "account-name",
            label: "Account",
        },
        Col {
            key: "account-product",
            label: "Product",
        },
        Col {
            key: "account-iban",
            label: "IBAN",
        },
        Col {
            key: "account-balance",
            label: "Current balance",
        },
        Col {
            key: "account-available",
            label: "Available balance",
        },
        Col {
            key: "account-currency",
            label: "Currency",
        },
        Col {
            key: "account-owner",
            label: "Holder",
        },
    ];
    let mut rows = Vec::new();
    for account in ledger.accounts(&customer.customer) {
        let balances = ledger
            .balances(&customer.customer, &account.id, None)
            .unwrap_or_default();
        let shown = |kind| {
            find(&balances, kind)
                .map(|b| amount_html(&b.amount))
                .unwrap_or_default()
        };
        rows.push(Row {
            attrs: format!(r#"data-account-id="{}""#, escape(account.id.as_str())),
            cells: vec![
                format!(
                    r#"<a href="/accounts/{}">{}</a>"#,
                    url_encode(account.id.as_str()),
                    escape(&account.name)
                ),
                escape(&account.product),
                escape(&account.iban.paper()),
                shown(BalanceType::InterimBooked),
                shown(BalanceType::InterimAvailable),
                escape(account.currency.code()),
                escape(&account.owner_name),
            ],
        });
    }
    let body = html::records(
        layout,
        ("accounts", "account-cards"),
        ("account-row", "acct"),
        &cols,
        &rows,
    );
    let title = match layout {
        Layout::V1 => "Your accounts",
        Layout::V2 => "Overview",
    };
    render(&customer.chrome, "accounts", title, &body)
}

/// One account (marker `account`): balances, balance on a date, and a page of history.
pub(crate) async fn account(
    customer: Customer,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let layout = customer.layout();
    let query = FormData(query);
    let ledger = &customer.web.shared.ledger;
    let id = AccountId::new(id);
    let account = match ledger.account(&customer.customer, &id) {
        Ok(account) => account,
        Err(error) => {
            return error_page(
                &customer.chrome,
                StatusCode::NOT_FOUND,
                "Account not found",
                &refusal(&error),
                "/accounts",
            );
        }
    };
    let balances = ledger
        .balances(&customer.customer, &id, None)
        .unwrap_or_default();
    let mut errors: Vec<(Field, String)> = Vec::new();
    let shown = |kind| {
        find(&balances, kind)
            .map(|b| amount_html(&b.amount))
            .unwrap_or_default()
    };
    let yesterday = find(&balances, BalanceType::ClosingBooked)
        .and_then(|b| b.reference_date)
        .map(format_date)
        .unwrap_or_default();
    let mut body = String::new();
    let summary = html::details(
        layout,
        ("balances", "balance-summary"),
        &[
            ("account-name", "Account", escape(&account.name)),
            ("account-iban", "IBAN", escape(&account.iban.paper())),
            ("account-owner", "Holder", escape(&account.owner_name)),
            (
                "balance-booked",
                "Current balance",
                shown(BalanceType::InterimBooked),
            ),
            (
                "balance-available",
                "Available balance",
                shown(BalanceType::InterimAvailable),
            ),
            (
                "balance-expected",
                "Balance after pending payments",
                shown(BalanceType::Expected),
            ),
            (
                "balance-closing",
                &format!("Closing balance of {yesterday}"),
                shown(BalanceType::ClosingBooked),
            ),
            (
                "balance-forward",
                "Available after future-dated payments",
                shown(BalanceType::ForwardAvailable),
            ),
            ("balance-closing-date", "Closing date", escape(&yesterday)),
            (
                "balance-date",
                "Balances of",
                escape(&format_date(ledger.today())),
            ),
        ],
    );

    // The balance at the end of a past day.
    let balance_date = query.get(Field::BalanceDate).to_owned();
    let mut past = String::new();
    if !balance_date.is_empty() {
        match parse_date(&balance_date) {
            Err(e) => errors.push((Field::BalanceDate, format!("Balance date: {}", e.reason))),
            Ok(day) => match ledger.balances(&customer.customer, &id, Some(day)) {
                Err(e) => errors.push((
                    Field::BalanceDate,
                    format!("Balance date: {}", refusal(&e).trim_start_matches("Date: ")),
                )),
                Ok(found) => {
                    if let Some(b) = find(&found, BalanceType::ClosingBooked) {
                        past = html::details(
                            layout,
                            ("balance-on-date-result", "past-balance"),
                            &[
                                ("balance-on-date-day", "Date", escape(&format_date(day))),
                                (
                                    "balance-on-date",
                                    "Balance at the end of that day",
                                    amount_html(&b.amount),
                                ),
                            ],
                        );
                    }
                }
            },
        }
    }
    let balance_form = get_form(
        layout,
        ("balance-date-form", "past-balance-form"),
        &format!("/accounts/{}", url_encode(id.as_str())),
        &format!(
            "{}{}",
            html::input(
                layout,
                Field::BalanceDate,
                "Balance at the end of (dd/mm/yyyy)",
                "text",
                &balance_date,
                r#"placeholder="dd/mm/yyyy""#
            ),
            html::button(layout, &SHOW_BALANCE, false, None)
        ),
    );

    // The history filter.
    let mut filter = TransactionFilter::default();
    let from = query.get(Field::DateFrom).to_owned();
    let to = query.get(Field::DateTo).to_owned();
    let direction = query.get(Field::Direction).to_owned();
    let recurrence = query.get(Field::Recurrence).to_owned();
    if !from.is_empty() {
        match parse_date(&from) {
            Ok(d) => filter.date_from = Some(d),
            Err(e) => errors.push((Field::DateFrom, format!("Date from: {}", e.reason))),
        }
    }
    if !to.is_empty() {
        match parse_date(&to) {
            Ok(d) => filter.date_to = Some(d),
            Err(e) => errors.push((Field::DateTo, format!("Date to: {}", e.reason))),
        }
    }
    match direction.as_str() {
        "" | "all" => {}
        "credit" => filter.direction = Some(Direction::Credit),
        "debit" => filter.direction = Some(Direction::Debit),
        other => errors.push((
            Field::Direction,
            format!("Type: {other:?} is not one of all, credit, debit"),
        )),
    }
    match recurrence.as_str() {
        "" | "all" => {}
        "one-off" => filter.recurrence = Some(Recurrence::OneOff),
        "recurring" => filter.recurrence = Some(Recurrence::Recurring),
        other => errors.push((
            Field::Recurrence,
            format!("Recurrence: {other:?} is not one of all, one-off, recurring"),
        )),
    }
    let filter_ok = !errors.iter().any(|(f, _)| *f != Field::BalanceDate);
    let transactions = if filter_ok {
        ledger
            .transactions(&customer.customer, &id, &filter)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let total = transactions.len();
    let page_size = match query.get(Field::PageSize) {
        "" => PAGE_SIZE,
        text => match text.parse::<usize>() {
            Ok(n) if PAGE_SIZES.contains(&n) => n,
            _ => {
                errors.push((
                    Field::PageSize,
                    format!("Rows per page: {text:?} is not one of 50, 100, 500"),
                ));
                PAGE_SIZE
            }
        },
    };
    let page_size_text = query.get(Field::PageSize).to_owned();
    let pages = total.div_ceil(page_size).max(1);
    let page = query
        .get(Field::Page)
        .parse::<usize>()
        .unwrap_or(1)
        .clamp(1, pages);
    let shown_rows = transactions
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size);

    let keys = history_keys(layout);
    let rows: Vec<serde_json::Value> = shown_rows
        .map(|t| {
            let (name, iban) = t
                .counterparty
                .as_ref()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.iban.as_ref().map(|i| i.paper()).unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            let recurring = match (t.is_recurring(), layout) {
                (false, _) => "",
                (true, Layout::V1) => "Recurring",
                (true, Layout::V2) => "Standing order",
            };
            let status = match t.status {
                BookingStatus::Booked => "Booked",
                BookingStatus::Pending => "Pending",
            };
            let values = [
                format_date(t.date()),
                name,
                iban,
                t.remittance.clone().unwrap_or_default(),
                format_amount(&t.amount),
                recurring.to_owned(),
                status.to_owned(),
                t.booking_date.map(format_date).unwrap_or_default(),
                format_date(t.value_date),
                t.bank_transaction_code.clone().unwrap_or_default(),
                t.end_to_end_id
                    .as_ref()
                    .map(|e| e.as_str().to_owned())
                    .unwrap_or_default(),
                t.standing_order
                    .as_ref()
                    .map(|o| o.as_str().to_owned())
                    .unwrap_or_default(),
            ];
            let mut row = serde_json::Map::new();
            row.insert("id".to_owned(), json!(t.id.as_str()));
            row.insert("negative".to_owned(), json!(t.amount.is_negative()));
            for (key, value) in keys.cells.iter().zip(values) {
                row.insert((*key).to_owned(), json!(value));
            }
            serde_json::Value::Object(row)
        })
        .collect();
    let island = json!({ "page": page, "pages": pages, "total": total, "rows": rows });

    let filter_form = get_form(
        layout,
        ("filter-form", "movements-filter"),
        &format!("/accounts/{}", url_encode(id.as_str())),
        &format!(
            r#"<div class="filters">{}{}{}{}{}</div>{}"#,
            html::input(
                layout,
                Field::DateFrom,
                "Date from",
                "text",
                &from,
                r#"placeholder="dd/mm/yyyy""#
            ),
            html::input(
                layout,
                Field::DateTo,
                "Date to",
                "text",
                &to,
                r#"placeholder="dd/mm/yyyy""#
            ),
            html::select(
                layout,
                Field::Direction,
                "Type",
                &options(&[("all", "All"), ("credit", "Credits"), ("debit", "Debits")]),
                &direction
            ),
            html::select(
                layout,
                Field::Recurrence,
                "Recurrence",
                &options(&[
                    ("all", "All"),
                    ("one-off", "One-off"),
                    ("recurring", "Recurring (standing orders)")
                ]),
                &recurrence
            ),
            html::select(
                layout,
                Field::PageSize,
                "Rows per page",
                &options(&[("50", "50"), ("100", "100"), ("500", "500")]),
                &page_size_text
            ),
            html::button(layout, &FILTER, false, None)
        ),
    );
    let mut params: Vec<(Field, &str)> = Vec::new();
    for (field, value) in [
        (Field::DateFrom, &from),
        (Field::DateTo, &to),
        (Field::Direction, &direction),
        (Field::Recurrence, &recurrence),
        (Field::PageSize, &page_size_text),
    ] {
        if !value.is_empty() {
            params.push((field, value));
        }
    }
    let page_link = |n: usize| {
        let mut href = format!("/accounts/{}?", url_encode(id.as_str()));
        for (field, value) in &params {
            let _ = write!(href, "{}={}&", field.name(layout), url_encode(value));
        }
        let _ = write!(href, "{}={n}", Field::Page.name(layout));
        href
    };
    let pager = pager(layout, page, pages, &page_link);

    body.push_str(&html::field_errors(layout, &errors));
    body.push_str(&summary);
    body.push_str(&format!(
        "<h3>Balance on a past date</h3>{balance_form}{past}"
    ));
    body.push_str(&format!(
        "<h3>History</h3>{filter_form}<p>{} transaction(s)</p>{pager}",
        html::value(layout, "history-count", &total.to_string())
    ));
    body.push_str(&history_table(layout, &keys, &island));
    body.push_str(&format!(
        "<p>{}</p>",
        html::link(
            layout,
            "/accounts",
            "back-to-accounts",
            "back",
            "Back to accounts"
        )
    ));
    render(&customer.chrome, "account", &account.name, &body)
}

fn options(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(v, t)| ((*v).to_owned(), (*t).to_owned()))
        .collect()
}

/// A form sent with `GET` (no token: it changes nothing).
fn get_form(layout: Layout, id: (&str, &str), action: &str, inner: &str) -> String {
    let id = match layout {
        Layout::V1 => id.0,
        Layout::V2 => id.1,
    };
    format!(
        r#"<form id="{id}" method="get" action="{}">{inner}</form>"#,
        escape(action)
    )
}
