//! The bank's OAuth2 authorisation server, for the Berlin Group `OAUTH` SCA approach (`--sca oauth2`):
//! its metadata (RFC 8414, `/.well-known/oauth-authorization-server` on the API's port), the
//! authorization endpoint (a page of the website: the customer logs in and answers the card reader,
//! then the browser returns to the TPP's `redirect_uri` with `code` and `state`; RFC 6749 §4.1 with
//! PKCE S256 only, RFC 7636), the token endpoint (`authorization_code` and `refresh_token` grants,
//! single-use codes, RFC 6749 §5.2 errors) and the check of `Authorization: Bearer` on the calls of a
//! consent or payment once it was authorised this way (`401 TOKEN_INVALID` / `TOKEN_EXPIRED`).
//! `DELETE /_sandbox/oauth/{customer}/refresh-tokens` revokes a customer's refresh tokens (tests: a
//! renewal the bank refuses). This file routes and renders; `server` keeps the codes and tokens.

pub(crate) mod server;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json, Router};
use serde_json::json;
use tokio::time::Instant;

use server::{Code, bearer_refusal, exchange_code, renew, secret, token_error};

use crate::ledger::{LedgerError, RedirectEnd};
use crate::markup::escape;
use crate::state::Shared;
use psd2_fallback_engine::model::{AuthorisationId, ConsentId, PaymentId, ScaStatus, ScaTarget};

/// Where the metadata is served, on the API's port.
pub(crate) const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// The routes on the API's port: the metadata and the token endpoint.
pub(crate) fn api_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(METADATA_PATH, get(metadata))
        .route("/oauth/token", post(token))
        .with_state(shared)
}

/// The routes on the website's port: the authorization page and the revocation for tests.
pub(crate) fn web_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/oauth/authorize",
            get(authorize_page).post(authorize_submit),
        )
        .route(
            "/_sandbox/oauth/{customer}/refresh-tokens",
            delete(revoke_refresh_tokens),
        )
        .with_state(shared)
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({
        "issuer": shared.api_url,
        "authorization_endpoint": format!("{}/oauth/authorize", shared.web_url),
        "token_endpoint": format!("{}/oauth/token", shared.api_url),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
    }))
}

// ---------------------------------------------------------------------------------------------------
// The authorization endpoint

/// A checked authorization request.
#[derive(Debug)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    challenge: String,
}

/// Why an authorization request is refused: on the page (the redirect URI cannot be trusted), or back
/// at the redirect URI with an RFC 6749 §4.1.2.1 error.
#[derive(Debug)]
enum Refusal {
    Page(String),
    Back {
        redirect_uri: String,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Page(text) => page_refusal(StatusCode::BAD_REQUEST, &text),
            Refusal::Back {
                redirect_uri,
                error,
                description,
                state,
            } => back(
                &redirect_uri,
                &[
                    ("error", error),
                    ("error_description", &description),
                    ("state", state.as_deref().unwrap_or("")),
                ],
            ),
        }
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

fn page_refusal(status: StatusCode, text: &str) -> Response {
    (
        status,
        Html(page(
            "Cannot authorise",
            &format!("<p class=\"error\" id=\"error\">{}</p>", escape(text)),
        )),
    )
        .into_response()
}

/// A `303` to the redirect URI with `pairs` added to its query (empty values left out).
fn back(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return page_refusal(StatusCode::BAD_REQUEST, "redirect_uri is not a URL");
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            query.append_pair(name, value);
        }
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response()
}

/// Checks an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
fn check_request(params: &HashMap<String, String>) -> Result<AuthRequest, Refusal> {
    let get = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let client_id = get("client_id")
        .ok_or_else(|| Refusal::Page("client_id is missing".to_owned()))?
        .to_owned();
    let redirect_uri = get("redirect_uri")
        .filter(|u| {
            (u.starts_with("https://") || u.starts_with("http://")) && url::Url::parse(u).is_ok()
        })
        .ok_or_else(|| {
            Refusal::Page("redirect_uri is missing or not an absolute http(s) URI".to_owned())
        })?
        .to_owned();
    let state = get("state").map(str::to_owned);
    let refuse = |error: &'static str, description: &str| Refusal::Back {
        redirect_uri: redirect_uri.clone(),
        error,
        description: description.to_owned(),
        state: state.clone(),
    };
    if get("response_type") != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    match get("code_challenge_method") {
        Some("S256") => {}
        Some(_) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        None => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method is required: S256 (PKCE)",
            ));
        }
    }
    let challenge = get("code_challenge")
        .filter(|c| {
            c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| {
            refuse(
                "invalid_request",
                "code_challenge is required: the S256 challenge, 43 base64url characters",
            )
        })?
        .to_owned();
    let scope = get("scope")
        .filter(|s| s.starts_with("AIS:") || s.starts_with("PIS:"))
        .filter(|s| s.len() > 4 && s.len() <= 200)
        .ok_or_else(|| {
            refuse(
                "invalid_scope",
                "scope must be AIS:<consentId> or PIS:<paymentId>",
            )
        })?
        .to_owned();
    Ok(AuthRequest {
        client_id,
        redirect_uri,
        state,
        scope,
        challenge,
    })
}

