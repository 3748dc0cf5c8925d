//! Strong customer authentication in Berlin Group shape, whatever the approach: the caller's
//! preferences from request headers ([`sca_preference`]), the start and update bodies
//! ([`authorisation_start`], [`authorisation_update`]), and what the bank asks rendered as the answer
//! to a start ([`authorisation_step`], with its `ASPSP-SCA-Approach` header) or a poll
//! ([`sca_progress_json`]).

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use psd2_fallback_engine::model::{ScaPreference, ScaProgress, ScaStep};

use crate::error::{ApiError, ApiResult};
use crate::render::{Links, challenge_json, created};
use crate::request::{header, json};

/// The longest redirect URI accepted from a caller.
const MAX_URI: usize = 2048;

/// The caller's SCA preferences: `TPP-Redirect-Preferred`, `TPP-Decoupled-Preferred` (`true` or
/// `false`), `TPP-Redirect-URI` and `TPP-Nok-Redirect-URI` (absolute `http(s)` URIs). A bad value is
/// refused naming the header.
pub fn sca_preference(headers: &HeaderMap) -> ApiResult<ScaPreference> {
    let flag = |name: &'static str| -> ApiResult<Option<bool>> {
        match header(headers, name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::format(name, "must be true or false")),
        }
    };
    let uri = |name: &'static str| -> ApiResult<Option<String>> {
        let Some(value) = header(headers, name) else {
            return Ok(None);
        };
        if value.len() > MAX_URI {
            return Err(ApiError::format(
                name,
                format!("longer than {MAX_URI} characters"),
            ));
        }
        let absolute = value.starts_with("https://") || value.starts_with("http://");
        if !absolute || value.chars().any(char::is_whitespace) {
            return Err(ApiError::format(name, "must be an absolute http(s) URI"));
        }
        Ok(Some(value.to_owned()))
    };
    Ok(ScaPreference {
        redirect_preferred: flag("TPP-Redirect-Preferred")?,
        decoupled_preferred: flag("TPP-Decoupled-Preferred")?,
        redirect_uri: uri("TPP-Redirect-URI")?,
        nok_redirect_uri: uri("TPP-Nok-Redirect-URI")?,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartIn {
    psu_data: Option<PsuDataIn>,
}

#[derive(Debug, Deserialize)]
struct PsuDataIn {
    password: Option<String>,
}

/// The PSU's password from a start-authorisation body (`psuData.password`), if the caller gave one:
/// the embedded approach needs it, redirect and decoupled do not. An empty body gives none.
pub fn authorisation_start(body: &Bytes) -> ApiResult<Option<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let input: StartIn = json(body)?;
    Ok(input.psu_data.and_then(|d| d.password))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateIn {
    sca_authentication_data: Option<String>,
    authentication_method_id: Option<String>,
    confirmation_code: Option<String>,
    state: Option<String>,
}

/// What an update of an authorisation carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorisationUpdate {
    /// The customer's answer to a challenge (`scaAuthenticationData`).
    Answer(String),
    /// The customer's choice of method (`authenticationMethodId`).
    Method(String),
    /// What the bank sent back to the redirect URI (Berlin Group authorisation confirmation,
    /// `confirmationCode`): for the OAuth2 approach, the authorization `code` with its `state`.
    Confirmation {
        /// The `confirmationCode` (the OAuth2 `code`). Secret to whoever holds it.
        code: String,
        /// The `state` that came back with it, if the caller gave it.
        state: Option<String>,
    },
}

/// The longest code or state accepted in an update.
const MAX_CODE: usize = 2048;

/// An update-authorisation body: an answer, a method choice or a confirmation code, exactly one of
/// them.
pub fn authorisation_update(body: &Bytes) -> ApiResult<AuthorisationUpdate> {
    let input: UpdateIn = json(body)?;
    match (
        input.sca_authentication_data,
        input.authentication_method_id,
        input.confirmation_code,
    ) {
        (Some(answer), None, None) => Ok(AuthorisationUpdate::Answer(answer)),
        (None, Some(method), None) => Ok(AuthorisationUpdate::Method(method)),
        (None, None, Some(code)) => {
            for (name, value) in [
                ("confirmationCode", Some(&code)),
                ("state", input.state.as_ref()),
            ] {
                if value.is_some_and(|v| v.len() > MAX_CODE || v.trim().is_empty()) {
                    return Err(ApiError::format(
                        name,
                        format!("must be non-empty and at most {MAX_CODE} characters"),
                    ));
                }
            }
            Ok(AuthorisationUpdate::Confirmation {
                code,
                state: input.state,
            })
        }
        (None, None, None) => Err(ApiError::format(
            "scaAuthenticationData",
            "is required (or authenticationMethodId to choose a method, or confirmationCode after a redirect)",
        )),
        _ => Err(ApiError::format(
            "authenticationMethodId",
            "give one of scaAuthenticationData, authenticationMethodId or confirmationCode",
        )),
    }
}

/// What the bank asks of the customer, as the body of a start (or a method choice) of an
/// authorisation under `base`: `challengeData`, `scaMethods` with `selectAuthenticationMethod`,
/// `_links.scaRedirect`, `_links.scaOAuth`, or a decoupled `psuMessage` with the `scaStatus` link to
/// poll.
pub fn step_json(step: &ScaStep, base: &str) -> Value {
    step_json_in(step, base, "authorisations")
}

/// [`step_json`] for the authorisations under `{base}/{collection}`: `authorisations`, or
/// `cancellation-authorisations` for a cancellation ([`ScaTarget::collection`]).
///
/// [`ScaTarget::collection`]: psd2_fallback_engine::model::ScaTarget::collection
pub fn step_json_in(step: &ScaStep, base: &str, collection: &str) -> Value {
    let href = step
        .authorisation_id()
        .map(|id| format!("{base}/{collection}/{id}"));
    let mut links = Links::new();
    if let Some(href) = &href {
        links.push("scaStatus", href.clone());
    }
    let mut body = match step {
        ScaStep::Challenge(challenge) => {
            let mut body = challenge_json(challenge);
            body["chosenScaMethod"] = json!({
                "authenticationType": challenge.method,
                "authenticationMethodId": "card-reader",
                "name": "Card reader",
            });
            if let Some(href) = &href {
                links.push("authoriseTransaction", href.clone());
            }
            body
        }
        ScaStep::ChooseMethod { methods, .. } => {
            if let Some(href) = &href {
                links.push("selectAuthenticationMethod", href.clone());
            }
            let methods: Vec<Value> = methods
                .iter()
                .map(|m| {
                    let mut method = json!({
                        "authenticationType": m.kind,
                        "authenticationMethodId": m.id,
                    });
                    if let Some(name) = &m.name {
                        method["name"] = json!(name);
                    }
                    method
                })
                .collect();
            json!({ "scaMethods": methods })
        }
        ScaStep::Redirect { url, .. } => {
            links.push("scaRedirect", url.clone());
            json!({})
        }
        ScaStep::OAuth {
            metadata_url,
            authorization,
            ..
        } => {
            links.push("scaOAuth", metadata_url.clone());
            // The service keeps the PKCE verifier: the caller sends the customer to the request it
            // built, and hands the code back to the `confirmation` link.
            if let Some(authorization) = authorization {
                links.push("scaRedirect", authorization.url.clone());
                if let Some(href) = &href {
                    links.push("confirmation", href.clone());
                }
            }
            json!({})
        }
        ScaStep::Decoupled { message, .. } => json!({ "psuMessage": message }),
        ScaStep::ActionNeeded { what, .. } => {
            if let Some(href) = &href {
                links.push("updatePsuAuthentication", href.clone());
            }
            json!({ "psuMessage": what })
        }
        ScaStep::Done { .. } => json!({}),
        _ => json!({}),
    };
    body["scaStatus"] = json!(step.status().code());
    if let Some(id) = step.authorisation_id() {
        body["authorisationId"] = json!(id.as_str());
    }
    body["_links"] = links.to_json();
    body
}

/// The answer to a started authorisation: `201 Created`, its `Location`, the `ASPSP-SCA-Approach`
/// the bank chose (`REDIRECT` for OAuth2, as the specification subsumes it), and [`step_json`].
pub fn authorisation_step(step: &ScaStep, base: &str) -> Response {
    authorisation_step_in(step, base, "authorisations")
}

/// [`authorisation_step`] for the authorisations under `{base}/{collection}`.
pub fn authorisation_step_in(step: &ScaStep, base: &str, collection: &str) -> Response {
    let location = step
        .authorisation_id()
        .map(|id| format!("{base}/{collection}/{id}"))
        .unwrap_or_else(|| format!("{base}/{collection}"));
    created(
        &location,
        step_json_in(step, base, collection),
        Some(step.approach()),
    )
}

/// An authorisation's state when polled (`GET …/authorisations/{id}`): `scaStatus`, and the bank's
/// `psuMessage` when it said something (refused in the app, expired).
pub fn sca_progress_json(progress: &ScaProgress) -> Value {
    let mut body = json!({ "scaStatus": progress.status.code() });
    if let Some(message) = &progress.message {
        body["psuMessage"] = json!(message);
    }
    body
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, HeaderValue};
    use psd2_fallback_engine::model::{AuthorisationId, ScaStep};
    use serde_json::json;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn field_of(error: ApiError) -> String {
        format!("{error:?}")
    }

    #[test]
    fn preferences_are_read_and_bad_ones_name_the_header() {
        let read = sca_preference(&headers(&[
            ("TPP-Redirect-Preferred", "TRUE"),
            ("TPP-Redirect-URI", "https://tpp.example/ok"),
        ]))
        .unwrap();
        assert_eq!(read.redirect_preferred, Some(true));
        assert_eq!(read.redirect_uri.as_deref(), Some("https://tpp.example/ok"));
        for (name, value) in [
            ("TPP-Decoupled-Preferred", "maybe".to_owned()),
            ("TPP-Redirect-URI", "javascript:alert(1)".to_owned()),
            (
                "TPP-Nok-Redirect-URI",
                format!("https://x/{}", "a".repeat(3000)),
            ),
        ] {
            let error = sca_preference(&headers(&[(name, &value)])).unwrap_err();
            assert!(field_of(error).contains(name), "{name}");
        }
    }

    #[test]
    fn an_update_is_an_answer_or_a_method_never_both_nor_neither() {
        let body = |v: serde_json::Value| Bytes::from(v.to_string());
        assert_eq!(
            authorisation_update(&body(json!({"scaAuthenticationData": "1"}))).unwrap(),
            AuthorisationUpdate::Answer("1".to_owned())
        );
        assert_eq!(
            authorisation_update(&body(json!({"authenticationMethodId": "app"}))).unwrap(),
            AuthorisationUpdate::Method("app".to_owned())
        );
        for bad in [
            json!({}),
            json!({"scaAuthenticationData": "1", "authenticationMethodId": "app"}),
        ] {
            assert!(authorisation_update(&body(bad)).is_err());
        }
        assert_eq!(authorisation_start(&Bytes::new()).unwrap(), None);
        assert!(authorisation_start(&Bytes::from_static(b"{nope")).is_err());
    }

    #[test]
    fn a_decoupled_step_has_its_message_and_the_link_to_poll() {
        let step = ScaStep::Decoupled {
            authorisation_id: AuthorisationId::new("a-1"),
            message: "Confirm in your app".to_owned(),
            poll_every: std::time::Duration::from_secs(1),
            expires_in: None,
        };
        assert_eq!(
            step_json(&step, "/v1/consents/c-1"),
            json!({
                "psuMessage": "Confirm in your app",
                "scaStatus": "started",
                "authorisationId": "a-1",
                "_links": {"scaStatus": {"href": "/v1/consents/c-1/authorisations/a-1"}}
            })
        );
        let response = authorisation_step(&step, "/v1/consents/c-1");
        assert_eq!(response.headers()["ASPSP-SCA-Approach"], "DECOUPLED");
    }
}
