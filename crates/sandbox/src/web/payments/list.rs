//! The customer's payments, standing orders and files: the list, one payment's page with its facts,
//! and cancelling what can still be cancelled.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};

use super::describe::{end_to_end, file_lines, kind_text, refused, status_text, summary};
use crate::ledger::{PaymentDetail, PaymentRecord};
use crate::web::history::pager;
use crate::web::html::{self, Button, Col, Field, FormData, Row, escape, url_encode};
use crate::web::page::render;
use crate::web::visitor::Customer;
use psd2_fallback_engine::model::belgian::format_date;
use psd2_fallback_engine::model::{PaymentId, PaymentStatus};

/// "Cancel" next to a payment that can still be cancelled.
const CANCEL_PAYMENT: Button = Button {
    v1: "cancel-payment",
    v1_text: "Cancel",
    v2: "revoke",
    v2_text: "Revoke",
};

/// A cancel button posting to `/payments/{id}/cancel`, coming back to `back`.
pub(crate) fn cancel_form(
    customer: &Customer,
    id: &PaymentId,
    back: &str,
    repeated: bool,
) -> String {
    let layout = customer.layout();
    let form_attr = if repeated {
        r#"class="cancel-form""#
    } else {
        r#"id="cancel-form""#
    };
    format!(
        r#"<form {form_attr} method="post" action="/payments/{}/cancel">{}{}{}</form>"#,
        url_encode(id.as_str()),
        html::hidden(layout, Field::Csrf, customer.csrf()),
        html::hidden(layout, Field::Return, back),
        html::button(layout, &CANCEL_PAYMENT, repeated, None)
    )
}

/// Orders per page of the list, as an online bank pages a long list.
pub(crate) const ORDERS_PER_PAGE: usize = 20;

