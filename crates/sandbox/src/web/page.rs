//! The pages and page parts every screen shares: a page with `200`, the error screen, the `403` for a
//! stale form, the maintenance and not-found pages, a ledger refusal in the customer's words, and
//! amounts.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::html::{self, Chrome, Layout, escape};
use super::site::Web;
use crate::ledger::LedgerError;

/// The maintenance page: `503` with `Retry-After`, marker `body[data-screen=maintenance]`.
pub(crate) fn maintenance() -> Response {
    let chrome = Chrome {
        layout: Layout::V1,
        customer: None,
        csrf: None,
        banner: false,
        path: "/".to_owned(),
    };
    let body = r#"<p id="maintenance-message" class="msg msg-info">Online banking is down for scheduled maintenance. Please try again later.</p>"#;
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(html::page(&chrome, "maintenance", "Maintenance", body)),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
    response
}

/// The page for an address the website does not have (marker `not-found`).
pub(crate) async fn not_found(State(web): State<Arc<Web>>) -> Response {
    let chrome = Chrome {
        layout: web.layout(),
        customer: None,
        csrf: None,
        banner: false,
        path: "/".to_owned(),
    };
    let body = format!(
        "{}<p><a href=\"/\">Home</a></p>",
        html::error(chrome.layout, "This page does not exist.")
    );
    (
        StatusCode::NOT_FOUND,
        Html(html::page(&chrome, "not-found", "Page not found", &body)),
    )
        .into_response()
}

/// A page with status `200`.
pub(crate) fn render(chrome: &Chrome, screen: &str, title: &str, body: &str) -> Response {
    Html(html::page(chrome, screen, title, body)).into_response()
}

/// The error screen (marker `error`): a message and a way back.
pub(crate) fn error_page(
    chrome: &Chrome,
    status: StatusCode,
    title: &str,
    message: &str,
    back: &str,
) -> Response {
    let body = format!(
        r#"{}<p>{}</p>"#,
        html::error(chrome.layout, message),
        html::link(chrome.layout, back, "back-link", "back", "Back")
    );
    (status, Html(html::page(chrome, "error", title, &body))).into_response()
}

/// The `403` page for a form whose CSRF token does not match the session's (marker `forbidden`).
pub(crate) fn forbidden(chrome: &Chrome) -> Response {
    let body = format!(
        "{}<p><a href=\"/\">Start again</a></p>",
        html::error(
            chrome.layout,
            "This form has expired or was not sent by this website (security token mismatch). Nothing was done."
        )
    );
    (
        StatusCode::FORBIDDEN,
        Html(html::page(chrome, "forbidden", "Request refused", &body)),
    )
        .into_response()
}

/// A ledger refusal as the customer reads it.
pub(crate) fn refusal(error: &LedgerError) -> String {
    match error {
        LedgerError::Invalid(invalid) => {
            format!("{}: {}", field_label(invalid.field), invalid.reason)
        }
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

/// The form label for a domain field name, so a refusal names what the customer typed.
fn field_label(field: &str) -> &str {
    match field {
        "instructedAmount" | "amount" => "Amount",
        "creditorName" => "Beneficiary name",
        "creditorAccount" | "iban" => "Beneficiary IBAN",
        "debtorAccount" | "DbtrAcct" => "From account",
        "remittanceInformationUnstructured" => "Communication",
        "requestedExecutionDate" => "Execution date",
        "endToEndIdentification" => "Your reference",
        "startDate" => "Start date",
        "endDate" => "End date",
        "dayOfExecution" => "Day of execution",
        "referenceDate" | "date" => "Date",
        other => other,
    }
}

/// An amount with a class for negative values, escaped.
pub(crate) fn amount_html(amount: &psd2_fallback_engine::model::Amount) -> String {
    let text = escape(&psd2_fallback_engine::model::belgian::format_amount(amount));
    if amount.is_negative() {
        format!(r#"<span class="neg">{text}</span>"#)
    } else {
        text
    }
}
