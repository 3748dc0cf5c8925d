//! The accounts as cards, and an account's balances on a page of their own (with the balance at the
//! end of a past day). The history is elsewhere (`history`).

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query};
use axum::response::Response;

use super::format::{day, euro, parse_typed_day};
use super::page::{BASE, errors, facts, refusal, render};
use super::site::Customer;
use crate::markup::{escape, url_encode};
use psd2_fallback_engine::model::belgian::format_iso_date;
use psd2_fallback_engine::model::{AccountId, Balance, BalanceType};

fn find(balances: &[Balance], kind: BalanceType) -> Option<&Balance> {
    balances.iter().find(|b| b.kind == kind)
}

/// A balance's amount in a `span.bedrag`, marked `negatief` below zero, with its day (ISO, in
/// `data-datum`) when it is a day's closing balance.
fn money(balance: Option<&Balance>) -> String {
    let Some(b) = balance else {
        return String::new();
    };
    let class = if b.amount.is_negative() {
        "bedrag negatief"
    } else {
        "bedrag"
    };
    let dated = b
        .reference_date
        .filter(|_| b.kind == BalanceType::ClosingBooked)
        .map(|d| format!(r#" data-datum="{}""#, format_iso_date(d)))
        .unwrap_or_default();
    format!(
        r#"<span class="{class}"{dated}>{}</span>"#,
        escape(&euro(&b.amount))
    )
}

/// The accounts, one card each (class `scherm-overzicht`).
pub(crate) async fn overview(customer: Customer) -> Response {
    let ledger = &customer.site.shared.ledger;
    let mut body = String::from(r#"<ul class="kaarten" id="rekeningen">"#);
    for account in ledger.accounts(&customer.number) {
        let balances = ledger
            .balances(&customer.number, &account.id, None)
            .unwrap_or_default();
        let id = url_encode(account.id.as_str());
        let _ = write!(
            body,
            r#"<li class="rekeningkaart" data-rekening="{}"><h2 class="naam">{}</h2><p class="product">{}</p><p class="iban">{}</p><p class="houder">{}</p><p class="saldo" title="Geboekt saldo">{}</p><p class="links"><a class="naar-saldo" href="{BASE}/rekening/{id}/saldo">Saldo's</a> · <a class="naar-mutaties" href="{BASE}/rekening/{id}/mutaties">Bij- en afschrijvingen</a></p></li>"#,
            escape(account.id.as_str()),
            escape(&account.name),
            escape(&account.product),
            escape(&account.iban.paper()),
            escape(&account.owner_name),
            money(find(&balances, BalanceType::InterimBooked)),
        );
    }
    body.push_str("</ul>");
    render(&customer.frame, "overzicht", "Mijn rekeningen", &body)
}

/// An account's balances (class `scherm-saldo`); `?datum=dd-mm-jjjj` adds the balance at the end of
/// that day.
pub(crate) async fn balances(
    customer: Customer,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let ledger = &customer.site.shared.ledger;
    let id = AccountId::new(id);
    let account = match customer.account(&id) {
        Ok(account) => account,
        Err(response) => return *response,
    };
    let now = ledger
        .balances(&customer.number, &id, None)
        .unwrap_or_default();
    let closing = find(&now, BalanceType::ClosingBooked);
    let closing_day = closing.and_then(|b| b.reference_date);
    let mut body = facts(
        "saldi",
        &[
            ("naam", "Rekening", escape(&account.name)),
            ("iban", "IBAN", escape(&account.iban.paper())),
            ("peildatum", "Saldi per", escape(&day(ledger.today()))),
            (
                "geboekt",
                "Geboekt saldo",
                money(find(&now, BalanceType::InterimBooked)),
            ),
            (
                "beschikbaar",
                "Beschikbaar saldo",
                money(find(&now, BalanceType::InterimAvailable)),
            ),
            (
                "verwacht",
                "Saldo na openstaande opdrachten",
                money(find(&now, BalanceType::Expected)),
            ),
            (
                "eindsaldo",
                &format!("Eindsaldo {}", closing_day.map(day).unwrap_or_default()),
                money(closing),
            ),
            (
                "termijn",
                "Beschikbaar na toekomstige opdrachten",
                money(find(&now, BalanceType::ForwardAvailable)),
            ),
        ],
    );
    let typed = query.get("datum").map(|d| d.trim()).unwrap_or("");
    let mut problems = Vec::new();
    let mut past = String::new();
    if !typed.is_empty() {
        match parse_typed_day(typed) {
            Err(e) => problems.push(format!("Datum: {e}")),
            Ok(d) => match ledger.balances(&customer.number, &id, Some(d)) {
                Err(e) => problems.push(format!("Datum: {}", refusal(&e))),
                Ok(found) => {
                    past = format!(
                        r#"<p id="saldo-op-datum" data-datum="{}">Saldo aan het eind van {}: {}</p>"#,
                        format_iso_date(d),
                        escape(&day(d)),
                        money(find(&found, BalanceType::ClosingBooked))
                    );
                }
            },
        }
    }
    let _ = write!(
        body,
        r#"<h2>Saldo op een eerdere datum</h2>{}<form id="saldo-op-datum-form" method="get" action="{BASE}/rekening/{}/saldo"><div class="regel"><label for="datum">Datum (dd-mm-jjjj)</label><input id="datum" name="datum" type="text" value="{}" placeholder="dd-mm-jjjj"></div><button class="knop" id="opvragen" type="submit">Opvragen</button></form>{past}<p><a href="{BASE}/rekening/{}/mutaties" class="naar-mutaties">Bij- en afschrijvingen</a> · <a href="{BASE}/overzicht">Alle rekeningen</a></p>"#,
        errors(&problems),
        url_encode(id.as_str()),
        escape(typed),
        url_encode(id.as_str()),
    );
    render(
        &customer.frame,
        "saldo",
        &format!("Saldo's van {}", account.name),
        &body,
    )
}
