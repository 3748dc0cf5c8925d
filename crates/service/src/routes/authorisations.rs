//! Embedded SCA, the same for consents and payments: starting an authorisation relays the bank's
//! challenge (`psuData.password` in, `challengeData` out), updating it relays the customer's answer
//! (`scaAuthenticationData`). The password serves that authorisation only; once it succeeds, it is
//! kept for the website channel's later logins for that consent (or payment) of this caller, and for
//! this caller's calls for that customer that name no consent — never for another caller, never after
//! a failed authorisation, at most `PASSWORD_KEPT_AT_MOST` and not past the consent's `validUntil`.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use psd2_fallback_engine::model::{AuthorisationId, ScaAnswer, ScaStatus, ScaTarget};
use psd2_fallback_xs2a::{
    authorisation_answer, authorisation_password, authorisation_started, authorisation_updated,
};

use super::ctx::{Ctx, Owned};
use crate::errors::{Result, bank_error};
use crate::state::PasswordFor;

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
    let what = password_for(&target);
    let mut psu = ctx.psu(&owned.psu, headers);
    psu.password = Some(ctx.password_given(what.clone(), password));
    match ctx.failover().start_authorisation(&psu, &target).await {
        Ok(challenge) => Ok(authorisation_started(&challenge, &base)),
        Err(error) => {
            ctx.password_refused(&what);
            Err(bank_error(error))
        }
    }
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
    let what = password_for(&target);
    let mut psu = ctx.psu(&owned.psu, headers);
    psu.password = ctx.password_for(&what);
    let status = ctx
        .failover()
        .authorise(&psu, &target, &id, &answer)
        .await
        .map_err(bank_error)?;
    match status {
        ScaStatus::Finalised => {
            let until = match &target {
                ScaTarget::Consent(consent) => consent_end(ctx, consent.as_str()),
                ScaTarget::Payment(_) => None,
            };
            ctx.password_proven(what, &owned.psu, until);
        }
        ScaStatus::Failed => ctx.password_refused(&what),
        _ => {}
    }
    Ok(Json(authorisation_updated(status, &base, &id)))
}

/// What a password given for an authorisation of `target` belongs to.
fn password_for(target: &ScaTarget) -> PasswordFor {
    match target {
        ScaTarget::Consent(consent) => PasswordFor::Consent(consent.as_str().to_owned()),
        ScaTarget::Payment(payment) => PasswordFor::Payment(payment.id.as_str().to_owned()),
    }
}

/// When a consent's `validUntil` day ends (UTC), as an instant; `None` when its details were not kept.
fn consent_end(ctx: &Ctx, consent: &str) -> Option<tokio::time::Instant> {
    let request = ctx
        .state
        .inner
        .owners
        .consent_request(&ctx.bank().name, consent)
        .ok()
        .flatten()?;
    let end = request.valid_until.next_day()?.midnight().assume_utc();
    let left = (end - time::OffsetDateTime::now_utc())
        .try_into()
        .unwrap_or(std::time::Duration::ZERO);
    Some(tokio::time::Instant::now() + left)
}
