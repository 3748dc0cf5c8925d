//! The Berlin Group `OAUTH` SCA approach: the bank's answer links its OAuth2 authorisation server
//! (`_links.scaOAuth`, RFC 8414 metadata); the engine builds the authorization request with its own
//! PKCE verifier and `state` (RFC 7636, S256 only), exchanges the code the bank sends back to the
//! redirect URI for tokens (RFC 6749 §4.1.3), keeps them per consent (`AIS:<consentId>`) or payment
//! (`PIS:<paymentId>`), sends `Authorization: Bearer` on that resource's calls, and renews the access
//! token with the refresh token before it expires or once after a `401 TOKEN_EXPIRED`. A refused
//! renewal is [`BankError::ReauthenticationRequired`]: the customer authorises the consent again.
//!
//! The verifier, the codes and the tokens are `SecretString`s: never in `Debug`, logs or errors, and
//! never persisted; a process that restarts asks the customer again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::classify::unusable;
use super::wire::{self, Malformed};
use super::{ApiBank, Effect, is_loopback};
use crate::bank::{BankError, BankResult, Channel, PsuContext};
use crate::model::{
    AuthorisationCode, AuthorisationId, InvalidValue, OAuthAuthorization, ScaStatus, ScaTarget,
};

/// An access token this close to its end (or a quarter of its life, when shorter) is renewed before
/// it is used.
const RENEW_AHEAD: Duration = Duration::from_secs(5);

/// The `client_id` sent when the configuration names none.
pub(super) const DEFAULT_CLIENT_ID: &str = "psd2-fallback";

/// An authorization request waiting for its code.
struct Pending {
    /// What it authorises.
    target: ScaTarget,
    /// The `state` sent; only it is accepted back.
    state: String,
    /// The PKCE verifier whose S256 challenge went with the request.
    verifier: SecretString,
    /// The `redirect_uri` sent, repeated in the token request.
    redirect_uri: String,
    /// Where the code is exchanged.
    token_endpoint: String,
}

/// The tokens of one consent or payment.
struct Tokens {
    /// Sent as `Authorization: Bearer …`.
    access: SecretString,
    /// Renews `access`, when the bank gave one.
    refresh: Option<SecretString>,
    /// When `access` is renewed before use: a little before it ends, when the bank said when.
    renew_at: Option<Instant>,
    /// Where it is renewed.
    token_endpoint: String,
}

/// What one `ApiBank` keeps of its OAuth2 authorisations, shared by its clones.
#[derive(Default)]
pub(super) struct OAuthBook {
    /// Authorization requests waiting for their code, by authorisation.
    pending: Mutex<HashMap<AuthorisationId, Pending>>,
    /// Tokens by scope (`AIS:<consentId>`, `PIS:<paymentId>`).
    tokens: Mutex<HashMap<String, Tokens>>,
    /// Held while a token is renewed, so two calls never spend one refresh token twice.
    renewing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OAuthBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pending = self.pending.lock().map(|p| p.len()).unwrap_or(0);
        let tokens = self.tokens.lock().map(|t| t.len()).unwrap_or(0);
        f.debug_struct("OAuthBook")
            .field("pending", &pending)
            .field("scopes_with_tokens", &tokens)
            .finish()
    }
}

/// The OAuth2 scope of an authorisation: `AIS:<consentId>` or `PIS:<paymentId>`.
pub(super) fn scope(target: &ScaTarget) -> String {
    match target {
        ScaTarget::Consent(consent) => format!("AIS:{consent}"),
        ScaTarget::Payment(payment) | ScaTarget::Cancellation(payment) => {
            format!("PIS:{}", payment.id)
        }
    }
}

/// The scope whose token a request to `path` (below the API root) needs: the consent's for account
/// reads (`Consent-ID`) and for the consent itself, the payment's for the payment and its status.
/// Authorisation sub-resources need none: a new authorisation is how a lost token is replaced.
pub(super) fn scope_of(path: &str, consent: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["v1", "accounts" | "card-accounts", ..] => consent.map(|c| format!("AIS:{c}")),
        ["v1", "consents", id] | ["v1", "consents", id, "status"] => Some(format!("AIS:{id}")),
        [
            "v1",
            "payments" | "periodic-payments" | "bulk-payments",
            _,
            id,
        ]
        | [
            "v1",
            "payments" | "periodic-payments" | "bulk-payments",
            _,
            id,
            "status",
        ] => Some(format!("PIS:{id}")),
        _ => None,
    }
}

