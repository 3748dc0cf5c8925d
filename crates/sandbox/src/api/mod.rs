//! The sandbox bank's API, shaped by the Berlin Group NextGenPSD2 v1.3.12 OpenAPI file: its paths,
//! headers, field names, status codes and `tppMessages` errors. SCA is the embedded approach: the
//! password in `psuData`, the challenge in `challengeData`, the answer in `scaAuthenticationData`.
//!
//! Sandbox conventions beyond the specification, each documented where it is served:
//! `?referenceDate=` on balances (the closing balance of an earlier day), `?pageIndex=` for transaction
//! pages, and `additionalInformation: "standing order <id>"` on transactions a standing order made. A
//! repeated initiation with the same `X-Request-ID` returns the resource the first one made.
//!
//! - `accounts`: accounts, balances, transactions (paged), funds confirmation.
//! - `consents`: consents and their authorisations.
//! - `payments`: single, periodic and bulk payments (pain.001), their status, cancellation and
//!   authorisations.
//! - `authorisations`: the embedded SCA both consents and payments go through.
//! - `errors`: the ledger's refusals as Berlin Group answers.
//! - `faults`: the middleware that checks `X-Request-ID` and applies the API fault.
//!
//! This file only routes; the handlers import each other's parts directly, never this one.

mod accounts;
mod authorisations;
mod consents;
mod errors;
mod faults;
mod payments;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};

use crate::state::Shared;
use psd2_fallback_xs2a::ApiError;

pub use accounts::TRANSACTIONS_PAGE_SIZE;

/// The bulk product for pain.001 payment files.
pub const PAIN001_PRODUCT: &str = psd2_fallback_xs2a::PAIN001_PRODUCT;

/// The API's routes, with the fault and `X-Request-ID` middleware around them.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/consents", post(consents::create_consent))
        .route(
            "/v1/consents/{consent}",
            get(consents::get_consent).delete(consents::delete_consent),
        )
        .route(
            "/v1/consents/{consent}/status",
            get(consents::consent_status),
        )
        .route(
            "/v1/consents/{consent}/authorisations",
            post(consents::start_consent_authorisation).get(consents::list_consent_authorisations),
        )
        .route(
            "/v1/consents/{consent}/authorisations/{authorisation}",
            get(consents::consent_sca_status).put(consents::update_consent_authorisation),
        )
        .route("/v1/accounts", get(accounts::accounts))
        .route("/v1/accounts/{account}", get(accounts::account))
        .route("/v1/accounts/{account}/balances", get(accounts::balances))
        .route(
            "/v1/accounts/{account}/transactions",
            get(accounts::transactions),
        )
        .route(
            "/v1/funds-confirmations",
            post(accounts::funds_confirmation),
        )
        .route("/v1/{service}/{product}", post(payments::initiate))
        .route(
            "/v1/{service}/{product}/{payment}",
            get(payments::payment).delete(payments::cancel),
        )
        .route(
            "/v1/{service}/{product}/{payment}/status",
            get(payments::payment_status),
        )
        .route(
            "/v1/{service}/{product}/{payment}/authorisations",
            post(payments::start_signing::<false>).get(payments::list_signings::<false>),
        )
        .route(
            "/v1/{service}/{product}/{payment}/authorisations/{authorisation}",
            get(payments::signing_status::<false>).put(payments::update_signing::<false>),
        )
        .route(
            "/v1/{service}/{product}/{payment}/cancellation-authorisations",
            post(payments::start_signing::<true>).get(payments::list_signings::<true>),
        )
        .route(
            "/v1/{service}/{product}/{payment}/cancellation-authorisations/{authorisation}",
            get(payments::signing_status::<true>).put(payments::update_signing::<true>),
        )
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "RESOURCE_UNKNOWN",
                "no such endpoint",
            )
        })
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            crate::oauth::require_bearer,
        ))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            faults::request_id_and_faults,
        ))
        .with_state(shared)
}
