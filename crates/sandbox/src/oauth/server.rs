//! What the authorisation server keeps and decides, apart from HTTP routing: codes, access and
//! refresh tokens per scope, the token endpoint's grants (single-use codes bound to their PKCE
//! challenge, client and redirect URI; rotating refresh tokens) and the API's bearer check. It knows
//! nothing of the rest of the sandbox.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use psd2_fallback_engine::model::{AuthorisationId, ScaTarget};
use psd2_fallback_xs2a::ApiError;

/// A code issued for an authorization request, waiting to be exchanged once.
#[derive(Debug)]
pub(crate) struct Code {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: String,
    pub(crate) scope: String,
    pub(crate) customer: String,
    pub(crate) expires_at: Instant,
    pub(crate) used: bool,
    /// The tokens issued for it: revoked if the code is presented again (RFC 6749 §4.1.2).
    pub(crate) issued: Vec<String>,
}

/// An access token.
#[derive(Debug)]
pub(crate) struct Access {
    scope: String,
    expires_at: Instant,
}

/// A refresh token.
#[derive(Debug)]
pub(crate) struct Refresh {
    pub(crate) scope: String,
    pub(crate) client_id: String,
    pub(crate) customer: String,
}

/// What the authorisation server remembers.
#[derive(Debug, Default)]
pub(crate) struct Book {
    /// The authorisation (and the ledger's page state) waiting for the customer, by scope.
    pub(crate) waiting: HashMap<String, (AuthorisationId, String)>,
    pub(crate) codes: HashMap<String, Code>,
    pub(crate) access: HashMap<String, Access>,
    pub(crate) refresh: HashMap<String, Refresh>,
    /// The scopes whose calls need a token: those a token was issued for.
    pub(crate) protected: HashSet<String>,
}

/// The bank's OAuth2 authorisation server.
#[derive(Debug, Default)]
pub(crate) struct OAuthServer {
    book: Mutex<Book>,
}

impl OAuthServer {
    pub(crate) fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers the authorisation of `target` that the authorization page will finish.
    pub(crate) fn wait(&self, target: &ScaTarget, id: AuthorisationId, page_state: String) {
        self.book().waiting.insert(scope(target), (id, page_state));
    }
}

/// The OAuth2 scope of a consent or payment: `AIS:<consentId>`, `PIS:<paymentId>`.
pub(crate) fn scope(target: &ScaTarget) -> String {
    match target {
        ScaTarget::Consent(c) => format!("AIS:{c}"),
        ScaTarget::Payment(p) | ScaTarget::Cancellation(p) => format!("PIS:{}", p.id),
    }
}

/// A fresh secret value (codes and tokens).
pub(crate) fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

// ---------------------------------------------------------------------------------------------------
// The token endpoint

/// An RFC 6749 §5.2 error answer.
pub(crate) fn token_error(error: &'static str, description: impl Into<String>) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    no_store((
        status,
        Json(json!({"error": error, "error_description": description.into()})),
    ))
}

pub(crate) fn no_store(answer: impl IntoResponse) -> Response {
    let mut response = answer.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Issues an access token (and a refresh token) for `scope`.
fn issue(
    book: &mut Book,
    scope: &str,
    client_id: &str,
    customer: &str,
    expiry: Duration,
) -> (String, String) {
    let access = secret();
    let refresh = secret();
    book.access.insert(
        access.clone(),
        Access {
            scope: scope.to_owned(),
            expires_at: Instant::now() + expiry,
        },
    );
    book.refresh.insert(
        refresh.clone(),
        Refresh {
            scope: scope.to_owned(),
            client_id: client_id.to_owned(),
            customer: customer.to_owned(),
        },
    );
    book.protected.insert(scope.to_owned());
    (access, refresh)
}

fn token_answer(access: &str, refresh: &str, scope: &str, expiry: Duration) -> Response {
    no_store(Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expiry.as_secs().max(1),
        "refresh_token": refresh,
        "scope": scope,
    })))
}