/// A fresh random value: 32 bytes, base64url (43 characters), as RFC 7636 §4.1 asks of a verifier.
fn random_token() -> BankResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| BankError::Unavailable {
        channel: Channel::Api,
        reason: format!("no randomness for the OAuth2 request; nothing was sent: {e}"),
    })?;
    Ok(BASE64URL.encode(bytes))
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub(super) fn s256(verifier: &str) -> String {
    BASE64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn bearer_value(token: &SecretString) -> BankResult<HeaderValue> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
            unusable(
                Effect::Safe,
                Malformed {
                    field: "access_token".to_owned(),
                    reason: "is not a header value".to_owned(),
                },
            )
        })?;
    value.set_sensitive(true);
    Ok(value)
}

fn what(scope: &str) -> &'static str {
    if scope.starts_with("AIS:") {
        "consent"
    } else {
        "payment"
    }
}

impl ApiBank {
    /// An authorisation-server URL the engine may call: `https`, or plain `http` to this machine.
    fn oauth_url(&self, field: &str, url: &str) -> BankResult<String> {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.origin)
        } else {
            url.to_owned()
        };
        let plain_local = url
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or(""))
            .is_some_and(is_loopback);
        if url.starts_with("https://") || plain_local || self.allow_plain_http {
            Ok(url)
        } else {
            Err(unusable(
                Effect::Safe,
                Malformed {
                    field: field.to_owned(),
                    reason: "is neither https nor on this machine".to_owned(),
                },
            ))
        }
    }

    /// Reads the authorisation server's metadata and builds the authorization request for
    /// `authorisation` of `target`, keeping its verifier and state.
    pub(super) async fn oauth_authorization(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        metadata_url: &str,
    ) -> BankResult<OAuthAuthorization> {
        let redirect_uri = psu
            .sca
            .redirect_uri
            .clone()
            .or_else(|| self.tpp_redirect_uri.clone())
            .ok_or_else(|| {
                InvalidValue::new(
                    "TPP-Redirect-URI",
                    "the bank authorises through OAuth2, which sends the customer back to a redirect URI: give one",
                )
            })?;
        let url = self.oauth_url("_links.scaOAuth", metadata_url)?;
        let request = self.http.get(url).header("Accept", "application/json");
        let (_, _, body) = self.send(request, None, Effect::Safe, psu).await?;
        let metadata: wire::OAuthMetadata = serde_json::from_slice(&body).map_err(|e| {
            unusable(
                Effect::Safe,
                Malformed {
                    field: "scaOAuth metadata".to_owned(),
                    reason: e.to_string(),
                },
            )
        })?;
        if let Some(methods) = &metadata.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(unusable(
                Effect::Safe,
                Malformed {
                    field: "code_challenge_methods_supported".to_owned(),
                    reason: "does not offer S256, the only PKCE method the engine uses".to_owned(),
                },
            ));
        }
        let endpoint =
            self.oauth_url("authorization_endpoint", &metadata.authorization_endpoint)?;
        let token_endpoint = self.oauth_url("token_endpoint", &metadata.token_endpoint)?;
        let verifier = random_token()?;
        let state = random_token()?;
        let mut url = reqwest::Url::parse(&endpoint).map_err(|e| {
            unusable(
                Effect::Safe,
                Malformed {
                    field: "authorization_endpoint".to_owned(),
                    reason: e.to_string(),
                },
            )
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.oauth_client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", &scope(target))
            .append_pair("state", &state)
            .append_pair("code_challenge", &s256(&verifier))
            .append_pair("code_challenge_method", "S256");
        self.oauth
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                authorisation.clone(),
                Pending {
                    target: target.clone(),
                    state: state.clone(),
                    verifier: SecretString::from(verifier),
                    redirect_uri: redirect_uri.clone(),
                    token_endpoint,
                },
            );
        Ok(OAuthAuthorization {
            url: url.into(),
            state,
            redirect_uri,
        })
    }

    /// Exchanges the code of `authorisation` for tokens, then reads the authorisation's status.
    pub(super) async fn sca_exchange_code(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        code: &AuthorisationCode,
        state: &str,
    ) -> BankResult<ScaStatus> {
        let pending = {
            let mut all = self.oauth.pending.lock().unwrap_or_else(|p| p.into_inner());
            let Some(waiting) = all.get(authorisation).filter(|p| &p.target == target) else {
                return Err(InvalidValue::new(
                    "authorisationId",
                    "no OAuth2 authorisation started here waits for a code under this id",
                )
                .into());
            };
            if !same(&waiting.state, state) {
                return Err(InvalidValue::new(
                    "state",
                    "is not the state this authorisation was started with",
                )
                .into());
            }
            // A code is spent once, whatever the bank answers.
            all.remove(authorisation)
                .expect("the authorisation was just found")
        };
        let answer = self
            .token_request(
                &pending.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code.secret().expose_secret()),
                    ("redirect_uri", &pending.redirect_uri),
                    ("client_id", &self.oauth_client_id),
                    ("code_verifier", pending.verifier.expose_secret()),
                ],
                psu,
            )
            .await
            .map_err(|error| match error {
                BankError::Rejected { code, message } => BankError::Rejected {
                    message: format!(
                        "the bank's token endpoint refused the authorization code: {message}"
                    ),
                    code,
                },
                other => other,
            })?;
        self.keep_tokens(&scope(target), answer, pending.token_endpoint);
        Ok(self.sca_progress(psu, target, authorisation).await?.status)
    }

    /// Sends a token request (a form, RFC 6749 §4.1.3 or §6) and reads the answer. The bank's
    /// `error` (`invalid_grant`, …) becomes the code of a rejection.
    async fn token_request(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        psu: &PsuContext,
    ) -> BankResult<wire::TokenAnswer> {
        let request = self
            .http
            .post(endpoint)
            .header("Accept", "application/json")
            .form(form);
        let request = request
            .build()
            .map_err(|e| self.transport(e, Effect::Safe))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| self.transport(e, Effect::Safe))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport(e, Effect::Safe))?;
        if status.is_client_error() {
            let said: wire::TokenError = serde_json::from_slice(&body).unwrap_or_default();
            if !said.error.is_empty() {
                return Err(BankError::Rejected {
                    code: said.error,
                    message: said
                        .error_description
                        .unwrap_or_else(|| "no description".to_owned()),
                });
            }
        }
        if !status.is_success() {
            return Err(super::classify::scrub(
                super::classify::answer_error(status, &body, Effect::Safe, None),
                psu,
            ));
        }
        let answer: wire::TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            unusable(
                Effect::Safe,
                Malformed {
                    field: "token answer".to_owned(),
                    reason: e.to_string(),
                },
            )
        })?;
        if !answer.token_type.eq_ignore_ascii_case("bearer") {
            return Err(unusable(
                Effect::Safe,
                Malformed {
                    field: "token_type".to_owned(),
                    reason: format!("{:?} is not Bearer", answer.token_type),
                },
            ));
        }
        Ok(answer)
    }

    fn keep_tokens(&self, scope: &str, answer: wire::TokenAnswer, token_endpoint: String) {
        let mut all = self.oauth.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let refresh = answer
            .refresh_token
            .map(SecretString::from)
            // A renewal that gives no new refresh token keeps the old one (RFC 6749 §6).
            .or_else(|| all.get(scope).and_then(|t| t.refresh.clone()));
        all.insert(
            scope.to_owned(),
            Tokens {
                access: SecretString::from(answer.access_token),
                refresh,
                renew_at: answer.expires_in.map(|s| {
                    let life = Duration::from_secs(s);
                    Instant::now() + life - RENEW_AHEAD.min(life / 4)
                }),
                token_endpoint,
            },
        );
    }

    /// The `Authorization` value for a call needing `scope`'s token: `None` when the resource has
    /// none (it was not authorised through OAuth2 here); renewed first when it is about to end, or
    /// when `renew` says the bank found it expired.
    pub(super) async fn bearer(&self, scope: &str, renew: bool) -> BankResult<Option<HeaderValue>> {
        let due = |tokens: &Tokens| tokens.renew_at.is_some_and(|at| at <= Instant::now());
        let current = {
            let all = self.oauth.tokens.lock().unwrap_or_else(|p| p.into_inner());
            match all.get(scope) {
                None => return Ok(None),
                Some(tokens) if !renew && !due(tokens) => {
                    return bearer_value(&tokens.access).map(Some);
                }
                Some(tokens) => tokens.access.expose_secret().to_owned(),
            }
        };
        let _renewing = self.oauth.renewing.lock().await;
        // Another call may have renewed it meanwhile.
        let (refresh, endpoint) = {
            let all = self.oauth.tokens.lock().unwrap_or_else(|p| p.into_inner());
            let Some(tokens) = all.get(scope) else {
                return Err(self.reauthorise(scope, "its tokens were dropped"));
            };
            if tokens.access.expose_secret() != current && !due(tokens) {
                return bearer_value(&tokens.access).map(Some);
            }
            match &tokens.refresh {
                Some(refresh) => (refresh.clone(), tokens.token_endpoint.clone()),
                None => {
                    drop(all);
                    return Err(self.reauthorise(
                        scope,
                        "its access token expired and the bank gave no refresh token",
                    ));
                }
            }
        };
        let psu = PsuContext::new(crate::model::PsuId::new("oauth"));
        match self
            .token_request(
                &endpoint,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose_secret()),
                    ("client_id", &self.oauth_client_id),
                ],
                &psu,
            )
            .await
        {
            Ok(answer) => {
                self.keep_tokens(scope, answer, endpoint);
                tracing::info!(what = what(scope), "OAuth2 access token renewed");
                let all = self.oauth.tokens.lock().unwrap_or_else(|p| p.into_inner());
                match all.get(scope) {
                    Some(tokens) => bearer_value(&tokens.access).map(Some),
                    None => Err(self.reauthorise(scope, "its tokens were dropped")),
                }
            }
            Err(BankError::Rejected { code, message }) => Err(self.reauthorise(
                scope,
                &format!("the bank refused to renew its access token ({code}: {message})"),
            )),
            Err(other) => Err(other),
        }
    }

    /// Forgets `scope`'s tokens and says the customer must authorise again.
    fn reauthorise(&self, scope: &str, why: &str) -> BankError {
        self.oauth
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(scope);
        let what = what(scope);
        tracing::warn!(what, why, "OAuth2 authorisation lost");
        BankError::ReauthenticationRequired {
            reason: format!(
                "the {what}'s OAuth2 authorisation at the bank ended: {why}; the customer must authorise the {what} again (for a consent: give a new consent and authorise it)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_name_the_scope_whose_token_they_need() {
        let cases = [
            ("/v1/accounts", Some("c-1"), Some("AIS:c-1")),
            ("/v1/accounts/a/transactions", Some("c-1"), Some("AIS:c-1")),
            ("/v1/accounts", None, None),
            ("/v1/consents/c-2", None, Some("AIS:c-2")),
            ("/v1/consents/c-2/status", None, Some("AIS:c-2")),
            ("/v1/consents/c-2/authorisations", None, None),
            ("/v1/consents", None, None),
            (
                "/v1/payments/sepa-credit-transfers/p-1",
                None,
                Some("PIS:p-1"),
            ),
            ("/v1/periodic-payments/x/p-2/status", None, Some("PIS:p-2")),
            (
                "/v1/payments/sepa-credit-transfers/p-1/authorisations/a",
                None,
                None,
            ),
            ("/v1/payments/sepa-credit-transfers", None, None),
        ];
        for (path, consent, expected) in cases {
            assert_eq!(scope_of(path, consent).as_deref(), expected, "{path}");
        }
    }

    #[test]
    fn the_challenge_is_rfc_7636s_s256() {
        // RFC 7636 Appendix B.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let verifier = random_token().unwrap();
        assert_eq!(verifier.len(), 43);
        assert_ne!(verifier, random_token().unwrap());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