/// The authorisation a request's scope is waiting under, opened when the TPP went to the page
/// without starting one.
fn waiting(shared: &Shared, request: &AuthRequest) -> Result<(AuthorisationId, String), Refusal> {
    if let Some(found) = shared.oauth.book().waiting.get(&request.scope) {
        return Ok(found.clone());
    }
    let refuse = |error: &'static str, description: String| Refusal::Back {
        redirect_uri: request.redirect_uri.clone(),
        error,
        description,
        state: request.state.clone(),
    };
    let (kind, id) = request.scope.split_at(4);
    let found = if kind == "AIS:" {
        let consent = ConsentId::new(id);
        shared
            .ledger
            .consent(&consent)
            .map(|(customer, _)| (customer, ScaTarget::Consent(consent)))
    } else {
        let payment = PaymentId::new(id);
        match shared.ledger.owner_of_payment(&payment) {
            Some(customer) => shared
                .ledger
                .payment(&customer, &payment)
                .map(|record| (customer, ScaTarget::Payment(record.payment))),
            None => Err(LedgerError::NotFound {
                what: "payment",
                id: id.to_owned(),
            }),
        }
    };
    let (customer, target) =
        found.map_err(|e| refuse("invalid_scope", format!("{}: {e}", request.scope)))?;
    let expiry = shared.config.approval_expiry;
    let (auth, page_state) = shared
        .ledger
        .start_redirect(&customer, target.clone(), (None, None), expiry)
        .map_err(|e| refuse("invalid_request", e.to_string()))?;
    shared.oauth.wait(&target, auth.clone(), page_state.clone());
    Ok((auth, page_state))
}

/// The hidden fields that carry the authorization request through the form.
fn hidden_fields(params: &HashMap<String, String>) -> String {
    [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "scope",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .filter_map(|name| {
        params.get(*name).map(|value| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            )
        })
    })
    .collect()
}

/// `GET /oauth/authorize?…`: the bank's login and card reader for the authorisation the scope names.
async fn authorize_page(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if shared.website_in_maintenance().await {
        return page_refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "Maintenance. Try again later.",
        );
    }
    let request = match check_request(&params) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let (id, page_state) = match waiting(&shared, &request) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    match shared.ledger.redirect_challenge(&id, &page_state) {
        Ok((customer, challenge)) => Html(page(
            "Authorise at your bank",
            &format!(
                "<p>{client} asks access to <span id=\"scope\">{scope}</span>.</p>\
                 <p>Customer <span id=\"customer\">{customer}</span></p>\
                 <p>Challenge: <span id=\"challenge\" data-challenge=\"{challenge}\">{challenge}</span></p>\
                 <form method=\"post\" action=\"/oauth/authorize\">{hidden}\
                 <label>Password <input type=\"password\" name=\"password\" id=\"password\"></label>\
                 <label>Card reader response <input name=\"response\" id=\"response\"></label>\
                 <button type=\"submit\" name=\"action\" value=\"sign\" id=\"sign\">Authorise</button>\
                 <button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button>\
                 </form>",
                client = escape(&request.client_id),
                scope = escape(&request.scope),
                customer = escape(&customer),
                challenge = escape(&challenge),
                hidden = hidden_fields(&params),
            ),
        ))
        .into_response(),
        Err(error) => Refusal::Back {
            redirect_uri: request.redirect_uri,
            error: "access_denied",
            description: error.to_string(),
            state: request.state,
        }
        .into_response(),
    }
}

