//! Embedded SCA, for consents and payments alike: starting an authorisation with the customer's password
//! (the challenge comes back), answering it, its status, and the list of a resource's authorisations.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use crate::ledger::LedgerError;
use crate::state::Shared;
use psd2_fallback_engine::model::{AuthorisationId, ScaTarget};
use psd2_fallback_xs2a::{
    ApiResult, authorisation_answer, authorisation_ids_json, authorisation_password,
    authorisation_started, authorisation_updated, header, psu_id, sca_status_json,
};

pub(super) async fn start_authorisation(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    base: String,
) -> ApiResult<Response> {
    let customer = psu_id(headers)?;
    let password = authorisation_password(body)?;
    let challenge = shared
        .ledger
        .start_authorisation(&customer, target, &password)?;
    Ok(authorisation_started(&challenge, &base))
}

pub(super) async fn update_authorisation(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    authorisation: String,
    base: String,
) -> ApiResult<Json<Value>> {
    let customer = match header(headers, "PSU-ID") {
        Some(id) => id.to_owned(),
        None => owner(shared, &target)?,
    };
    let answer = authorisation_answer(body)?;
    let id = AuthorisationId::new(authorisation);
    let status = shared.ledger.authorise(&customer, &target, &id, &answer)?;
    Ok(Json(authorisation_updated(status, &base, &id)))
}

fn owner(shared: &Shared, target: &ScaTarget) -> ApiResult<String> {
    match target {
        ScaTarget::Consent(id) => Ok(shared.ledger.consent(id)?.0),
        ScaTarget::Payment(p) => shared.ledger.owner_of_payment(&p.id).ok_or_else(|| {
            LedgerError::NotFound {
                what: "payment",
                id: p.id.to_string(),
            }
            .into()
        }),
    }
}

pub(super) fn sca_status(
    shared: &Shared,
    target: &ScaTarget,
    authorisation: String,
) -> ApiResult<Json<Value>> {
    let status = shared
        .ledger
        .authorisation_status(target, &AuthorisationId::new(authorisation))?;
    Ok(Json(sca_status_json(status)))
}

pub(super) fn authorisation_list(shared: &Shared, target: &ScaTarget) -> ApiResult<Json<Value>> {
    owner(shared, target)?;
    Ok(Json(authorisation_ids_json(
        &shared.ledger.authorisations(target),
    )))
}
