//! SCA for consents and payments alike, in whichever approach the bank chooses for the request
//! ([`crate::SandboxSca`]): embedded (the password in, the challenge out, the answer in), redirect (a
//! link to the bank's page, with a secret state), decoupled (an approval in the bank's app, polled)
//! or OAuth2 (`_links.scaOAuth` to the bank's authorisation server, [`crate::oauth`]).
//! Also an authorisation's status and the list of a resource's authorisations.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use crate::ledger::{LedgerError, METHODS, MethodChosen};
use crate::markup::url_encode;
use crate::state::{SandboxSca, Shared};
use psd2_fallback_engine::model::{
    AuthorisationId, DECOUPLED_POLL_EVERY, ScaApproach, ScaChallenge, ScaMethod, ScaPreference,
    ScaProgress, ScaStep, ScaTarget,
};
use psd2_fallback_xs2a::{
    ApiError, ApiResult, AuthorisationUpdate, authorisation_ids_json, authorisation_start,
    authorisation_step_in, authorisation_update, authorisation_updated_in, header, psu_id,
    sca_preference, sca_progress_json, step_json_in,
};

/// What the bank tells the customer to do with the card reader.
const CARD_READER_STEPS: &str = "Insert your card in the card reader, press SIGN, type the challenge and then the response shown";

/// What the bank tells the customer of a decoupled authorisation.
const CONFIRM_IN_APP: &str = "Please confirm in your banking app";

/// The approach for one start of authorisation: the bank's, or the TPP's choice when the bank lets it
/// choose.
fn approach(offer: SandboxSca, preference: &ScaPreference, has_password: bool) -> ScaApproach {
    match offer {
        SandboxSca::Embedded | SandboxSca::Methods => ScaApproach::Embedded,
        SandboxSca::Redirect => ScaApproach::Redirect,
        SandboxSca::Decoupled => ScaApproach::Decoupled,
        SandboxSca::OAuth2 => ScaApproach::OAuth,
        SandboxSca::Choice => {
            if preference.decoupled_preferred == Some(true) {
                ScaApproach::Decoupled
            } else if preference.redirect_preferred == Some(true) {
                ScaApproach::Redirect
            } else if has_password {
                ScaApproach::Embedded
            } else if preference.redirect_uri.is_some() {
                ScaApproach::Redirect
            } else {
                ScaApproach::Decoupled
            }
        }
    }
}

pub(super) async fn start_authorisation(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    base: String,
) -> ApiResult<Response> {
    let customer = psu_id(headers)?;
    let collection = target.collection();
    let password = authorisation_start(body)?;
    if password.is_some() {
        shared
            .api_passwords
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let preference = sca_preference(headers)?;
    let expiry = shared.config.approval_expiry;
    let step = match approach(shared.config.sca, &preference, password.is_some()) {
        ScaApproach::Embedded => {
            let password = password.ok_or_else(|| {
                ApiError::format(
                    "psuData.password",
                    "the embedded approach needs the PSU's password",
                )
            })?;
            if shared.config.sca == SandboxSca::Methods {
                ScaStep::ChooseMethod {
                    authorisation_id: shared
                        .ledger
                        .start_with_choice(&customer, target, &password)?,
                    methods: METHODS
                        .iter()
                        .map(|(id, kind, name)| ScaMethod {
                            id: (*id).to_owned(),
                            kind: (*kind).to_owned(),
                            name: Some((*name).to_owned()),
                        })
                        .collect(),
                }
            } else {
                ScaStep::Challenge(
                    shared
                        .ledger
                        .start_authorisation(&customer, target, &password)?,
                )
            }
        }
        ScaApproach::OAuth => {
            let (id, page_state) =
                shared
                    .ledger
                    .start_redirect(&customer, target.clone(), (None, None), expiry)?;
            shared.oauth.wait(&target, id.clone(), page_state);
            ScaStep::OAuth {
                authorisation_id: id,
                metadata_url: format!("{}{}", shared.api_url, crate::oauth::METADATA_PATH),
                authorization: None,
            }
        }
        ScaApproach::Redirect => {
            let back = (preference.redirect_uri, preference.nok_redirect_uri);
            let (id, state) = shared
                .ledger
                .start_redirect(&customer, target, back, expiry)?;
            ScaStep::Redirect {
                url: format!(
                    "{}/sca/redirect/{}?state={state}",
                    shared.web_url,
                    url_encode(id.as_str())
                ),
                authorisation_id: id,
            }
        }
        ScaApproach::Decoupled => ScaStep::Decoupled {
            authorisation_id: shared.ledger.start_decoupled(&customer, target, expiry)?,
            message: CONFIRM_IN_APP.to_owned(),
            poll_every: DECOUPLED_POLL_EVERY,
            expires_in: Some(expiry),
        },
    };
    Ok(authorisation_step_in(&step, &base, collection))
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
    let id = AuthorisationId::new(authorisation);
    let answer = match authorisation_update(body)? {
        AuthorisationUpdate::Answer(answer) => answer,
        AuthorisationUpdate::Method(method) => {
            let expiry = shared.config.approval_expiry;
            let step = match shared
                .ledger
                .select_method(&customer, &target, &id, &method, expiry)?
            {
                MethodChosen::Challenge(data) => ScaStep::Challenge(ScaChallenge {
                    authorisation_id: id,
                    method: "CHIP_OTP".to_owned(),
                    data,
                    instructions: CARD_READER_STEPS.to_owned(),
                    valid_for: None,
                }),
                MethodChosen::App => ScaStep::Decoupled {
                    authorisation_id: id,
                    message: CONFIRM_IN_APP.to_owned(),
                    poll_every: DECOUPLED_POLL_EVERY,
                    expires_in: Some(expiry),
                },
            };
            return Ok(Json(step_json_in(&step, &base, target.collection())));
        }
        AuthorisationUpdate::Confirmation { .. } => {
            return Err(ApiError::format(
                "confirmationCode",
                "this bank expects no confirmation code: an OAuth2 code is exchanged at its token endpoint",
            ));
        }
    };
    let status = shared.ledger.authorise(&customer, &target, &id, &answer)?;
    Ok(Json(authorisation_updated_in(
        status,
        &base,
        target.collection(),
        &id,
    )))
}

fn owner(shared: &Shared, target: &ScaTarget) -> ApiResult<String> {
    match target {
        ScaTarget::Consent(id) => Ok(shared.ledger.consent(id)?.0),
        ScaTarget::Payment(p) | ScaTarget::Cancellation(p) => {
            shared.ledger.owner_of_payment(&p.id).ok_or_else(|| {
                LedgerError::NotFound {
                    what: "payment",
                    id: p.id.to_string(),
                }
                .into()
            })
        }
    }
}

pub(super) fn sca_status(
    shared: &Shared,
    target: &ScaTarget,
    authorisation: String,
) -> ApiResult<Json<Value>> {
    let (status, message) = shared
        .ledger
        .authorisation_progress(target, &AuthorisationId::new(authorisation))?;
    Ok(Json(sca_progress_json(&ScaProgress { status, message })))
}

pub(super) fn authorisation_list(shared: &Shared, target: &ScaTarget) -> ApiResult<Json<Value>> {
    owner(shared, target)?;
    Ok(Json(authorisation_ids_json(
        &shared.ledger.authorisations(target),
    )))
}
