//! Consents: `POST /v1/consents`, `GET /v1/consents/{id}` and `…/status`, and their authorisations.
//! A consent made here is recorded with its caller in the owner store, with what it asked for.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use psd2_fallback_engine::model::{AccountScope, ConsentId, ConsentStatus, ScaTarget};
use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::{
    ApiError, ConsentIn, Links, consent_created, consent_json, consent_status_json,
};

use super::authorisations::{
    authorisation_list, authorisation_status, start_authorisation, update_authorisation,
};
use super::ctx::Ctx;
use crate::errors::{Result, bank_error, owner_store_error};

/// `POST /v1/consents`: the consent is made at the bank, then recorded as this caller's.
#[utoipa::path(post, path = "/v1/consents", tag = "consents", security(("caller" = [])),
    params(
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-ID" = String, Header, description = "The customer at the bank"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    request_body(content = Object, content_type = "application/json", description = "A Berlin Group `consents` body: `access` (accounts, balances, transactions by IBAN; or `availableAccounts`, `availableAccountsWithBalance`, `allPsd2`: `allAccounts`; or the three lists empty for a bank-offered consent), `recurringIndicator`, `validUntil`, `frequencyPerDay`"),
    responses(
        (status = 201, description = "The consent, `received`, with its `_links`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 429, description = "Rate limited (per caller, or RTS Art. 36(5) unattended reads); `Retry-After` says when"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn create_consent(ctx: Ctx, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let psu_id = xs2a::psu_id(&headers)?;
    let input: ConsentIn = xs2a::json(&body)?;
    // Listed accounts, a scope over all the customer's (`availableAccounts`, `allPsd2`, …) or a
    // bank-offered consent: the bank (or the website's login) decides which accounts that is.
    let request = input.to_request()?;
    let psu = ctx.psu(&psu_id, &headers);
    let created = ctx
        .failover()
        .create_consent_announced(&psu, &request)
        .await
        .map_err(bank_error)?;
    let id = created.id;
    ctx.state
        .inner
        .owners
        .record_consent_owner(&ctx.bank().name, id.as_str(), &ctx.owner(psu_id), &request)
        .map_err(owner_store_error)?;
    // The approach the bank announced, if it did (a redirect or the app: no password is asked);
    // otherwise the bank's choice at the start of the authorisation.
    let approach = ctx.bank().fallback_password.announce(created.approach);
    Ok(consent_created(&id, &ctx.prefix, approach))
}

/// `GET /v1/consents/{id}`: what the consent asked for (kept in the owner store when it was made
/// through the service) and its status now (from the bank); a valid bank-offered consent lists the
/// accounts the customer picked, as the bank (or the website's login) says. `lastActionDate` is left out: the bank's
/// own record of it is not read by any channel, and the service does not guess it.
#[utoipa::path(get, path = "/v1/consents/{consent}", tag = "consents", security(("caller" = [])),
    params(
        ("consent" = String, Path, description = "The consent's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    responses(
        (status = 200, description = "What the consent asked for and its status", content_type = "application/json"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn consent_details(
    ctx: Ctx,
    Path(consent): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let owned = ctx.consent(&consent)?;
    let request = ctx
        .state
        .inner
        .owners
        .consent_request(&ctx.bank().name, &consent)
        .map_err(owner_store_error)?
        .ok_or_else(|| {
            ApiError::unknown("the details of this consent were not kept (made before they were)")
        })?;
    let status = ctx
        .failover()
        .consent_status(
            &ctx.psu(&owned.psu, &headers),
            &ConsentId::new(consent.clone()),
        )
        .await
        .map_err(bank_error)?;
    // A bank-offered consent lists what the customer picked at its SCA, as the bank says now.
    let mut request = request;
    if request.access.scope == AccountScope::BankOffered && status == ConsentStatus::Valid {
        request.access = ctx
            .failover()
            .consent_access(
                &ctx.psu(&owned.psu, &headers),
                &ConsentId::new(consent.clone()),
            )
            .await
            .map_err(bank_error)?;
        request.access.scope = AccountScope::BankOffered;
    }
    let base = format!("{}/v1/consents/{consent}", ctx.prefix);
    let links = Links::new()
        .with("self", base.clone())
        .with("status", format!("{base}/status"));
    Ok(Json(consent_json(&request, status, None, &links)))
}

/// `GET /v1/consents/{id}/status`, from the bank.
#[utoipa::path(get, path = "/v1/consents/{consent}/status", tag = "consents", security(("caller" = [])),
    params(
        ("consent" = String, Path, description = "The consent's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    responses(
        (status = 200, description = "The consent's status", content_type = "application/json"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn consent_status(
    ctx: Ctx,
    Path(consent): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let owned = ctx.consent(&consent)?;
    let status = ctx
        .failover()
        .consent_status(&ctx.psu(&owned.psu, &headers), &ConsentId::new(consent))
        .await
        .map_err(bank_error)?;
    Ok(Json(consent_status_json(status)))
}

/// `POST /v1/consents/{id}/authorisations`.
#[utoipa::path(post, path = "/v1/consents/{consent}/authorisations", tag = "consents", security(("caller" = [])),
    params(
        ("consent" = String, Path, description = "The consent's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    request_body(content = Object, content_type = "application/json", description = "`psuData.password`: the customer's password, for embedded SCA"),
    responses(
        (status = 201, description = "The authorisation with its `challengeData`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn start_consent_authorisation(
    ctx: Ctx,
    Path(consent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let owned = ctx.consent(&consent)?;
    let base = format!("{}/v1/consents/{consent}", ctx.prefix);
    start_authorisation(
        &ctx,
        &owned,
        &headers,
        &body,
        ScaTarget::Consent(ConsentId::new(consent)),
        base,
    )
    .await
}

/// `GET /v1/consents/{id}/authorisations`: the ids of the consent's authorisations, as the bank
/// holds them (Berlin Group "get consent authorisation sub-resources").
#[utoipa::path(get, path = "/v1/consents/{consent}/authorisations", tag = "consents", security(("caller" = [])),
    params(
        ("consent" = String, Path, description = "The consent's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request")
    ),
    responses(
        (status = 200, description = "`authorisationIds`: the consent's authorisations", content_type = "application/json"),
        (status = 400, description = "The bank cannot list them now (`SERVICE_INVALID`: its website is serving)"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn consent_authorisations(
    ctx: Ctx,
    Path(consent): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let owned = ctx.consent(&consent)?;
    let target = ScaTarget::Consent(ConsentId::new(consent));
    authorisation_list(&ctx, &owned, &headers, target).await
}

/// `PUT /v1/consents/{id}/authorisations/{authorisation}`.
#[utoipa::path(put, path = "/v1/consents/{consent}/authorisations/{authorisation}", tag = "consents", security(("caller" = [])),
    params(
        ("consent" = String, Path, description = "The consent's id"),
        ("authorisation" = String, Path, description = "The authorisation's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    request_body(content = Object, content_type = "application/json", description = "`scaAuthenticationData`: the customer's answer to the challenge"),
    responses(
        (status = 200, description = "The authorisation's `scaStatus`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn update_consent_authorisation(
    ctx: Ctx,
    Path((consent, authorisation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let owned = ctx.consent(&consent)?;
    let base = format!("{}/v1/consents/{consent}", ctx.prefix);
    update_authorisation(
        &ctx,
        &owned,
        &headers,
        &body,
        ScaTarget::Consent(ConsentId::new(consent)),
        authorisation,
        base,
    )
    .await
}

/// `GET /v1/consents/{id}/authorisations/{authorisation}`.
#[utoipa::path(get, path = "/v1/consents/{consent}/authorisations/{authorisation}", tag = "consents", security(("caller" = [])),
    params(
        ("consent" = String, Path, description = "The consent's id"),
        ("authorisation" = String, Path, description = "The authorisation's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request")
    ),
    responses(
        (status = 200, description = "The authorisation's `scaStatus` and the bank's `psuMessage`: poll a redirect or decoupled authorisation until it is `finalised` or `failed`", content_type = "application/json"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn consent_authorisation_status(
    ctx: Ctx,
    Path((consent, authorisation)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let owned = ctx.consent(&consent)?;
    authorisation_status(
        &ctx,
        &owned,
        &headers,
        ScaTarget::Consent(ConsentId::new(consent)),
        authorisation,
    )
    .await
}
