//! The sandbox bank's online-banking website: server-rendered HTML over the same ledger as the API.
//!
//! A customer accepts the cookie banner, logs in (customer number, password, then a card-reader
//! challenge), and reads accounts, balances and a script-rendered transaction history; makes payments
//! and standing orders (form → read-back → signing with the card reader → result), uploads and signs
//! pain.001 payment files, and cancels what can still be cancelled.
//!
//! The website honours its [`WebsiteFault`]: `maintenance` answers every page with `503`, `slow` delays
//! every page, and `layout-v2` serves the same content in other markup ([`html::Layout`]).
//!
//! - [`html`]: escaping and the render helpers, the only place that knows how each layout spells things.
//! - [`session`]: sessions, CSRF tokens and the extractors that check them.
//! - [`auth`], [`accounts`], [`payments`], [`orders`], [`files`]: the screens.

mod accounts;
mod auth;
mod files;
mod html;
mod orders;
mod payments;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use self::html::{Chrome, Layout, escape};
use self::session::Sessions;
use super::WebsiteFault;
use super::server::Shared;
use crate::LedgerError;

/// What every page handler can reach: the bank and the website's sessions.
#[derive(Debug)]
pub(crate) struct Web {
    /// The ledger, the faults and the configuration shared with the API.
    shared: Arc<Shared>,
    /// The logged-in (and about to log in) visitors.
    sessions: Sessions,
}

impl Web {
    /// The markup in force now.
    fn layout(&self) -> Layout {
        match *self.shared.web_fault.borrow() {
            WebsiteFault::LayoutV2 => Layout::V2,
            _ => Layout::V1,
        }
    }
}

/// The website's routes (the admin routes under `/_sandbox/` are added by the server).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let idle = shared.config.session_idle;
    let web = Arc::new(Web {
        shared,
        sessions: Sessions::new(idle),
    });
    Router::new()
        .route("/", get(auth::root))
        .route("/cookies", post(auth::accept_cookies))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/sca", get(auth::sca_page).post(auth::sca))
        .route("/logout", get(auth::logout))
        .route("/accounts", get(accounts::overview))
        .route("/accounts/{id}", get(accounts::account))
        .route("/payments", get(payments::list))
        .route(
            "/payments/new",
            get(payments::new_page).post(payments::new_submit),
        )
        .route(
            "/payments/confirm",
            get(payments::confirm_page).post(payments::confirm),
        )
        .route("/payments/{id}", get(payments::detail))
        .route("/payments/{id}/cancel", post(payments::cancel))
        .route("/payments/{id}/result", get(payments::result))
        .route("/sign/{id}", get(payments::sign_page).post(payments::sign))
        .route("/standing-orders", get(orders::list))
        .route(
            "/standing-orders/new",
            get(orders::new_page).post(orders::new_submit),
        )
        .route(
            "/standing-orders/confirm",
            get(orders::confirm_page).post(orders::confirm),
        )
        .route("/files", get(files::page).post(files::upload))
        .route("/files/review", get(files::review_page).post(files::review))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(web.clone(), faults))
        .with_state(web)
}

/// Applies the website fault to every page: the maintenance page, or a delay.
async fn faults(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    let fault = *web.shared.web_fault.borrow();
    match fault {
        WebsiteFault::Maintenance => maintenance(),
        WebsiteFault::Slow { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        WebsiteFault::Up | WebsiteFault::LayoutV2 => next.run(request).await,
    }
}

/// The maintenance page: `503` with `Retry-After`, marker `body[data-screen=maintenance]`.
fn maintenance() -> Response {
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

async fn not_found(State(web): State<Arc<Web>>) -> Response {
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
fn render(chrome: &Chrome, screen: &str, title: &str, body: &str) -> Response {
    Html(html::page(chrome, screen, title, body)).into_response()
}

/// The error screen (marker `error`): a message and a way back.
fn error_page(
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
fn forbidden(chrome: &Chrome) -> Response {
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
fn refusal(error: &LedgerError) -> String {
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
fn amount_html(amount: &psd2_fallback_engine::model::Amount) -> String {
    let text = escape(&psd2_fallback_engine::model::belgian::format_amount(amount));
    if amount.is_negative() {
        format!(r#"<span class="neg">{text}</span>"#)
    } else {
        text
    }
}
