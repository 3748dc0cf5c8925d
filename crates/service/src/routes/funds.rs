//! Confirmation of funds: `POST /v1/funds-confirmations`, only under a consent of the calling caller
//! (`Consent-ID`) that covers the account asked about — as the bank's API answers, `CONSENT_INVALID`
//! (401) when it does not. Naming a customer by `PSU-ID` alone opens nothing: another customer's
//! funds could otherwise be found to the euro by bisection.

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use psd2_fallback_engine::model::AccessUse;
use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::{ApiError, funds_json};

use super::ctx::Ctx;
use crate::errors::{Result, bank_error, owner_store_error};

/// `POST /v1/funds-confirmations`: whether the account holds the amount now.
#[utoipa::path(post, path = "/v1/funds-confirmations", tag = "funds", security(("caller" = [])),
    params(
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("Consent-ID" = String, Header, description = "A consent of the caller"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    request_body(content = Object, content_type = "application/json", description = "`account.iban` and `instructedAmount`"),
    responses(
        (status = 200, description = "`fundsAvailable`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 403, description = "Not the caller's consent or payment, or out of its scope"),
        (status = 429, description = "Rate limited (per caller, or RTS Art. 36(5) unattended reads); `Retry-After` says when"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
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
    // Any list naming the account, or a scope that reaches balances (`allPsd2`,
    // `availableAccountsWithBalance`; the bank then checks the account is the customer's). A
    // bank-offered consent's picked accounts are the bank's to say: it covers none here.
    let covered =
        access.is_some_and(|a| a.covers_listed(&iban) || a.allows(&iban, AccessUse::Balances));
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
