//! Consents: creating one (the accounts the customer names, or all of them for `allAccounts`), reading
//! it and its status, deleting it, and its authorisations.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::authorisations::{
    authorisation_list, sca_status, start_authorisation, update_authorisation,
};
use crate::state::Shared;
use psd2_fallback_engine::model::belgian::format_iso_date;
use psd2_fallback_engine::model::{ConsentId, Iban, ScaTarget};
use psd2_fallback_xs2a::{ApiResult, ConsentIn, consent_created, json, link, psu_id};

pub(super) async fn create_consent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let customer = psu_id(&headers)?;
    let input: ConsentIn = json(&body)?;
    let request = input.to_request(|| {
        Some(
            shared
                .ledger
                .accounts(&customer)
                .into_iter()
                .map(|a| a.iban)
                .collect(),
        )
    })?;
    let id = shared.ledger.create_consent(&customer, request)?;
    Ok(consent_created(&id, ""))
}

pub(super) async fn get_consent(
    State(shared): State<Arc<Shared>>,
    Path(consent): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, consent) = shared.ledger.consent(&ConsentId::new(consent))?;
    let refs = |ibans: &[Iban]| {
        ibans
            .iter()
            .map(|i| json!({"iban": i.as_str()}))
            .collect::<Vec<_>>()
    };
    let access = &consent.request.access;
    Ok(Json(json!({
        "access": {
            "accounts": refs(&access.accounts),
            "balances": refs(&access.balances),
            "transactions": refs(&access.transactions),
        },
        "recurringIndicator": consent.request.recurring,
        "validUntil": format_iso_date(consent.request.valid_until),
        "frequencyPerDay": consent.request.frequency_per_day,
        "lastActionDate": format_iso_date(shared.ledger.today()),
        "consentStatus": consent.status.code(),
        "_links": { "status": link(format!("/v1/consents/{}/status", consent.id)) },
    })))
}

pub(super) async fn delete_consent(
    State(shared): State<Arc<Shared>>,
    Path(consent): Path<String>,
) -> ApiResult<StatusCode> {
    shared.ledger.terminate_consent(&ConsentId::new(consent))?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn consent_status(
    State(shared): State<Arc<Shared>>,
    Path(consent): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, consent) = shared.ledger.consent(&ConsentId::new(consent))?;
    Ok(Json(json!({ "consentStatus": consent.status.code() })))
}

pub(super) async fn start_consent_authorisation(
    State(shared): State<Arc<Shared>>,
    Path(consent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let base = format!("/v1/consents/{consent}");
    start_authorisation(
        &shared,
        &headers,
        &body,
        ScaTarget::Consent(ConsentId::new(consent)),
        base,
    )
    .await
}

pub(super) async fn list_consent_authorisations(
    State(shared): State<Arc<Shared>>,
    Path(consent): Path<String>,
) -> ApiResult<Json<Value>> {
    authorisation_list(&shared, &ScaTarget::Consent(ConsentId::new(consent)))
}

pub(super) async fn consent_sca_status(
    State(shared): State<Arc<Shared>>,
    Path((consent, authorisation)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    sca_status(
        &shared,
        &ScaTarget::Consent(ConsentId::new(consent)),
        authorisation,
    )
}

pub(super) async fn update_consent_authorisation(
    State(shared): State<Arc<Shared>>,
    Path((consent, authorisation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let base = format!("/v1/consents/{consent}");
    update_authorisation(
        &shared,
        &headers,
        &body,
        ScaTarget::Consent(ConsentId::new(consent)),
        authorisation,
        base,
    )
    .await
}
