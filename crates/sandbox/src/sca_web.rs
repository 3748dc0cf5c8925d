//! The bank's own SCA screens beyond embedded: the redirect page (the customer logs in and answers the
//! card reader at the bank, then the browser returns to the TPP's redirect URI) and the simulated
//! banking app of the decoupled approach — its waiting approvals, approved or refused from a page of
//! the website or from `PUT /_sandbox/app/{customer}/{approve|refuse}` (tests and the demo).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Form, Json, Router};
use serde_json::json;

use crate::ledger::{LedgerError, RedirectEnd};
use crate::markup::{escape, url_encode};
use crate::state::Shared;
use psd2_fallback_engine::model::{AuthorisationId, ScaStatus};

/// The routes, on the website's port.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/sca/redirect/{authorisation}",
            get(redirect_page).post(redirect_submit),
        )
        .route(
            "/sca/login/{approval}",
            get(login_redirect_page).post(login_redirect_submit),
        )
        .route("/app/{customer}", get(app_page))
        .route("/app/{customer}/{decision}", axum::routing::post(app_form))
        .route("/_sandbox/app/{customer}", get(app_pending))
        .route("/_sandbox/app/{customer}/{decision}", put(app_put))
        .with_state(shared)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

fn refusal(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        Html(page(
            title,
            &format!("<p class=\"error\">{}</p>", escape(text)),
        )),
    )
        .into_response()
}

/// `GET /sca/redirect/{id}?state=…`: the bank's authorisation page. A wrong or missing state reads
/// as an unknown authorisation.
async fn redirect_page(
    State(shared): State<Arc<Shared>>,
    Path(authorisation): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if shared.website_in_maintenance().await {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "Maintenance",
            "Try again later.",
        );
    }
    let id = AuthorisationId::new(authorisation);
    let state = query.get("state").map(String::as_str).unwrap_or("");
    match shared.ledger.redirect_challenge(&id, state) {
        Ok((customer, challenge)) => Html(page(
            "Sign at your bank",
            &format!(
                "<p>Customer <span id=\"customer\">{customer}</span></p>\
                 <p>Challenge: <span id=\"challenge\" data-challenge=\"{challenge}\">{challenge}</span></p>\
                 <form method=\"post\" action=\"/sca/redirect/{id}\">\
                 <input type=\"hidden\" name=\"state\" value=\"{state}\">\
                 <label>Password <input type=\"password\" name=\"password\" id=\"password\"></label>\
                 <label>Card reader response <input name=\"response\" id=\"response\"></label>\
                 <button type=\"submit\" name=\"action\" value=\"sign\" id=\"sign\">Sign</button>\
                 <button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button>\
                 </form>",
                customer = escape(&customer),
                challenge = escape(&challenge),
                id = url_encode(id.as_str()),
                state = escape(state),
            ),
        ))
        .into_response(),
        Err(error) => ledger_refusal(&error),
    }
}

/// `POST /sca/redirect/{id}`: signs (or cancels); the browser returns to the TPP's URI for the
/// outcome, or sees the outcome here when the TPP gave none.
async fn redirect_submit(
    State(shared): State<Arc<Shared>>,
    Path(authorisation): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let id = AuthorisationId::new(authorisation);
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let ended = if field("action") == "cancel" {
        shared.ledger.redirect_cancel(&id, field("state"))
    } else {
        shared
            .ledger
            .redirect_confirm(&id, field("state"), field("password"), field("response"))
    };
    match ended {
        Ok(RedirectEnd {
            back: Some(uri), ..
        }) => (StatusCode::SEE_OTHER, [(header::LOCATION, uri)]).into_response(),
        Ok(RedirectEnd { status, .. }) => Html(page(
            "Signing ended",
            &format!(
                "<p id=\"outcome\">{}</p>",
                if status == ScaStatus::Finalised {
                    "Signed. You may return to the app that sent you."
                } else {
                    "Not signed."
                }
            ),
        ))
        .into_response(),
        Err(error) => ledger_refusal(&error),
    }
}

/// `GET /sca/login/{id}?state=…`: the bank's own page where a website login continues: the
/// customer answers the card reader here (or cancels); the website's page waiting for it moves on.
async fn login_redirect_page(
    State(shared): State<Arc<Shared>>,
    Path(approval): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let id = AuthorisationId::new(approval);
    let state = query.get("state").map(String::as_str).unwrap_or("");
    match shared.ledger.login_redirect_challenge(&id, state) {
        Ok((customer, challenge)) => Html(page(
            "Log in at your bank",
            &format!(
                "<p>Customer <span id=\"customer\">{customer}</span></p>\
                 <p>Challenge: <span id=\"challenge\">{challenge}</span></p>\
                 <form method=\"post\" action=\"/sca/login/{id}\">\
                 <input type=\"hidden\" name=\"state\" value=\"{state}\">\
                 <label>Card reader response <input name=\"response\" id=\"response\"></label>\
                 <button type=\"submit\" name=\"action\" value=\"confirm\" id=\"confirm\">Log in</button>\
                 <button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button>\
                 </form>",
                customer = escape(&customer),
                challenge = escape(&challenge),
                id = url_encode(id.as_str()),
                state = escape(state),
            ),
        ))
        .into_response(),
        Err(error) => ledger_refusal(&error),
    }
}

