//! Logins confirmed in the banking app, for the customers who confirm them there
//! ([`crate::SandboxConfig::app_logins`]), and the choice of how to confirm a login for those offered
//! one ([`crate::SandboxConfig::login_choices`]).
//!
//! After the password, the page "Confirm in your banking app" (marker `login-app`) waits: its script
//! polls `/login/app/status` and moves on to the accounts once the customer approved in the app, or
//! shows the refusal or the expiry on the page. The choice page (marker `login-method`) offers the
//! card reader (on to the challenge, marker `sca`) or the app (on to the waiting page). For the
//! customers whose login continues at the bank's own page ([`crate::SandboxConfig::login_redirects`])
//! the waiting page (marker `login-redirect`) shows that page's link instead, and waits the same way.

use std::collections::HashMap;

use axum::Form;
use axum::Json;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::html::{self, Button, Field, FormData, escape, url_encode};
use super::page::render;
use super::session::Login;
use super::visitor::{Visitor, check_csrf};
use crate::ledger::SCA_ATTEMPTS;
use psd2_fallback_engine::model::ScaStatus;

const CARD_READER: Button = Button {
    v1: "method-card-reader",
    v1_text: "Card reader",
    v2: "use-card-reader",
    v2_text: "Use my card reader",
};

const APP: Button = Button {
    v1: "method-app",
    v1_text: "Banking app",
    v2: "use-app",
    v2_text: "Use my banking app",
};

/// Where a customer goes after the right password: the choice, the app, or the card reader.
pub(super) fn after_password(
    visitor: &Visitor,
    customer: String,
    name: String,
) -> (Login, &'static str) {
    let config = &visitor.web.shared.config;
    if config.login_choices.contains(&customer) {
        (Login::ChoosingMethod { customer, name }, "/login/method")
    } else if config.login_redirects.contains(&customer) {
        let shared = &visitor.web.shared;
        let (approval, state) = shared
            .ledger
            .start_login_redirect(&customer, shared.config.approval_expiry);
        let link = format!(
            "{}/sca/login/{}?state={state}",
            shared.web_url,
            url_encode(approval.as_str())
        );
        (
            Login::AwaitingApp {
                customer,
                name,
                approval,
                redirect: Some(link),
            },
            "/login/app",
        )
    } else if config.app_logins.contains(&customer) {
        awaiting_app(visitor, customer, name)
    } else {
        let challenge = visitor.web.shared.ledger.new_challenge();
        (
            Login::Challenged {
                customer,
                name,
                challenge,
                attempts_left: SCA_ATTEMPTS,
            },
            "/sca",
        )
    }
}

/// A login that waits for the approval in the app (a new one in the customer's app).
fn awaiting_app(visitor: &Visitor, customer: String, name: String) -> (Login, &'static str) {
    let shared = &visitor.web.shared;
    let approval = shared
        .ledger
        .start_login_approval(&customer, shared.config.approval_expiry);
    (
        Login::AwaitingApp {
            customer,
            name,
            approval,
            redirect: None,
        },
        "/login/app",
    )
}

fn back_to_login(visitor: &Visitor) -> Response {
    Redirect::to(if visitor.expired {
        "/login?expired=1"
    } else {
        "/login"
    })
    .into_response()
}

/// `GET /login/method`: the choice between the card reader and the banking app (marker
/// `login-method`).
pub(crate) async fn method_page(visitor: Visitor) -> Response {
    let Some((_, session)) = &visitor.session else {
        return back_to_login(&visitor);
    };
    if !matches!(session.login, Login::ChoosingMethod { .. }) {
        return Redirect::to("/").into_response();
    }
    let mut chrome = visitor.chrome();
    chrome.csrf = Some(session.csrf.clone());
    let layout = chrome.layout;
    let inner = format!(
        "{}{}",
        html::button(layout, &CARD_READER, false, Some("card-reader")),
        html::button(layout, &APP, false, Some("app")),
    );
    let body = format!(
        "<p>How do you want to confirm it is you?</p>{}",
        html::form(
            layout,
            ("method-form", "method"),
            "/login/method",
            Some(&session.csrf),
            &inner
        )
    );
    render(&chrome, "login-method", "Confirm it is you", &body)
}

/// `POST /login/method`: on to the card reader's challenge or to the app.
pub(crate) async fn choose_method(
    visitor: Visitor,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    let Some((sid, session)) = &visitor.session else {
        return back_to_login(&visitor);
    };
    if let Err(response) = check_csrf(&session.csrf, &form, &visitor.chrome()) {
        return *response;
    }
    let Login::ChoosingMethod { customer, name } = &session.login else {
        return Redirect::to("/").into_response();
    };
    let (login, next) = match form.get(Field::Decision) {
        "app" => awaiting_app(&visitor, customer.clone(), name.clone()),
        "card-reader" => (
            Login::Challenged {
                customer: customer.clone(),
                name: name.clone(),
                challenge: visitor.web.shared.ledger.new_challenge(),
                attempts_left: SCA_ATTEMPTS,
            },
            "/sca",
        ),
        _ => return Redirect::to("/login/method").into_response(),
    };
    visitor.web.sessions.update(sid, |s| s.login = login);
    Redirect::to(next).into_response()
}

