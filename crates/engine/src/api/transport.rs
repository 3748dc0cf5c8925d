//! How `ApiBank` sends a request and reads the answer: the bearer token of an OAuth2-authorised
//! resource ([`super::oauth`]), the QSeal signature, and the classification of every failure
//! ([`super::classify`]).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use super::classify::{answer_error, no_answer, scrub, unusable};
use super::wire::Malformed;
use super::{ApiBank, Effect, oauth, refused_client_certificate};
use crate::bank::{BankError, BankResult, Channel, PsuContext};

impl ApiBank {
    /// Sends a request and reads a JSON answer, classifying every failure.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        effect: Effect,
        psu: &PsuContext,
    ) -> BankResult<T> {
        let bytes = self.exchange(request, effect, psu).await?.1;
        serde_json::from_slice(&bytes).map_err(|e| {
            unusable(
                effect,
                Malformed {
                    field: "body".to_owned(),
                    reason: e.to_string(),
                },
            )
        })
    }

    /// Sends a request and returns the status and body of a successful answer. The bank's words in an
    /// error are kept, but never a secret of the customer's that the bank may have echoed.
    pub(super) async fn exchange(
        &self,
        request: RequestBuilder,
        effect: Effect,
        psu: &PsuContext,
    ) -> BankResult<(StatusCode, bytes::Bytes)> {
        let (status, _, body) = self.exchange_answer(request, effect, psu).await?;
        Ok((status, body))
    }

    /// [`ApiBank::exchange`], with the answer's headers. A call on a consent or payment authorised
    /// through OAuth2 carries its access token (renewed first when due), and is sent once more with a
    /// renewed token when the bank answers `401 TOKEN_EXPIRED`: the bank refused it before acting.
    pub(super) async fn exchange_answer(
        &self,
        request: RequestBuilder,
        effect: Effect,
        psu: &PsuContext,
    ) -> BankResult<(StatusCode, HeaderMap, bytes::Bytes)> {
        let built = request
            .try_clone()
            .ok_or(())
            .and_then(|r| r.build().map_err(|_| ()));
        let scope = built.ok().and_then(|r| {
            let path = r.url().path();
            let below = path.strip_prefix(self.base_path()).unwrap_or(path);
            let consent = r
                .headers()
                .get("Consent-ID")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            oauth::scope_of(below, consent.as_deref())
        });
        let Some(scope) = scope else {
            return self.send(request, None, effect, psu).await;
        };
        let bearer = self.bearer(&scope, false).await?;
        if bearer.is_none() {
            return self.send(request, None, effect, psu).await;
        }
        let spare = request.try_clone();
        match self.send(request, bearer, effect, psu).await {
            Err(BankError::Rejected { code, .. }) if code == "TOKEN_EXPIRED" && spare.is_some() => {
                let renewed = self.bearer(&scope, true).await?;
                let spare = spare.expect("checked just above");
                self.send(spare, renewed, effect, psu).await
            }
            other => other,
        }
    }

    /// The API root's path (`/psd2` of `https://bank.example/psd2`; empty for none).
    fn base_path(&self) -> &str {
        &self.base[self.origin.len()..]
    }

    /// Sends one request (with `bearer` as its `Authorization`, when given; signed with the QSeal
    /// when the bank asks) and classifies a failed answer.
    pub(super) async fn send(
        &self,
        request: RequestBuilder,
        bearer: Option<HeaderValue>,
        effect: Effect,
        psu: &PsuContext,
    ) -> BankResult<(StatusCode, HeaderMap, bytes::Bytes)> {
        let request = match bearer {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        };
        let request = self
            .signed(request)
            .map_err(|e| self.transport(e, effect))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| self.transport(e, effect))?;
        let status = response.status();
        let headers = response.headers().clone();
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport(e, effect))?;
        if status.is_success() {
            return Ok((status, headers, bytes));
        }
        Err(scrub(
            answer_error(status, &bytes, effect, retry_after),
            psu,
        ))
    }

    /// Builds a request, signed with the QSeal when the bank asks for signed requests. A request that
    /// cannot be built or signed was not sent.
    pub(super) fn signed(
        &self,
        request: RequestBuilder,
    ) -> Result<reqwest::Request, reqwest::Error> {
        let mut request = request.build()?;
        if let Some(signer) = &self.signer
            && let Err(error) = signer.sign_reqwest(&mut request)
        {
            tracing::error!(%error, "request not signed");
        }
        Ok(request)
    }

    pub(super) fn transport(&self, error: reqwest::Error, effect: Effect) -> BankError {
        if let Some(alert) = refused_client_certificate(&error) {
            // The bank ended the handshake over the TPP's certificate: its application never saw the
            // request. An answer about the TPP's identity, not an outage.
            return BankError::Rejected {
                code: "CERTIFICATE_INVALID".to_owned(),
                message: format!(
                    "the bank refused the TPP's client certificate (TLS alert {alert:?})"
                ),
            };
        }
        if error.is_builder() {
            return BankError::Unavailable {
                channel: Channel::Api,
                reason: format!(
                    "the request could not be built; nothing was sent: {}",
                    error.without_url()
                ),
            };
        }
        if error.is_connect() {
            return BankError::Unavailable {
                channel: Channel::Api,
                reason: "could not connect; nothing was sent".to_owned(),
            };
        }
        let reason = if error.is_timeout() {
            format!("no answer within {:?}", self.request_timeout)
        } else {
            format!(
                "the connection failed before an answer: {}",
                error.without_url()
            )
        };
        no_answer(effect, reason)
    }
}
