//! The sandbox bank's online-banking website: server-rendered HTML over the same ledger as the API.
//!
//! A customer accepts the cookie banner, logs in (customer number, password, then a card-reader
//! challenge — or, for those who confirm logins in the banking app, a page that waits for the app, and
//! for those offered a choice, a page choosing between the two), and reads accounts, balances and a script-rendered transaction history; makes payments
//! and standing orders (form → read-back → signing with the card reader → result), uploads and signs
//! pain.001 payment files, and cancels what can still be cancelled.
//!
//! The website honours its [`WebsiteFault`]: `maintenance` answers every page with `503`, `slow` delays
//! every page, and `layout-v2` serves the same content in other markup (`html::Layout`).
//!
//! - `html`: escaping and the render helpers, the only place that knows how each layout spells things.
//! - `page`: the pages every screen shares (error, `403`, maintenance, not found) and refusals in words.
//! - `session`: sessions, CSRF tokens, drafts and signings in progress.
//! - `site`: `Web`, what every handler reaches: the shared state and the sessions.
//! - `visitor`: the extractors that hand a page its visitor or customer, and the CSRF check.
//! - `auth` (with `app_login`), `accounts` (with `history`), `payments`, `orders`, `files`: the screens.
//!
//! This file only routes and applies the fault; the screens import the modules above, never this one.

mod accounts;
mod app_login;
mod auth;
mod files;
mod history;
mod html;
mod orders;
mod page;
mod payments;
mod session;
mod site;
mod visitor;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use self::site::Web;
use crate::state::Shared;

/// The website's routes (the admin routes under `/_sandbox/` are added by the server).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let web = Arc::new(Web::new(shared));
    Router::new()
        .route("/", get(auth::root))
        .route("/cookies", post(auth::accept_cookies))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/sca", get(auth::sca_page).post(auth::sca))
        .route(
            "/login/method",
            get(app_login::method_page).post(app_login::choose_method),
        )
        .route("/login/app", get(app_login::app_page))
        .route("/login/app/status", get(app_login::app_status))
        .route("/logout", get(auth::logout))
        .route("/accounts", get(accounts::overview))
        .route("/accounts/{id}", get(accounts::account))
        .route("/payments", get(payments::list::list))
        .route(
            "/payments/new",
            get(payments::transfer::new_page).post(payments::transfer::new_submit),
        )
        .route(
            "/payments/confirm",
            get(payments::transfer::confirm_page).post(payments::transfer::confirm),
        )
        .route("/payments/{id}", get(payments::list::detail))
        .route("/payments/{id}/cancel", post(payments::list::cancel))
        .route("/payments/{id}/result", get(payments::signing::result))
        .route(
            "/sign/{id}",
            get(payments::signing::sign_page).post(payments::signing::sign),
        )
        .route("/sign/{id}/app", get(payments::app_signing::app_status))
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
        .fallback(page::not_found)
        .layer(middleware::from_fn_with_state(web.clone(), faults))
        .with_state(web)
}

/// Applies the website fault to every page: the maintenance page, or a delay.
async fn faults(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    if web.shared.website_in_maintenance().await {
        page::maintenance()
    } else {
        next.run(request).await
    }
}
