//! The customer's orders (transfers, standing orders, payment files) as cards, 20 a page with a link
//! to the next; one order's page with its facts; and withdrawing (cancelling) what still can be.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;

use super::format::{day, euro};
use super::page::{BASE, error_page, facts, notice, refusal, render};
use super::site::{Customer, go};
use super::words;
use crate::ledger::{PaymentDetail, PaymentRecord};
use crate::markup::{escape, url_encode};
use psd2_fallback_engine::model::{PaymentId, PaymentStatus};

/// Orders per page of the list.
pub(crate) const PER_PAGE: usize = 20;

/// What an order pays: (beneficiary, IBAN, amount, first day), in the website's words.
pub(crate) fn paid(record: &PaymentRecord) -> (String, String, String, String) {
    let pays = record.pays();
    (
        pays.beneficiary
            .unwrap_or_else(|| format!("{} betaling(en)", pays.count)),
        pays.iban.map(|i| i.paper()).unwrap_or_default(),
        pays.amount.as_ref().map(euro).unwrap_or_default(),
        match (pays.first_day, pays.count) {
            (Some(first), _) => day(first),
            (None, 1) => "Zo snel mogelijk".to_owned(),
            (None, _) => String::new(),
        },
    )
}

/// The customer's reference: a payment's end-to-end id, or a file's message id.
pub(crate) fn reference(record: &PaymentRecord) -> String {
    record.reference()
}

/// The list (class `scherm-opdrachten`), newest first; `?pagina=N`.
pub(crate) async fn list(
    customer: Customer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let all = customer.site.shared.ledger.payments(&customer.number);
    let pages = all.len().div_ceil(PER_PAGE).max(1);
    let page = query
        .get("pagina")
        .and_then(|p| p.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let mut body = String::new();
    if let Some(id) = query.get("ingetrokken") {
        body.push_str(&notice(&format!("Opdracht {id} is ingetrokken.")));
    }
    body.push_str(r#"<div class="opdrachten" id="opdrachten">"#);
    for record in all.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE) {
        let (name, iban, amount, first) = paid(record);
        let id = record.payment.id.as_str();
        let _ = write!(
            body,
            r#"<article class="opdracht" data-opdracht="{}"><header><span class="soort">{}</span> <a class="referentie" href="{BASE}/opdrachten/{}">{}</a></header><p><span class="begunstigde">{}</span> <span class="rekening">{}</span></p><p class="bedrag">{}</p><p>Uitvoering: <span class="datum">{}</span></p><p>Kenmerk: <span class="kenmerk">{}</span></p><p class="status">{}</p></article>"#,
            escape(id),
            escape(words::kind(record.payment.kind)),
            url_encode(id),
            escape(id),
            escape(&name),
            escape(&iban),
            escape(&amount),
            escape(&first),
            escape(&reference(record)),
            escape(words::status(record.status)),
        );
    }
    body.push_str("</div>");
    let _ = write!(
        body,
        r#"<nav class="bladeren"><span id="pagina" data-pagina="{page}" data-paginas="{pages}">Pagina {page} van {pages}</span>"#
    );
    if page > 1 {
        let _ = write!(
            body,
            r#" <a rel="prev" class="vorige" href="{BASE}/opdrachten?pagina={}">« Vorige</a>"#,
            page - 1
        );
    }
    if page < pages {
        let _ = write!(
            body,
            r#" <a rel="next" class="volgende" href="{BASE}/opdrachten?pagina={}">Volgende »</a>"#,
            page + 1
        );
    }
    body.push_str("</nav>");
    render(&customer.frame, "opdrachten", "Mijn opdrachten", &body)
}

/// One order (class `scherm-opdracht`): its facts, signing when it waits for it, withdrawing when it
/// still can be.
pub(crate) async fn detail(
    customer: Customer,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let id = PaymentId::new(id);
    let record = match customer.site.shared.ledger.payment(&customer.number, &id) {
        Ok(r) => r,
        Err(e) => {
            return error_page(
                &customer.frame,
                StatusCode::NOT_FOUND,
                &refusal(&e),
                "/opdrachten",
            );
        }
    };
    let (name, iban, amount, first) = paid(&record);
    let mut items = vec![
        ("referentie", "Referentie", escape(id.as_str())),
        ("soort", "Soort", escape(words::kind(record.payment.kind))),
        ("status", "Status", escape(words::status(record.status))),
        ("kenmerk", "Uw kenmerk", escape(&reference(&record))),
        ("begunstigde", "Begunstigde", escape(&name)),
        ("iban", "IBAN begunstigde", escape(&iban)),
        ("bedrag", "Bedrag", escape(&amount)),
        ("datum", "Uitvoering", escape(&first)),
    ];
    if let PaymentDetail::Periodic(s) = &record.detail {
        items.push((
            "frequentie",
            "Hoe vaak",
            escape(words::frequency(s.frequency)),
        ));
        items.push((
            "laatste",
            "Laatste uitvoering",
            escape(
                &s.end_date
                    .map(day)
                    .unwrap_or_else(|| "Tot intrekking".to_owned()),
            ),
        ));
    }
    if let Some(reason) = &record.reason {
        items.push(("reden", "Reden", escape(reason)));
    }
    let mut body = String::new();
    if query.contains_key("ingetrokken") {
        body.push_str(&notice("De opdracht is ingetrokken."));
    }
    body.push_str(&facts("opdracht", &items));
    let path = url_encode(id.as_str());
    if record.status == PaymentStatus::Received {
        let _ = write!(
            body,
            r#"<p><a class="knop" id="nu-ondertekenen" href="{BASE}/opdrachten/{path}/ondertekenen">Nu ondertekenen</a></p>"#
        );
    }
    if record.cancellable {
        let _ = write!(
            body,
            r#"<form id="intrekken" method="post" action="{BASE}/opdrachten/{path}/intrekken"><input type="hidden" name="formtoken" value="{}"><button class="knop knop-licht" id="intrekken-knop" type="submit">Opdracht intrekken</button></form>"#,
            escape(&customer.session.csrf)
        );
    }
    let _ = write!(
        body,
        r#"<p><a href="{BASE}/opdrachten">Alle opdrachten</a></p>"#
    );
    render(
        &customer.frame,
        "opdracht",
        &format!("{} {}", words::kind(record.payment.kind), id),
        &body,
    )
}

/// Withdraws an order, then shows it again.
pub(crate) async fn cancel(
    customer: Customer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let id = PaymentId::new(id);
    let back = format!("/opdrachten/{}", url_encode(id.as_str()));
    match customer.site.shared.ledger.cancel(&customer.number, &id) {
        Ok(_) => go(&format!("{back}?ingetrokken=1")),
        Err(e) => error_page(
            &customer.frame,
            StatusCode::UNPROCESSABLE_ENTITY,
            &refusal(&e),
            &back,
        ),
    }
}