pub(crate) fn exchange_code(
    server: &OAuthServer,
    code: &str,
    redirect_uri: &str,
    client_id: &str,
    verifier: &str,
    expiry: Duration,
) -> Response {
    let mut book = server.book();
    let Some(found) = book.codes.get_mut(code) else {
        return token_error("invalid_grant", "the authorization code is unknown");
    };
    if found.used {
        // A code presented twice: refuse it and revoke what it bought (RFC 6749 §4.1.2).
        let issued = std::mem::take(&mut found.issued);
        for token in issued {
            book.access.remove(&token);
            book.refresh.remove(&token);
        }
        return token_error("invalid_grant", "the authorization code was already used");
    }
    // Spent at its first presentation, whatever follows: a code is never tried twice.
    found.used = true;
    if found.expires_at <= Instant::now() {
        return token_error("invalid_grant", "the authorization code expired");
    }
    if found.client_id != client_id {
        return token_error(
            "invalid_grant",
            "the authorization code was issued to another client_id",
        );
    }
    if found.redirect_uri != redirect_uri {
        return token_error(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        );
    }
    let valid_verifier = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !valid_verifier || BASE64URL.encode(Sha256::digest(verifier.as_bytes())) != found.challenge {
        return token_error(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        );
    }
    let (scope, customer) = (found.scope.clone(), found.customer.clone());
    let (access, refresh) = issue(&mut book, &scope, client_id, &customer, expiry);
    if let Some(found) = book.codes.get_mut(code) {
        found.issued = vec![access.clone(), refresh.clone()];
    }
    token_answer(&access, &refresh, &scope, expiry)
}

pub(crate) fn renew(
    server: &OAuthServer,
    refresh: &str,
    client_id: Option<&str>,
    expiry: Duration,
) -> Response {
    let mut book = server.book();
    let Some(old) = book.refresh.get(refresh) else {
        return token_error("invalid_grant", "the refresh token is unknown or revoked");
    };
    if client_id.is_some_and(|c| c != old.client_id) {
        return token_error(
            "invalid_grant",
            "the refresh token was issued to another client_id",
        );
    }
    // Rotation: the refresh token is spent, a new one comes with the new access token.
    let Some(old) = book.refresh.remove(refresh) else {
        return token_error("invalid_grant", "the refresh token is unknown or revoked");
    };
    let (access, refresh) = issue(&mut book, &old.scope, &old.client_id, &old.customer, expiry);
    token_answer(&access, &refresh, &old.scope, expiry)
}

// ---------------------------------------------------------------------------------------------------
// The bearer check

/// The scope whose token a call needs: the consent's for account reads (`Consent-ID`) and the
/// consent itself, the payment's for the payment and its status; authorisation sub-resources need
/// none (a new authorisation is how a lost token is replaced).
fn scope_of(path: &str, consent: Option<&str>) -> Option<String> {
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

fn unauthorized(code: &'static str, text: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, code, text.to_owned()).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

pub(crate) fn bearer_refusal(
    server: &OAuthServer,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let consent = headers.get("Consent-ID").and_then(|v| v.to_str().ok());
    let scope = scope_of(path, consent)?;
    let book = server.book();
    if !book.protected.contains(&scope) {
        return None;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return Some(unauthorized(
            "TOKEN_INVALID",
            "this resource was authorised through OAuth2: send its access token as Authorization: Bearer",
        ));
    };
    match book.access.get(token.trim()) {
        None => Some(unauthorized("TOKEN_INVALID", "the access token is unknown")),
        Some(access) if access.scope != scope => Some(unauthorized(
            "TOKEN_INVALID",
            "the access token was issued for another consent or payment",
        )),
        Some(access) if access.expires_at <= Instant::now() => Some(unauthorized(
            "TOKEN_EXPIRED",
            "the access token has expired; renew it",
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_single_use_and_bound_to_the_verifier() {
        let server = OAuthServer::default();
        let code = |server: &OAuthServer, name: &str| {
            server.book().codes.insert(
                name.to_owned(),
                Code {
                    client_id: "tpp".to_owned(),
                    redirect_uri: "https://tpp.example/back".to_owned(),
                    challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
                    scope: "AIS:c-1".to_owned(),
                    customer: "1000001".to_owned(),
                    expires_at: Instant::now() + Duration::from_secs(60),
                    used: false,
                    issued: Vec::new(),
                },
            );
        };
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let back = "https://tpp.example/back";
        let minute = Duration::from_secs(60);
        code(&server, "a");
        let wrong = exchange_code(&server, "a", back, "tpp", &"x".repeat(43), minute);
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        // Spent by the failed try.
        let again = exchange_code(&server, "a", back, "tpp", verifier, minute);
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        code(&server, "b");
        assert!(
            exchange_code(&server, "b", back, "tpp", verifier, minute)
                .status()
                .is_success()
        );
        assert_eq!(server.book().access.len(), 1);
        // Presented again: refused, and what it bought is revoked.
        let reused = exchange_code(&server, "b", back, "tpp", verifier, minute);
        assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
        assert!(server.book().access.is_empty() && server.book().refresh.is_empty());
        assert!(server.book().protected.contains("AIS:c-1"));
    }
}
