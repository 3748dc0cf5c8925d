//! The XS2A routes: each Berlin Group request parsed by `xs2a`, checked against its caller's records,
//! served through the bank's `Failover`, and answered in Berlin Group JSON rendered by `xs2a`.
//!
//! This file is the path table; the handlers live by resource: `consents`, `accounts` (balances and
//! transactions too), `funds`, `payments` (every payment service and product), with `authorisations`
//! (embedded SCA) shared by consents and payments, and `ctx` (who asks, at which bank, and what they
//! own) under them all.

mod accounts;
mod authorisations;
mod consents;
mod ctx;
mod funds;
mod payments;

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post, put};

pub(crate) use ctx::select_bank;

use crate::auth::authenticate;
use crate::state::ServiceState;

/// The XS2A routes, each behind the authentication middleware (`X-Request-ID`, bearer token, rate).
pub(crate) fn router(state: ServiceState) -> Router<ServiceState> {
    Router::new()
        .route("/v1/consents", post(consents::create_consent))
        .route("/v1/consents/{consent}", get(consents::consent_details))
        .route(
            "/v1/consents/{consent}/status",
            get(consents::consent_status),
        )
        .route(
            "/v1/consents/{consent}/authorisations",
            post(consents::start_consent_authorisation),
        )
        .route(
            "/v1/consents/{consent}/authorisations/{authorisation}",
            put(consents::update_consent_authorisation),
        )
        .route("/v1/accounts", get(accounts::accounts))
        .route("/v1/accounts/{account}/balances", get(accounts::balances))
        .route(
            "/v1/accounts/{account}/transactions",
            get(accounts::transactions),
        )
        .route("/v1/funds-confirmations", post(funds::funds_confirmation))
        .route("/v1/{service}/{product}", post(payments::initiate))
        .route(
            "/v1/{service}/{product}/{payment}",
            delete(payments::cancel),
        )
        .route(
            "/v1/{service}/{product}/{payment}/status",
            get(payments::payment_status),
        )
        .route(
            "/v1/{service}/{product}/{payment}/authorisations",
            post(payments::start_payment_authorisation),
        )
        .route(
            "/v1/{service}/{product}/{payment}/authorisations/{authorisation}",
            put(payments::update_payment_authorisation),
        )
        .route_layer(middleware::from_fn_with_state(
            state.inner.callers.clone(),
            authenticate,
        ))
}
