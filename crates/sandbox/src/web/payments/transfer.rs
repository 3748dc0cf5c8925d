//! The transfer: its form, the read-back of the payment as the bank understood it, and "Confirm", which
//! records the payment once (the draft id is the request id) and goes to signing.

use std::collections::HashMap;

use axum::Form;
use axum::response::{IntoResponse, Redirect, Response};

use super::describe::refused;
use super::fields::{optional_date, parse_payment_fields, payment_fields, read_back};
use crate::web::html::{self, Button, Field, FormData, Layout, escape, url_encode};
use crate::web::page::render;
use crate::web::visitor::Customer;
use psd2_fallback_engine::model::PaymentProduct;
use psd2_fallback_engine::model::belgian::{format_amount, format_date};

/// "Continue" from the transfer form to its read-back.
const CONTINUE: Button = Button {
    v1: "payment-submit",
    v1_text: "Continue",
    v2: "review-transfer",
    v2_text: "Review transfer",
};

/// The transfer form (marker `payment-new`).
pub(crate) async fn new_page(customer: Customer) -> Response {
    payment_form(&customer, &FormData::default(), &[], None)
}

/// The transfer form with the values typed so far, their errors, and the bank's refusal if any.
fn payment_form(
    customer: &Customer,
    values: &FormData,
    errors: &[(Field, String)],
    refusal: Option<&str>,
) -> Response {
    let layout = customer.layout();
    let accounts = customer.web.shared.ledger.accounts(&customer.customer);
    let mut body = html::field_errors(layout, errors);
    if let Some(text) = refusal {
        body.push_str(&html::error(layout, text));
    }
    let inner = format!(
        "{}{}{}{}{}",
        payment_fields(layout, &accounts, values),
        html::input(
            layout,
            Field::ExecutionDate,
            "Execution date (dd/mm/yyyy, empty for today)",
            "text",
            values.get(Field::ExecutionDate),
            r#"placeholder="dd/mm/yyyy""#
        ),
        html::checkbox(
            layout,
            Field::Instant,
            "Instant payment",
            values.checked(Field::Instant)
        ),
        html::input(
            layout,
            Field::Reference,
            "Your reference (optional)",
            "text",
            values.get(Field::Reference),
            r#"maxlength="35""#
        ),
        html::button(layout, &CONTINUE, false, None),
    );
    body.push_str(&html::form(
        layout,
        ("payment-form", "transfer-form"),
        "/payments/new",
        Some(customer.csrf()),
        &inner,
    ));
    let title = match layout {
        Layout::V1 => "New payment",
        Layout::V2 => "Transfer money",
    };
    render(&customer.chrome, "payment-new", title, &body)
}

/// Checks the transfer form; errors re-render it with the values kept, else the read-back follows.
pub(crate) async fn new_submit(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let accounts = customer.web.shared.ledger.accounts(&customer.customer);
    let mut errors = Vec::new();
    let request = parse_payment_fields(&form, &accounts, &mut errors);
    let date = optional_date(&form, Field::ExecutionDate, "Execution date", &mut errors);
    let today = customer.web.shared.ledger.today();
    if date.is_some_and(|d| d < today) {
        errors.push((
            Field::ExecutionDate,
            format!(
                "Execution date: is in the past (today is {})",
                format_date(today)
            ),
        ));
    }
    let instant = form.checked(Field::Instant);
    if instant && date.is_some_and(|d| d > today) {
        errors.push((
            Field::ExecutionDate,
            "Execution date: an instant payment is executed today".to_owned(),
        ));
    }
    match request {
        Some(mut request) if errors.is_empty() => {
            request.requested_execution_date = date;
            if instant {
                request.product = PaymentProduct::InstantSepaCreditTransfer;
            }
            let draft = uuid::Uuid::new_v4().to_string();
            customer.update(|s| s.drafts.payment = Some((draft, request)));
            Redirect::to("/payments/confirm").into_response()
        }
        _ => payment_form(&customer, &form, &errors, None),
    }
}

/// The read-back of the transfer as the bank understood it (marker `payment-confirm`).
pub(crate) async fn confirm_page(customer: Customer) -> Response {
    let Some((_, request)) = &customer.session.drafts.payment else {
        return Redirect::to("/payments/new").into_response();
    };
    let ledger = &customer.web.shared.ledger;
    let from = ledger
        .account_by_iban(&customer.customer, &request.debtor)
        .map(|a| format!("{} – {}", a.name, a.iban.paper()))
        .unwrap_or_else(|_| request.debtor.paper());
    let date = request
        .requested_execution_date
        .map(format_date)
        .unwrap_or_else(|| format_date(ledger.today()));
    let items = [
        ("confirm-from", "From account", escape(&from)),
        (
            "confirm-beneficiary",
            "Beneficiary",
            escape(&request.creditor_name),
        ),
        (
            "confirm-iban",
            "Beneficiary IBAN",
            escape(&request.creditor.paper()),
        ),
        (
            "confirm-amount",
            "Amount",
            escape(&format_amount(&request.amount)),
        ),
        (
            "confirm-communication",
            "Communication",
            escape(request.remittance.as_deref().unwrap_or("")),
        ),
        ("confirm-date", "Execution date", escape(&date)),
        (
            "confirm-instant",
            "Instant payment",
            (if request.product == PaymentProduct::InstantSepaCreditTransfer {
                "Yes"
            } else {
                "No"
            })
            .to_owned(),
        ),
        (
            "confirm-reference",
            "Your reference",
            escape(request.end_to_end_id.as_str()),
        ),
    ];
    let body = read_back(
        &customer,
        ("confirmation", "transfer-review"),
        &items,
        "/payments/confirm",
    );
    render(
        &customer.chrome,
        "payment-confirm",
        "Check your payment",
        &body,
    )
}

/// "Confirm" records the payment (once, whatever the retries) and goes to signing; "Cancel" drops it.
pub(crate) async fn confirm(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let Some((draft, request)) = customer.session.drafts.payment.clone() else {
        return Redirect::to("/payments/new").into_response();
    };
    if form.get(Field::Decision) == "cancel" {
        customer.update(|s| s.drafts.payment = None);
        return Redirect::to("/payments/new").into_response();
    }
    match customer
        .web
        .shared
        .ledger
        .initiate_payment(&customer.customer, request, Some(&draft))
    {
        Ok(initiation) => {
            customer.update(|s| s.drafts.payment = None);
            Redirect::to(&format!(
                "/sign/{}",
                url_encode(initiation.payment.id.as_str())
            ))
            .into_response()
        }
        Err(error) => refused(&customer, "Payment refused", &error, "/payments/new"),
    }
}
