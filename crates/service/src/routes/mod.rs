//! The XS2A routes: each Berlin Group request parsed by `xs2a`, checked against its caller's records,
//! served through the bank's `Failover`, and answered in Berlin Group JSON rendered by `xs2a`.
//!
//! This file is the path table; the handlers live by resource: `consents`, `accounts` (balances and
//! transactions too), `funds`, `payments` (every payment service and product), with `authorisations`
//! (embedded SCA) shared by consents and payments, `cancellations` (the authorisation of a cancellation
//! the bank wants authorised), and `ctx` (who asks, at which bank, and what they
//! own) under them all.

mod accounts;
mod authorisations;
mod cancellations;
mod consents;
mod ctx;
mod funds;
mod payments;

use axum::middleware;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use ctx::select_bank;

use crate::auth::authenticate;
use crate::state::ServiceState;

/// The XS2A routes, each behind the authentication middleware (`X-Request-ID`, bearer token, rate),
/// with their OpenAPI description (each handler's `#[utoipa::path]`).
pub(crate) fn router(state: ServiceState) -> OpenApiRouter<ServiceState> {
    OpenApiRouter::new()
        .routes(routes!(consents::create_consent))
        .routes(routes!(consents::consent_details))
        .routes(routes!(consents::consent_status))
        .routes(routes!(
            consents::start_consent_authorisation,
            consents::consent_authorisations
        ))
        .routes(routes!(
            consents::update_consent_authorisation,
            consents::consent_authorisation_status
        ))
        .routes(routes!(accounts::accounts))
        .routes(routes!(accounts::balances))
        .routes(routes!(accounts::transactions))
        .routes(routes!(funds::funds_confirmation))
        .routes(routes!(payments::initiate))
        .routes(routes!(payments::cancel))
        .routes(routes!(payments::payment_status))
        .routes(routes!(
            payments::start_payment_authorisation,
            payments::payment_authorisations
        ))
        .routes(routes!(
            payments::update_payment_authorisation,
            payments::payment_authorisation_status
        ))
        .routes(routes!(
            cancellations::start_cancellation_authorisation,
            cancellations::cancellation_authorisations
        ))
        .routes(routes!(
            cancellations::update_cancellation_authorisation,
            cancellations::cancellation_authorisation_status
        ))
        .route_layer(middleware::from_fn_with_state(
            state.inner.callers.clone(),
            authenticate,
        ))
}