/// Where the session's login approval stands; an approved one lets the session in.
fn approval_state(visitor: &Visitor) -> Option<(ScaStatus, Option<String>)> {
    let (sid, session) = visitor.session.as_ref()?;
    let Login::AwaitingApp {
        customer,
        name,
        approval,
        ..
    } = &session.login
    else {
        return None;
    };
    let (status, message) = visitor
        .web
        .shared
        .ledger
        .login_approval(customer, approval)
        .unwrap_or((ScaStatus::Failed, None));
    if status == ScaStatus::Finalised {
        let login = Login::Authenticated {
            customer: customer.clone(),
            name: name.clone(),
        };
        visitor.web.sessions.update(sid, |s| s.login = login);
    }
    Some((status, message))
}

/// `GET /login/app`: "confirm in your banking app" (marker `login-app`); the accounts once approved.
pub(crate) async fn app_page(visitor: Visitor) -> Response {
    let Some((status, message)) = approval_state(&visitor) else {
        return match visitor.session.as_ref().map(|(_, s)| &s.login) {
            Some(Login::Authenticated { .. }) => Redirect::to("/accounts").into_response(),
            Some(_) => Redirect::to("/login").into_response(),
            None => back_to_login(&visitor),
        };
    };
    if status == ScaStatus::Finalised {
        return Redirect::to("/accounts").into_response();
    }
    let chrome = visitor.chrome();
    let layout = chrome.layout;
    let ended = (status == ScaStatus::Failed)
        .then(|| message.unwrap_or_else(|| "not confirmed".to_owned()));
    let outcome = match (&ended, layout) {
        (Some(text), html::Layout::V1) => format!(
            r#"<p id="login-app-outcome" class="msg msg-error">{}</p>"#,
            escape(text)
        ),
        (Some(text), html::Layout::V2) => format!(
            r#"<div class="alert alert-danger" data-item="loginAppOutcome">{}</div>"#,
            escape(text)
        ),
        (None, html::Layout::V1) => {
            r#"<p id="login-app-outcome" class="msg msg-error" hidden></p>"#.to_owned()
        }
        (None, html::Layout::V2) => {
            r#"<div class="alert alert-danger" data-item="loginAppOutcome" hidden></div>"#
                .to_owned()
        }
    };
    let outcome_css = match layout {
        html::Layout::V1 => "#login-app-outcome",
        html::Layout::V2 => "[data-item=loginAppOutcome]",
    };
    let script = match ended {
        Some(_) => String::new(),
        None => format!(
            r#"<script>
(function () {{
  function poll() {{
    fetch('/login/app/status', {{ credentials: 'same-origin' }})
      .then(function (r) {{ return r.json(); }})
      .then(function (s) {{
        if (s.scaStatus === 'finalised') {{ location.href = '/accounts'; return; }}
        if (s.scaStatus === 'failed') {{
          var o = document.querySelector('{outcome_css}');
          o.textContent = s.psuMessage || 'not confirmed';
          o.hidden = false;
          return;
        }}
        setTimeout(poll, 200);
      }})
      .catch(function () {{ setTimeout(poll, 1000); }});
  }}
  setTimeout(poll, 200);
}})();
</script>"#
        ),
    };
    let redirect = match visitor.session.as_ref().map(|(_, s)| &s.login) {
        Some(Login::AwaitingApp { redirect, .. }) => redirect.clone(),
        _ => None,
    };
    let again = html::link(
        layout,
        "/logout",
        "login-again",
        "login-again",
        "Log in again",
    );
    if let Some(link) = redirect {
        let body = format!(
            "<p>{}</p><p>{}</p>{outcome}<p>{again}</p>{script}",
            html::value(
                layout,
                "login-redirect-message",
                "Continue this login at your bank's page, then answer your card reader there."
            ),
            html::link(
                layout,
                &link,
                "login-redirect-link",
                "login-redirect-link",
                "Continue at your bank"
            ),
        );
        return render(&chrome, "login-redirect", "Continue at your bank", &body);
    }
    let body = format!(
        "<p>{}</p>{outcome}<p>{again}</p>{script}",
        html::value(
            layout,
            "login-app-message",
            "Confirm this login in your banking app."
        ),
    );
    render(&chrome, "login-app", "Confirm in your app", &body)
}

/// `GET /login/app/status`: where the login's approval stands (`scaStatus`, `psuMessage`); an
/// approved one lets the session in. A visitor whose login waits for nothing gets `failed`.
pub(crate) async fn app_status(visitor: Visitor) -> Response {
    let (status, message) = match approval_state(&visitor) {
        Some(state) => state,
        None => match visitor.session.as_ref().map(|(_, s)| &s.login) {
            Some(Login::Authenticated { .. }) => (ScaStatus::Finalised, None),
            _ => (ScaStatus::Failed, None),
        },
    };
    Json(json!({ "scaStatus": status.code(), "psuMessage": message })).into_response()
}
