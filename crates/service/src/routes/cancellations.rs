//! The Berlin Group cancellation-authorisation routes (`…/{payment}/cancellation-authorisations`): a
//! cancellation the bank answered with `202` and `_links.startAuthorisation` is authorised like the
//! payment itself ([`ScaTarget::Cancellation`]), through the same start / answer / poll as any
//! authorisation, for the caller's own payments only; the list of a cancellation's authorisations is
//! the bank's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use psd2_fallback_engine::model::ScaTarget;

use super::authorisations::{
    authorisation_list, authorisation_status, start_authorisation, update_authorisation,
};

use super::ctx::Ctx;
use crate::errors::Result;

/// `POST /v1/{service}/{product}/{id}/cancellation-authorisations`.
#[utoipa::path(post, path = "/v1/{service}/{product}/{payment}/cancellation-authorisations", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is")
    ),
    request_body(content = Object, content_type = "application/json", description = "`psuData.password`: the customer's password, for embedded SCA"),
    responses(
        (status = 201, description = "The cancellation's authorisation: `challengeData`, `scaMethods`, `_links.scaRedirect`/`scaOAuth` or a decoupled `psuMessage`, as the bank chose", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 405, description = "The payment can no longer be cancelled (`CANCELLATION_INVALID`)"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn start_cancellation_authorisation(
    ctx: Ctx,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    let base = format!("{}/v1/{service}/{product}/{}", ctx.prefix, payment.id);
    start_authorisation(
        &ctx,
        &owned,
        &headers,
        &body,
        ScaTarget::Cancellation(payment),
        base,
    )
    .await
}

/// `GET /v1/{service}/{product}/{id}/cancellation-authorisations`: the ids of the cancellation's
/// authorisations, as the bank holds them (Berlin Group "get cancellation authorisation
/// sub-resources").
#[utoipa::path(get, path = "/v1/{service}/{product}/{payment}/cancellation-authorisations", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request")
    ),
    responses(
        (status = 200, description = "`authorisationIds`: the cancellation's authorisations", content_type = "application/json"),
        (status = 400, description = "The bank cannot list them now (`SERVICE_INVALID`: its website is serving)"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn cancellation_authorisations(
    ctx: Ctx,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    authorisation_list(&ctx, &owned, &headers, ScaTarget::Cancellation(payment)).await
}

/// `PUT /v1/{service}/{product}/{id}/cancellation-authorisations/{authorisation}`.
#[utoipa::path(put, path = "/v1/{service}/{product}/{payment}/cancellation-authorisations/{authorisation}", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("authorisation" = String, Path, description = "The cancellation authorisation's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is")
    ),
    request_body(content = Object, content_type = "application/json", description = "`scaAuthenticationData`: the customer's answer; `authenticationMethodId`: a method chosen; `confirmationCode` with `state`: an OAuth2 code"),
    responses(
        (status = 200, description = "The authorisation's `scaStatus` (`finalised`: the payment is cancelled, `CANC`; `failed`: it keeps its status), or the next step after a method choice", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 502, description = "A write's outcome is unknown: repeat it with the same `X-Request-ID`"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn update_cancellation_authorisation(
    ctx: Ctx,
    Path((service, product, payment, authorisation)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    let base = format!("{}/v1/{service}/{product}/{}", ctx.prefix, payment.id);
    update_authorisation(
        &ctx,
        &owned,
        &headers,
        &body,
        ScaTarget::Cancellation(payment),
        authorisation,
        base,
    )
    .await
}

/// `GET /v1/{service}/{product}/{id}/cancellation-authorisations/{authorisation}`.
#[utoipa::path(get, path = "/v1/{service}/{product}/{payment}/cancellation-authorisations/{authorisation}", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("authorisation" = String, Path, description = "The cancellation authorisation's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request")
    ),
    responses(
        (status = 200, description = "The authorisation's `scaStatus` and the bank's `psuMessage`", content_type = "application/json"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn cancellation_authorisation_status(
    ctx: Ctx,
    Path((service, product, payment, authorisation)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    authorisation_status(
        &ctx,
        &owned,
        &headers,
        ScaTarget::Cancellation(payment),
        authorisation,
    )
    .await
}
