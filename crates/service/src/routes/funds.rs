//! Confirmation of funds: `POST /v1/funds-confirmations`, only under a consent of the calling caller
//! (`Consent-ID`) that covers the account asked about — as the bank's API answers, `CONSENT_INVALID`
//! (401) when it does not. Naming a customer by `PSU-ID` alone opens nothing: another customer's
//! funds could otherwise be found to the euro by bisection.

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::{ApiError, funds_json};

use super::ctx::Ctx;
use crate::errors::{Result, bank_error, owner_store_error};

/// `POST /v1/funds-confirmations`: whether the account holds the amount now.
pub(super) async fn funds_confirmation(
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let (iban, amount) = xs2a::funds_request(&body)?;
    let psu = ctx.consent_psu(&headers)?;
    let consent = psu
        .consent_id
        .as_ref()
        .expect("a consent's context names it");
    let request = ctx
        .state
        .inner
        .owners
        .consent_request(&ctx.bank().name, consent.as_str())
        .map_err(owner_store_error)?;
    let access = request.as_ref().map(|r| &r.access);
    let covered = access.is_some_and(|a| {
        a.accounts.contains(&iban) || a.balances.contains(&iban) || a.transactions.contains(&iban)
    });
    if !covered {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "CONSENT_INVALID",
            "the consent does not cover this account",
        )
        .into());
    }
    let answer = ctx
        .failover()
        .confirm_funds(&psu, &iban, &amount)
        .await
        .map_err(bank_error)?;
    Ok(Json(funds_json(&answer)))
}
