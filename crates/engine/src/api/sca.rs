//! Strong customer authentication through the bank's API, per the Berlin Group specification: starting
//! an authorisation with the caller's preferences (`TPP-Redirect-Preferred`, `TPP-Decoupled-Preferred`,
//! `TPP-Redirect-URI`, `TPP-Nok-Redirect-URI`), reading what the bank asks ([`ScaStep`]: embedded
//! challenge, method choice, `scaRedirect`, `scaOAuth`, decoupled; the `ASPSP-SCA-Approach` header
//! when the bank sends one), choosing a method, answering a challenge and polling `scaStatus`. An
//! `scaOAuth` step gets the authorization request the engine builds for it ([`super::oauth`]).

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;

use super::classify::unusable;
use super::{ApiBank, Effect, segment, wire};
use crate::bank::{BankResult, PsuContext};
use crate::model::{
    AuthorisationId, ScaAnswer, ScaApproach, ScaPreference, ScaProgress, ScaStatus, ScaStep,
    ScaTarget,
};

/// The preference headers of a start of authorisation; values that are no header value are left out.
fn preference_headers(sca: &ScaPreference) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let flag = |b: bool| HeaderValue::from_static(if b { "true" } else { "false" });
    if let Some(preferred) = sca.redirect_preferred {
        headers.insert("TPP-Redirect-Preferred", flag(preferred));
    }
    if let Some(preferred) = sca.decoupled_preferred {
        headers.insert("TPP-Decoupled-Preferred", flag(preferred));
    }
    for (name, uri) in [
        ("TPP-Redirect-URI", &sca.redirect_uri),
        ("TPP-Nok-Redirect-URI", &sca.nok_redirect_uri),
    ] {
        if let Some(value) = uri.as_deref().and_then(|u| HeaderValue::from_str(u).ok()) {
            headers.insert(name, value);
        }
    }
    headers
}

/// The bank's list of an operation's authorisations (Berlin Group `authorisations`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorisationIds {
    authorisation_ids: Vec<String>,
}

/// The approach the bank names in its `ASPSP-SCA-Approach` answer header, when it names a known one.
pub(super) fn approach_of(headers: &HeaderMap) -> Option<ScaApproach> {
    headers
        .get("ASPSP-SCA-Approach")
        .and_then(|v| v.to_str().ok())
        .and_then(ScaApproach::from_code)
}

impl ApiBank {
    /// The path of one authorisation of `target`.
    fn authorisation_path(target: &ScaTarget, id: &AuthorisationId) -> BankResult<String> {
        Ok(format!(
            "{}/{}/{}",
            Self::target_path(target)?,
            target.collection(),
            segment(id)?
        ))
    }