/// `POST /oauth/authorize`: the customer authorises (or cancels); the browser returns to the
/// redirect URI with a code, or with `access_denied`.
async fn authorize_submit(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let request = match check_request(&form) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let Some((id, page_state)) = shared.oauth.book().waiting.get(&request.scope).cloned() else {
        return Refusal::Back {
            redirect_uri: request.redirect_uri,
            error: "invalid_request",
            description: "no authorisation waits for this scope".to_owned(),
            state: request.state,
        }
        .into_response();
    };
    let customer = match shared.ledger.redirect_challenge(&id, &page_state) {
        Ok((customer, _)) => customer,
        Err(error) => {
            shared.oauth.book().waiting.remove(&request.scope);
            return Refusal::Back {
                redirect_uri: request.redirect_uri,
                error: "access_denied",
                description: error.to_string(),
                state: request.state,
            }
            .into_response();
        }
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let ended = if field("action") == "cancel" {
        shared.ledger.redirect_cancel(&id, &page_state)
    } else {
        shared
            .ledger
            .redirect_confirm(&id, &page_state, field("password"), field("response"))
    };
    let status = match ended {
        Ok(RedirectEnd { status, .. }) => status,
        // A wrong password or answer: the page says so and the customer tries again.
        Err(error @ (LedgerError::CredentialsInvalid | LedgerError::ScaInvalid { .. })) => {
            return page_refusal(StatusCode::FORBIDDEN, &error.to_string());
        }
        Err(error) => {
            return Refusal::Back {
                redirect_uri: request.redirect_uri,
                error: "access_denied",
                description: error.to_string(),
                state: request.state,
            }
            .into_response();
        }
    };
    let mut book = shared.oauth.book();
    book.waiting.remove(&request.scope);
    if status != ScaStatus::Finalised {
        drop(book);
        return Refusal::Back {
            redirect_uri: request.redirect_uri,
            error: "access_denied",
            description: "the customer did not authorise".to_owned(),
            state: request.state,
        }
        .into_response();
    }
    let code = secret();
    book.codes.insert(
        code.clone(),
        Code {
            client_id: request.client_id,
            redirect_uri: request.redirect_uri.clone(),
            challenge: request.challenge,
            scope: request.scope,
            customer,
            expires_at: Instant::now() + shared.config.oauth_code_expiry,
            used: false,
            issued: Vec::new(),
        },
    );
    drop(book);
    back(
        &request.redirect_uri,
        &[
            ("code", &code),
            ("state", request.state.as_deref().unwrap_or("")),
        ],
    )
}

/// `POST /oauth/token` (form): `authorization_code` (with `code_verifier`) or `refresh_token`.
async fn token(
    State(shared): State<Arc<Shared>>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return token_error(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    };
    let get = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let expiry = shared.config.access_token_expiry;
    match get("grant_type") {
        None => token_error("invalid_request", "grant_type is missing"),
        Some("authorization_code") => {
            let mut missing = ["code", "redirect_uri", "client_id", "code_verifier"]
                .into_iter()
                .filter(|name| get(name).is_none());
            if let Some(name) = missing.next() {
                return token_error("invalid_request", format!("{name} is missing"));
            }
            let (code, redirect_uri, client_id, verifier) = (
                get("code").unwrap_or_default(),
                get("redirect_uri").unwrap_or_default(),
                get("client_id").unwrap_or_default(),
                get("code_verifier").unwrap_or_default(),
            );
            exchange_code(
                &shared.oauth,
                code,
                redirect_uri,
                client_id,
                verifier,
                expiry,
            )
        }
        Some("refresh_token") => match get("refresh_token") {
            None => token_error("invalid_request", "refresh_token is missing"),
            Some(refresh) => renew(&shared.oauth, refresh, get("client_id"), expiry),
        },
        Some(_) => token_error(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}

/// `DELETE /_sandbox/oauth/{customer}/refresh-tokens`: the customer withdrew the TPP's access at the
/// bank; renewals are refused from now on (access tokens run until they expire).
async fn revoke_refresh_tokens(
    State(shared): State<Arc<Shared>>,
    Path(customer): Path<String>,
) -> Json<serde_json::Value> {
    let mut book = shared.oauth.book();
    let before = book.refresh.len();
    book.refresh.retain(|_, r| r.customer != customer);
    Json(json!({ "revoked": before - book.refresh.len() }))
}

/// Middleware of the API: a call on a consent or payment authorised through OAuth2 needs its access
/// token (`401 TOKEN_INVALID` without it or with another's, `401 TOKEN_EXPIRED` when it ran out).
pub(crate) async fn require_bearer(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(refused) = bearer_refusal(&shared.oauth, request.uri().path(), request.headers()) {
        return refused;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("response_type", "code"),
            ("client_id", "tpp"),
            ("redirect_uri", "https://tpp.example/back"),
            ("state", "s-1"),
            ("scope", "AIS:c-1"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ]
    }

    fn with(change: (&'static str, &'static str)) -> HashMap<String, String> {
        let mut p = params(&good());
        p.insert(change.0.to_owned(), change.1.to_owned());
        p
    }

    #[test]
    fn authorization_requests_without_s256_pkce_go_back_with_rfc_6749_errors() {
        assert!(check_request(&params(&good())).is_ok());
        for (change, error) in [
            (("code_challenge_method", "plain"), "invalid_request"),
            (("code_challenge_method", ""), "invalid_request"),
            (("code_challenge", "short"), "invalid_request"),
            (("response_type", "token"), "unsupported_response_type"),
            (("scope", "openid"), "invalid_scope"),
        ] {
            match check_request(&with(change)) {
                Err(Refusal::Back {
                    error: e, state, ..
                }) => {
                    assert_eq!(e, error, "{change:?}");
                    assert_eq!(state.as_deref(), Some("s-1"));
                }
                other => panic!("{change:?}: {other:?}"),
            }
        }
        // An untrustworthy redirect URI is never redirected to.
        for change in [("redirect_uri", "javascript:alert(1)"), ("client_id", "")] {
            assert!(
                matches!(check_request(&with(change)), Err(Refusal::Page(_))),
                "{change:?}"
            );
        }
    }
}
