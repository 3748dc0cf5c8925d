//! Embedded SCA, the same for consents and payments: starting an authorisation relays the bank's
//! challenge (`psuData.password` in, `challengeData` out), updating it relays the customer's answer
//! (`scaAuthenticationData`). The password is kept for the website channel's later logins.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use psd2_fallback_engine::model::{AuthorisationId, ScaAnswer, ScaTarget};
use psd2_fallback_xs2a::{
    authorisation_answer, authorisation_password, authorisation_started, authorisation_updated,
};

use super::ctx::{Ctx, Owned};
use crate::errors::{Result, bank_error};

/// Starts an authorisation of `target`, a resource of `owned`'s customer at `base`.
pub(super) async fn start_authorisation(
    ctx: &Ctx,
    owned: &Owned,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    base: String,
) -> Result<Response> {
    let password = authorisation_password(body)?;
    let mut psu = ctx.psu(&owned.psu, headers);
    psu.password = Some(ctx.remember_password(&owned.psu, password));
    let challenge = ctx
        .failover()
        .start_authorisation(&psu, &target)
        .await
        .map_err(bank_error)?;
    Ok(authorisation_started(&challenge, &base))
}

/// Answers the challenge of an authorisation of `target`, a resource of `owned`'s customer at `base`.
pub(super) async fn update_authorisation(
    ctx: &Ctx,
    owned: &Owned,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    authorisation: String,
    base: String,
) -> Result<Json<Value>> {
    let answer = ScaAnswer::new(authorisation_answer(body)?);
    let id = AuthorisationId::new(authorisation);
    let status = ctx
        .failover()
        .authorise(&ctx.psu(&owned.psu, headers), &target, &id, &answer)
        .await
        .map_err(bank_error)?;
    Ok(Json(authorisation_updated(status, &base, &id)))
}
