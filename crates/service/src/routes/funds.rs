//! Confirmation of funds: `POST /v1/funds-confirmations`, under a consent (`Consent-ID`) or for a
//! customer named by `PSU-ID`.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;

use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::funds_json;

use super::ctx::Ctx;
use crate::errors::{Result, bank_error};

/// `POST /v1/funds-confirmations`: whether the account holds the amount now.
pub(super) async fn funds_confirmation(
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let (iban, amount) = xs2a::funds_request(&body)?;
    let psu = match xs2a::header(&headers, "Consent-ID") {
        Some(_) => ctx.consent_psu(&headers)?,
        None => ctx.psu(&xs2a::psu_id(&headers)?, &headers),
    };
    let answer = ctx
        .failover()
        .confirm_funds(&psu, &iban, &amount)
        .await
        .map_err(bank_error)?;
    Ok(Json(funds_json(&answer)))
}