    /// Starts an authorisation: with the customer's password when the caller gave one (embedded),
    /// without when the bank redirects or pushes to the customer's app. The bank's answer becomes
    /// the step the caller takes next.
    pub(super) async fn sca_start(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaStep> {
        let body = wire::StartAuthorisationBody {
            psu_data: psu.password.as_ref().map(|p| wire::PsuData {
                password: p.expose_secret(),
            }),
        };
        let path = format!("{}/{}", Self::target_path(target)?, target.collection());
        let (_, headers, body) = self
            .exchange_answer(
                self.request(Method::POST, &path, psu)
                    .headers(preference_headers(&psu.sca))
                    .json(&body),
                Effect::Safe,
                psu,
            )
            .await?;
        let answer: wire::StartAuthorisationResponse = serde_json::from_slice(&body)
            .map_err(|e| unusable(Effect::Safe, wire::Malformed::body(e)))?;
        let step = answer
            .to_step(approach_of(&headers))
            .map_err(|e| unusable(Effect::Safe, e))?;
        self.with_oauth_request(psu, target, step).await
    }

    /// An OAuth2 step with the authorization request the engine built for it; any other step as it is.
    async fn with_oauth_request(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        step: ScaStep,
    ) -> BankResult<ScaStep> {
        match step {
            ScaStep::OAuth {
                authorisation_id,
                metadata_url,
                authorization: None,
            } => {
                let authorization = self
                    .oauth_authorization(psu, target, &authorisation_id, &metadata_url)
                    .await?;
                Ok(ScaStep::OAuth {
                    authorisation_id,
                    metadata_url,
                    authorization: Some(authorization),
                })
            }
            other => Ok(other),
        }
    }

    /// Sends the customer's choice of method; the bank answers with the next step.
    pub(super) async fn sca_select(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        id: &AuthorisationId,
        method: &str,
    ) -> BankResult<ScaStep> {
        let body = wire::SelectMethodBody {
            authentication_method_id: method,
        };
        let path = Self::authorisation_path(target, id)?;
        let (_, headers, body) = self
            .exchange_answer(
                self.request(Method::PUT, &path, psu).json(&body),
                Effect::Safe,
                psu,
            )
            .await?;
        let mut answer: wire::StartAuthorisationResponse = serde_json::from_slice(&body)
            .map_err(|e| unusable(Effect::Safe, wire::Malformed::body(e)))?;
        answer
            .authorisation_id
            .get_or_insert_with(|| id.as_str().to_owned());
        let step = answer
            .to_step(approach_of(&headers))
            .map_err(|e| unusable(Effect::Safe, e))?;
        self.with_oauth_request(psu, target, step).await
    }

    /// Where an authorisation stands (`GET …/authorisations/{id}`).
    pub(super) async fn sca_progress(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        id: &AuthorisationId,
    ) -> BankResult<ScaProgress> {
        let path = Self::authorisation_path(target, id)?;
        let answer: wire::ScaStatusResponse = self
            .call(self.request(Method::GET, &path, psu), Effect::Safe, psu)
            .await?;
        answer.progress().map_err(|e| unusable(Effect::Safe, e))
    }

    /// The ids of `target`'s authorisations (`GET …/{authorisations|cancellation-authorisations}`).
    pub(super) async fn sca_ids(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<Vec<AuthorisationId>> {
        let path = format!("{}/{}", Self::target_path(target)?, target.collection());
        let answer: AuthorisationIds = self
            .call(self.request(Method::GET, &path, psu), Effect::Safe, psu)
            .await?;
        answer
            .authorisation_ids
            .into_iter()
            .map(|id| {
                crate::model::check_id("authorisationIds", &id)
                    .map(|()| AuthorisationId::new(id))
                    .map_err(|invalid| {
                        unusable(
                            Effect::Safe,
                            wire::Malformed {
                                field: invalid.field.to_owned(),
                                reason: invalid.reason,
                            },
                        )
                    })
            })
            .collect()
    }

    /// Sends the customer's answer to a challenge.
    pub(super) async fn sca_answer(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        id: &AuthorisationId,
        answer: &ScaAnswer,
    ) -> BankResult<ScaStatus> {
        let body = wire::UpdateAuthorisationBody {
            sca_authentication_data: answer.secret().expose_secret(),
        };
        let path = Self::authorisation_path(target, id)?;
        // Signing a payment (or its cancellation) is what sets it moving (or stops it): without an
        // answer it may have happened.
        let effect = match target {
            ScaTarget::Consent(_) => Effect::Safe,
            ScaTarget::Payment(_) | ScaTarget::Cancellation(_) => Effect::MovesMoney,
        };
        let status: wire::ScaStatusResponse = self
            .call(
                self.request(Method::PUT, &path, psu).json(&body),
                effect,
                psu,
            )
            .await?;
        status.status().map_err(|e| unusable(effect, e))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::wire::StartAuthorisationResponse;
    use crate::model::{ScaApproach, ScaStatus, ScaStep};

    fn step(body: serde_json::Value) -> ScaStep {
        serde_json::from_value::<StartAuthorisationResponse>(body)
            .unwrap()
            .to_step(None)
            .unwrap()
    }

    /// The links of the specification's own answers (yaml `consentResponseExample1a_Redirect`,
    /// `consentResponseExample2_OAuth2`), as a start of authorisation carries them.
    #[test]
    fn redirect_oauth_methods_and_challenges_read_into_steps() {
        let redirect = step(json!({
            "scaStatus": "received",
            "_links": {
                "scaRedirect": {"href": "https://www.testbank.com/authentication/1234-wertiq-983"},
                "scaStatus": {"href": "/psd2/v1/consents/1234-wertiq-983/authorisations/123auth567"}
            }
        }));
        assert_eq!(
            redirect,
            ScaStep::Redirect {
                authorisation_id: crate::model::AuthorisationId::new("123auth567"),
                url: "https://www.testbank.com/authentication/1234-wertiq-983".to_owned(),
            }
        );
        let oauth = step(json!({
            "scaStatus": "received",
            "_links": {
                "scaStatus": {"href": "/psd2/v1/consents/1234-wertiq-983/authorisations/123auth567"},
                "scaOAuth": {"href": "https://www.testbank.com/oauth/.well-known/oauth-authorization-server"}
            }
        }));
        assert_eq!(oauth.approach(), ScaApproach::OAuth);
        let methods = step(json!({
            "scaStatus": "psuAuthenticated",
            "authorisationId": "a-1",
            "scaMethods": [
                {"authenticationType": "SMS_OTP", "authenticationMethodId": "sms"},
                {"authenticationType": "PUSH_OTP", "authenticationMethodId": "app", "name": "App"}
            ],
            "_links": {"selectAuthenticationMethod": {"href": "/v1/consents/c/authorisations/a-1"}}
        }));
        let ScaStep::ChooseMethod { methods, .. } = methods else {
            panic!("{methods:?}")
        };
        assert_eq!(
            methods.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["sms", "app"]
        );
        let done = step(json!({"scaStatus": "exempted", "authorisationId": "a-2"}));
        assert_eq!(done.status(), ScaStatus::Exempted);
    }

    /// A cancellation answered `202` with `_links.startAuthorisation` (the specification's
    /// `paymentInitiationCancelResponse-202`) needs an authorisation; one without a start link does
    /// not; a status that is no ISO code is malformed naming `transactionStatus`. The status link of
    /// a cancellation's authorisation names its id like a payment's.
    #[test]
    fn a_cancellation_answered_202_with_start_authorisation_needs_an_authorisation() {
        use super::wire::CancelResponse;
        use crate::model::{Cancellation, PaymentStatus};
        let parse = |body: serde_json::Value| {
            serde_json::from_value::<CancelResponse>(body)
                .unwrap()
                .to_cancellation()
        };
        let needs = parse(json!({
            "transactionStatus": "ACTC",
            "_links": {"startAuthorisation": {"href": "/v1/payments/sepa-credit-transfers/p-1/cancellation-authorisations"}}
        }))
        .unwrap();
        assert_eq!(
            needs,
            Cancellation {
                status: PaymentStatus::AcceptedTechnical,
                authorisation_needed: true
            }
        );
        let with_password = parse(json!({
            "transactionStatus": "RCVD",
            "_links": {"startAuthorisationWithPsuAuthentication": {"href": "/x"}}
        }))
        .unwrap();
        assert!(with_password.authorisation_needed);
        let plain = parse(json!({"transactionStatus": "ACTC", "_links": {"self": {"href": "/x"}}}))
            .unwrap();
        assert!(!plain.authorisation_needed);
        assert_eq!(
            parse(json!({"transactionStatus": "NOPE"}))
                .unwrap_err()
                .field,
            "transactionStatus"
        );
        assert!(
            serde_json::from_value::<CancelResponse>(json!({"_links": {}})).is_err(),
            "transactionStatus is required"
        );
        let cancelling = step(json!({
            "scaStatus": "received",
            "_links": {
                "scaRedirect": {"href": "https://bank.example/sca"},
                "scaStatus": {"href": "/v1/payments/sepa-credit-transfers/p-1/cancellation-authorisations/c-9"}
            }
        }));
        assert_eq!(
            cancelling.authorisation_id().map(|a| a.as_str()),
            Some("c-9")
        );
    }

    #[test]
    fn an_answer_that_asks_nothing_is_malformed_naming_the_field() {
        let answer: StartAuthorisationResponse =
            serde_json::from_value(json!({"scaStatus": "received", "authorisationId": "a"}))
                .unwrap();
        let error = answer.to_step(None).unwrap_err();
        assert_eq!(error.field, "_links");
        let nameless: StartAuthorisationResponse =
            serde_json::from_value(json!({"scaStatus": "received"})).unwrap();
        assert_eq!(nameless.to_step(None).unwrap_err().field, "authorisationId");
        let methods_without_ids: StartAuthorisationResponse = serde_json::from_value(json!({
            "scaStatus": "psuAuthenticated", "authorisationId": "a",
            "scaMethods": [{"authenticationType": "SMS_OTP"}]
        }))
        .unwrap();
        assert_eq!(
            methods_without_ids.to_step(None).unwrap_err().field,
            "scaMethods[0].authenticationMethodId"
        );
    }
}