/// Every payment, standing order and file of the customer, newest first, [`ORDERS_PER_PAGE`] a page
/// with a pager when there is more than one (marker `payments`).
pub(crate) async fn list(
    customer: Customer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let layout = customer.layout();
    let all = customer.web.shared.ledger.payments(&customer.customer);
    let pages = all.len().div_ceil(ORDERS_PER_PAGE).max(1);
    let page = query
        .get(Field::Page.name(layout))
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let records: Vec<_> = all
        .into_iter()
        .skip((page - 1) * ORDERS_PER_PAGE)
        .take(ORDERS_PER_PAGE)
        .collect();
    let cols = [
        Col {
            key: "payment-reference",
            label: "Reference",
        },
        Col {
            key: "payment-kind",
            label: "Type",
        },
        Col {
            key: "payment-e2e",
            label: "End-to-end id",
        },
        Col {
            key: "payment-beneficiary",
            label: "Beneficiary",
        },
        Col {
            key: "payment-amount",
            label: "Amount",
        },
        Col {
            key: "payment-date",
            label: "Date",
        },
        Col {
            key: "payment-status",
            label: "Status",
        },
        Col {
            key: "payment-status-text",
            label: "",
        },
        Col {
            key: "payment-actions",
            label: "",
        },
    ];
    let rows: Vec<Row> = records
        .iter()
        .map(|r| {
            let (beneficiary, _, amount, date) = summary(r);
            let id = &r.payment.id;
            Row {
                attrs: format!(r#"data-payment-id="{}""#, escape(id.as_str())),
                cells: vec![
                    format!(
                        r#"<a href="/payments/{}">{}</a>"#,
                        url_encode(id.as_str()),
                        escape(id.as_str())
                    ),
                    escape(kind_text(r.payment.kind)),
                    escape(&end_to_end(r)),
                    escape(&beneficiary),
                    escape(&amount),
                    escape(&date),
                    escape(r.status.code()),
                    escape(status_text(r.status)),
                    if r.cancellable {
                        cancel_form(&customer, id, "/payments", true)
                    } else {
                        String::new()
                    },
                ],
            }
        })
        .collect();
    let mut body = String::new();
    if let Some(id) = query.get("cancelled") {
        body.push_str(&html::notice(layout, &format!("{id} is cancelled.")));
    }
    body.push_str(&html::records(
        layout,
        ("payments", "payment-cards"),
        ("payment-row", "pay-card"),
        &cols,
        &rows,
    ));
    if pages > 1 {
        let link = |n: usize| format!("/payments?{}={n}", Field::Page.name(layout));
        body.push_str(&pager(layout, page, pages, &link));
    }
    render(&customer.chrome, "payments", "Payments", &body)
}

/// One payment, standing order or file with its status (marker `payment`).
pub(crate) async fn detail(customer: Customer, Path(id): Path<String>) -> Response {
    let layout = customer.layout();
    let id = PaymentId::new(id);
    let record = match customer.web.shared.ledger.payment(&customer.customer, &id) {
        Ok(r) => r,
        Err(error) => return refused(&customer, "Payment not found", &error, "/payments"),
    };
    let mut items = facts(&record);
    if let Some(reason) = &record.reason {
        items.push(("payment-reason", "Remark", escape(reason)));
    }
    let mut body = html::details(layout, ("payment-detail", "payment-facts"), &items);
    if let PaymentDetail::File { payments, .. } = &record.detail {
        let lines: Vec<_> = payments.iter().map(|(p, s)| (p, Some(*s))).collect();
        body.push_str(&file_lines(layout, &lines));
    }
    if record.status == PaymentStatus::Received {
        body.push_str(&format!(
            "<p>{}</p>",
            html::link(
                layout,
                &format!("/sign/{}", url_encode(id.as_str())),
                "sign-link",
                "sign",
                "Sign now"
            )
        ));
    }
    if record.cancellable {
        body.push_str(&cancel_form(
            &customer,
            &id,
            &format!("/payments/{}", url_encode(id.as_str())),
            false,
        ));
    }
    body.push_str(&format!(
        "<p>{}</p>",
        html::link(
            layout,
            "/payments",
            "back-to-payments",
            "back",
            "All payments"
        )
    ));
    render(
        &customer.chrome,
        "payment",
        &format!("{} {}", kind_text(record.payment.kind), id),
        &body,
    )
}

/// A record's facts under keys `payment-reference`, `-kind`, `-status`, `-status-text`, `-e2e`,
/// `-from`, `-beneficiary`, `-iban`, `-amount`, `-communication`, `-date` (and for standing orders
/// `-frequency`, `-end`, `-day`; for files `-message-id`, `-count`).
fn facts(record: &PaymentRecord) -> Vec<(&'static str, &'static str, String)> {
    let (beneficiary, iban, amount, date) = summary(record);
    let mut items = vec![
        (
            "payment-reference",
            "Reference",
            escape(record.payment.id.as_str()),
        ),
        (
            "payment-kind",
            "Type",
            escape(kind_text(record.payment.kind)),
        ),
        ("payment-status", "Status", escape(record.status.code())),
        (
            "payment-status-text",
            "Status (in words)",
            escape(status_text(record.status)),
        ),
    ];
    match &record.detail {
        PaymentDetail::Single(p) => items.extend([
            (
                "payment-e2e",
                "End-to-end id",
                escape(p.end_to_end_id.as_str()),
            ),
            ("payment-from", "From account", escape(&p.debtor.paper())),
            ("payment-beneficiary", "Beneficiary", escape(&beneficiary)),
            ("payment-iban", "Beneficiary IBAN", escape(&iban)),
            ("payment-amount", "Amount", escape(&amount)),
            (
                "payment-communication",
                "Communication",
                escape(p.remittance.as_deref().unwrap_or("")),
            ),
            ("payment-date", "Execution date", escape(&date)),
        ]),
        PaymentDetail::Periodic(s) => items.extend([
            (
                "payment-e2e",
                "End-to-end id",
                escape(s.payment.end_to_end_id.as_str()),
            ),
            (
                "payment-from",
                "From account",
                escape(&s.payment.debtor.paper()),
            ),
            ("payment-beneficiary", "Beneficiary", escape(&beneficiary)),
            ("payment-iban", "Beneficiary IBAN", escape(&iban)),
            ("payment-amount", "Amount", escape(&amount)),
            (
                "payment-communication",
                "Communication",
                escape(s.payment.remittance.as_deref().unwrap_or("")),
            ),
            ("payment-date", "Start date", escape(&date)),
            (
                "payment-end",
                "End date",
                escape(
                    &s.end_date
                        .map(format_date)
                        .unwrap_or_else(|| "Until cancelled".to_owned()),
                ),
            ),
            ("payment-frequency", "Frequency", escape(s.frequency.code())),
            (
                "payment-day",
                "Day of execution",
                s.day_of_execution
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            ),
        ]),
        PaymentDetail::File {
            message_id,
            payments,
        } => items.extend([
            ("payment-message-id", "Message id", escape(message_id)),
            (
                "payment-count",
                "Number of payments",
                payments.len().to_string(),
            ),
            ("payment-amount", "Total", escape(&amount)),
            ("payment-date", "First execution date", escape(&date)),
        ]),
    }
    items
}

/// Cancels a payment, standing order or file, then goes back where the button was.
pub(crate) async fn cancel(
    customer: Customer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let id = PaymentId::new(id);
    let back = form.get(Field::Return);
    let back = if back.starts_with('/') && !back.starts_with("//") {
        back.to_owned()
    } else {
        "/payments".to_owned()
    };
    match customer.web.shared.ledger.cancel(&customer.customer, &id) {
        Ok(_) => {
            let sep = if back.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{back}{sep}cancelled={}", url_encode(id.as_str())))
                .into_response()
        }
        Err(error) => refused(&customer, "Cancellation refused", &error, &back),
    }
}
