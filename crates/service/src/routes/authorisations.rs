//! SCA, the same for consents and payments, in whichever approach the bank chooses: starting an
//! authorisation passes the caller's preferences (`TPP-Redirect-Preferred`, `TPP-Decoupled-Preferred`,
//! `TPP-Redirect-URI`, `TPP-Nok-Redirect-URI`) and the password, if the caller gave one, to the bank,
//! and relays what the bank asks in Berlin Group shape (`ASPSP-SCA-Approach`; `challengeData`,
//! `scaMethods`, `_links.scaRedirect`/`scaOAuth`, or a decoupled `psuMessage`; always the `scaStatus`
//! link to poll). Updating it relays the customer's answer (`scaAuthenticationData`) or choice of method
//! (`authenticationMethodId`), or, after an OAuth2 redirect, the authorization code the bank sent to the
//! caller's redirect URI (`confirmationCode` with its `state`: the service keeps the PKCE verifier and
//! exchanges it); `GET` polls it on the channel that started it. No password is asked
//! for when the bank redirects or pushes to the customer's app. A password serves its authorisation only; once it succeeds, it is
//! kept for the website channel's later logins for that consent (or payment) of this caller, and for
//! this caller's calls for that customer that name no consent — never for another caller, never after
//! a failed authorisation, at most `PASSWORD_KEPT_AT_MOST` and not past the consent's `validUntil`.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use psd2_fallback_engine::model::{
    AuthorisationCode, AuthorisationId, ScaAnswer, ScaStatus, ScaTarget,
};
use psd2_fallback_xs2a::{
    ApiError, AuthorisationUpdate, authorisation_ids_json, authorisation_start,
    authorisation_step_in, authorisation_update, authorisation_updated_in, sca_preference,
    sca_progress_json, step_json_in,
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
    let password = authorisation_start(body)?;
    let what = password_for(&target);
    let mut psu = ctx.psu(&owned.psu, headers);
    psu.sca = sca_preference(headers)?;
    let given = password.is_some();
    psu.password = password.map(|p| ctx.password_given(what.clone(), p));
    match ctx.failover().start_authorisation(&psu, &target).await {
        Ok(step) => Ok(authorisation_step_in(&step, &base, target.collection())),
        Err(error) => {
            if given {
                ctx.password_refused(&what);
            }
            Err(bank_error(error))
        }
    }
}

/// The ids of `target`'s authorisations (a resource of `owned`'s customer), as the bank holds them
/// (Berlin Group "get authorisation sub-resources").
pub(super) async fn authorisation_list(
    ctx: &Ctx,
    owned: &Owned,
    headers: &HeaderMap,
    target: ScaTarget,
) -> Result<Json<Value>> {
    let psu = ctx.psu(&owned.psu, headers);
    let ids = ctx
        .failover()
        .authorisation_ids(&psu, &target)
        .await
        .map_err(bank_error)?;
    Ok(Json(authorisation_ids_json(&ids)))
}

/// Where an authorisation of `target` stands (a redirect, a decoupled approval): `scaStatus` and the
/// bank's `psuMessage`, asked of the channel that started it.
pub(super) async fn authorisation_status(
    ctx: &Ctx,
    owned: &Owned,
    headers: &HeaderMap,
    target: ScaTarget,
    authorisation: String,
) -> Result<Json<Value>> {
    let id = AuthorisationId::new(authorisation);
    let psu = ctx.psu(&owned.psu, headers);
    let progress = ctx
        .failover()
        .authorisation_status(&psu, &target, &id)
        .await
        .map_err(bank_error)?;
    // A redirect or a decoupled approval ends here, not in an update: the password given at its
    // start is kept (or forgotten) as when a challenge is answered.
    settle_password(ctx, owned, &target, progress.status);
    Ok(Json(sca_progress_json(&progress)))
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
    let id = AuthorisationId::new(authorisation);
    let answer = match authorisation_update(body)? {
        AuthorisationUpdate::Answer(answer) => ScaAnswer::new(answer),
        AuthorisationUpdate::Method(method) => {
            let psu = ctx.psu(&owned.psu, headers);
            let step = ctx
                .failover()
                .select_sca_method(&psu, &target, &id, &method)
                .await
                .map_err(bank_error)?;
            return Ok(Json(step_json_in(&step, &base, target.collection())));
        }
        AuthorisationUpdate::Confirmation { code, state } => {
            let state = state.ok_or_else(|| {
                ApiError::format(
                    "state",
                    "is required with confirmationCode: the state that came back with the code",
                )
            })?;
            let psu = ctx.psu(&owned.psu, headers);
            let status = ctx
                .failover()
                .exchange_authorisation_code(
                    &psu,
                    &target,
                    &id,
                    &AuthorisationCode::new(code),
                    &state,
                )
                .await
                .map_err(bank_error)?;
            settle_password(ctx, owned, &target, status);
            return Ok(Json(authorisation_updated_in(
                status,
                &base,
                target.collection(),
                &id,
            )));
        }
    };
    let what = password_for(&target);
    let mut psu = ctx.psu(&owned.psu, headers);
    psu.password = ctx.password_for(&what);
    let status = ctx
        .failover()
        .authorise(&psu, &target, &id, &answer)
        .await
        .map_err(bank_error)?;
    settle_password(ctx, owned, &target, status);
    Ok(Json(authorisation_updated_in(
        status,
        &base,
        target.collection(),
        &id,
    )))
}

/// An authorisation of `target` reached `status`: once finalised, the password given at its start (if
/// any) is kept; once failed, it is forgotten; meanwhile it waits. However the authorisation ended (a
/// challenge answered, a redirect or a decoupled approval polled, an OAuth2 code exchanged).
fn settle_password(ctx: &Ctx, owned: &Owned, target: &ScaTarget, status: ScaStatus) {
    let what = password_for(target);
    match status {
        ScaStatus::Finalised => {
            let until = match target {
                ScaTarget::Consent(consent) => consent_end(ctx, consent.as_str()),
                ScaTarget::Payment(_) | ScaTarget::Cancellation(_) => None,
            };
            ctx.password_proven(what, &owned.psu, until);
        }
        ScaStatus::Failed => ctx.password_refused(&what),
        _ => {}
    }
}

/// What a password given for an authorisation of `target` belongs to.
fn password_for(target: &ScaTarget) -> PasswordFor {
    match target {
        ScaTarget::Consent(consent) => PasswordFor::Consent(consent.as_str().to_owned()),
        ScaTarget::Payment(payment) => PasswordFor::Payment(payment.id.as_str().to_owned()),
        // Kept apart from the payment's own signing.
        ScaTarget::Cancellation(payment) => {
            PasswordFor::Payment(format!("{}/cancellation", payment.id))
        }
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