/// `POST /sca/login/{id}`: the customer's answer (or cancellation) on the bank's login page.
async fn login_redirect_submit(
    State(shared): State<Arc<Shared>>,
    Path(approval): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let id = AuthorisationId::new(approval);
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let response = (field("action") != "cancel").then(|| field("response"));
    match shared
        .ledger
        .login_redirect_confirm(&id, field("state"), response)
    {
        Ok(status) => Html(page(
            "Login",
            &format!(
                "<p id=\"outcome\">{}</p>",
                if status == ScaStatus::Finalised {
                    "Logged in. You may return to the website."
                } else {
                    "Not logged in."
                }
            ),
        ))
        .into_response(),
        Err(error) => ledger_refusal(&error),
    }
}

fn ledger_refusal(error: &LedgerError) -> Response {
    let status = match error {
        LedgerError::NotFound { .. } => StatusCode::NOT_FOUND,
        LedgerError::CredentialsInvalid | LedgerError::ScaInvalid { .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::CONFLICT,
    };
    refusal(status, "Cannot sign", &error.to_string())
}

/// `GET /app/{customer}`: the banking app's page of waiting approvals.
async fn app_page(State(shared): State<Arc<Shared>>, Path(customer): Path<String>) -> Response {
    let pending = shared.ledger.app_pending(&customer);
    let mut rows = String::new();
    for p in &pending {
        let id = escape(p.id.as_str());
        rows.push_str(&format!(
            "<li class=\"approval\" data-authorisation=\"{id}\">{what}\
             <form method=\"post\" action=\"/app/{c}/approve\"><input type=\"hidden\" name=\"authorisation\" value=\"{id}\"><button>Approve</button></form>\
             <form method=\"post\" action=\"/app/{c}/refuse\"><input type=\"hidden\" name=\"authorisation\" value=\"{id}\"><button>Refuse</button></form></li>",
            what = escape(&p.what),
            c = url_encode(&customer),
        ));
    }
    Html(page(
        "Banking app",
        &format!("<ul id=\"approvals\">{rows}</ul>"),
    ))
    .into_response()
}

/// `POST /app/{customer}/{approve|refuse}` from the app's page.
async fn app_form(
    State(shared): State<Arc<Shared>>,
    Path((customer, decision)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match decide(&shared, &customer, &decision, form.get("authorisation")) {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, format!("/app/{}", url_encode(&customer)))],
        )
            .into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// `GET /_sandbox/app/{customer}`: the approvals waiting in the customer's app, as JSON.
async fn app_pending(
    State(shared): State<Arc<Shared>>,
    Path(customer): Path<String>,
) -> Json<serde_json::Value> {
    let pending = shared.ledger.app_pending(&customer);
    Json(json!({
        "pending": pending
            .iter()
            .map(|p| json!({ "authorisationId": p.id.as_str(), "what": p.what }))
            .collect::<Vec<_>>()
    }))
}

/// `PUT /_sandbox/app/{customer}/{approve|refuse}[?authorisation=…]`: the customer decides in the
/// app; without a named authorisation, the only one waiting.
async fn app_put(
    State(shared): State<Arc<Shared>>,
    Path((customer, decision)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match decide(&shared, &customer, &decision, query.get("authorisation")) {
        Ok((id, status)) => Json(json!({
            "authorisationId": id.as_str(),
            "scaStatus": status.code(),
        }))
        .into_response(),
        Err(refused) => refused.into_response(),
    }
}

fn decide(
    shared: &Shared,
    customer: &str,
    decision: &str,
    authorisation: Option<&String>,
) -> Result<(AuthorisationId, ScaStatus), (StatusCode, String)> {
    let approve = match decision {
        "approve" => true,
        "refuse" => false,
        other => {
            return Err((
                StatusCode::NOT_FOUND,
                format!("{other:?} is no decision: approve or refuse"),
            ));
        }
    };
    let id = authorisation.map(|a| AuthorisationId::new(a.clone()));
    shared
        .ledger
        .app_decide(customer, id.as_ref(), approve)
        .map_err(|error| {
            let status = match error {
                LedgerError::NotFound { .. } => StatusCode::NOT_FOUND,
                LedgerError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::CONFLICT,
            };
            (status, error.to_string())
        })
}
