//! The sandbox bank's second online-banking website, "Mijn Bank": the same ledger, customers,
//! passwords, card readers and rules as the first website, behind a website unlike it in every way a
//! screen map must absorb. It is in Dutch; it lives under `/mijnbank` on the website port, with its
//! own session cookie; a cookie wall takes every click until the visitor chooses; logging in is three
//! pages (customer number, password, card reader); accounts are cards; balances and history are on
//! pages of their own; the history is drawn by a script from a JSON call, 25 items at a time, with
//! "Meer laden"; amounts read `-€ 1.234,56` (balances) and `1.234,56-` (history); days read
//! `3 mrt. 2026`; statuses and kinds have Dutch words and no codes; signing is two pages (the order
//! and a method, then the challenge).
//!
//! - `format`: amounts and days both ways; `words`: statuses, kinds, frequencies, yes and no.
//! - `page`: the page shell, the cookie wall, messages, the error and maintenance pages, refusals.
//! - `session`: sessions and their cookies; `site`: `Site` and the visitor/customer extractors.
//! - `auth`, `accounts`, `history`, `orders`, `signing`, `payments`, `files`: the screens.
//!
//! This file only routes and applies the website fault; the screens never import it.

mod accounts;
mod auth;
mod files;
mod format;
mod history;
mod orders;
mod page;
mod payments;
mod session;
mod signing;
mod site;
#[cfg(test)]
mod tests;
mod words;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

pub(crate) use self::page::BASE;
use self::site::Site;
use crate::state::Shared;

/// The website's routes, under [`BASE`] (which answers as `BASE/` does).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let site = Arc::new(Site::new(shared));
    let root = Router::new()
        .route(&format!("{BASE}/"), get(auth::root))
        .layer(middleware::from_fn_with_state(site.clone(), faults))
        .with_state(site.clone());
    let pages = Router::new()
        .route("/cookies", post(auth::cookies))
        .route("/inloggen", get(auth::number_page).post(auth::number))
        .route(
            "/inloggen/wachtwoord",
            get(auth::password_page).post(auth::password),
        )
        .route(
            "/inloggen/kaartlezer",
            get(auth::card_reader_page).post(auth::card_reader),
        )
        .route("/uitloggen", get(auth::logout))
        .route("/overzicht", get(accounts::overview))
        .route("/rekening/{id}/saldo", get(accounts::balances))
        .route("/rekening/{id}/mutaties", get(history::page))
        .route("/api/rekening/{id}/mutaties", get(history::batch))
        .route(
            "/overmaken",
            get(orders::transfer_page).post(orders::transfer),
        )
        .route(
            "/overmaken/controle",
            get(orders::transfer_check_page).post(orders::transfer_check),
        )
        .route("/periodiek", get(orders::order_page).post(orders::order))
        .route(
            "/periodiek/controle",
            get(orders::order_check_page).post(orders::order_check),
        )
        .route("/opdrachten", get(payments::list))
        .route("/opdrachten/{id}", get(payments::detail))
        .route("/opdrachten/{id}/intrekken", post(payments::cancel))
        .route("/opdrachten/{id}/ondertekenen", get(signing::choose_page))
        .route(
            "/opdrachten/{id}/ondertekenen/kaartlezer",
            get(signing::card_reader_page).post(signing::card_reader),
        )
        .route("/opdrachten/{id}/status", get(signing::status_page))
        .route("/bestanden", get(files::page).post(files::upload))
        .route(
            "/bestanden/controle",
            get(files::review_page).post(files::review),
        )
        .fallback(page::not_found)
        .layer(middleware::from_fn_with_state(site.clone(), faults))
        .with_state(site);
    root.nest(BASE, pages)
}

/// Applies the website fault: the maintenance page, or a delay. (`layout-v2` is the first website's.)
async fn faults(State(site): State<Arc<Site>>, request: Request, next: Next) -> Response {
    if site.shared.website_in_maintenance().await {
        page::maintenance()
    } else {
        next.run(request).await
    }
}
