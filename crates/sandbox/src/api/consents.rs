//! Consents: creating one (the accounts named; `availableAccounts`, `availableAccountsWithBalance` or
//! `allPsd2` over every account of the customer; or bank-offered, the accounts the customer ticks at
//! its SCA), reading it (a bank-offered one lists the ticked accounts) and its status, deleting it,
//! and its authorisations.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::authorisations::{
    authorisation_list, sca_status, start_authorisation, update_authorisation,
};
use crate::state::Shared;
use psd2_fallback_engine::model::{ConsentId, ScaTarget};
use psd2_fallback_xs2a::{
    ApiResult, ConsentIn, Links, consent_created, consent_json, consent_status_json, json, psu_id,
};

pub(super) async fn create_consent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let customer = psu_id(&headers)?;
    let input: ConsentIn = json(&body)?;
    let request = input.to_request()?;
    let id = shared.ledger.create_consent(&customer, request)?;
    Ok(consent_created(&id, "", shared.config.sca.fixed_approach()))
}

pub(super) async fn get_consent(
    State(shared): State<Arc<Shared>>,
    Path(consent): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, consent) = shared.ledger.consent(&ConsentId::new(consent))?;
    Ok(Json(consent_json(
        &consent.request,
        consent.status,
        Some(shared.ledger.today()),
        &Links::new().with("status", format!("/v1/consents/{}/status", consent.id)),
    )))
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
    Ok(Json(consent_status_json(consent.status)))
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
