//! Getting in and out: the cookie banner, the login form, the card-reader challenge, logging out.

use std::collections::HashMap;

use axum::Form;
use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use super::html::{self, Button, Chrome, Field, FormData, Layout, escape};
use super::page::{forbidden, render};
use super::session::{Login, clear_session_cookie, session_cookie};
use super::visitor::{Visitor, check_csrf};

const LOGIN: Button = Button {
    v1: "login-submit",
    v1_text: "Log in",
    v2: "sign-in",
    v2_text: "Sign in",
};

const SCA: Button = Button {
    v1: "sca-submit",
    v1_text: "Continue",
    v2: "verify",
    v2_text: "Verify",
};

/// `/`: the accounts when logged in, else the login page.
pub(crate) async fn root(visitor: Visitor) -> Redirect {
    match visitor.session.as_ref().map(|(_, s)| &s.login) {
        Some(Login::Authenticated { .. }) => Redirect::to("/accounts"),
        _ => Redirect::to("/login"),
    }
}

/// The banner's form, for browsers without script: sets the cookie and goes back.
pub(crate) async fn accept_cookies(
    visitor: Visitor,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    let chrome = visitor.chrome();
    let Some((_, session)) = &visitor.session else {
        return forbidden(&chrome);
    };
    if let Err(response) = check_csrf(&session.csrf, &form, &chrome) {
        return *response;
    }
    let back = form.get(Field::Return);
    let back = if back.starts_with('/') && !back.starts_with("//") {
        back
    } else {
        "/"
    };
    let mut response = Redirect::to(back).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        header::HeaderValue::from_static(
            "cookies=accepted; Path=/; Max-Age=31536000; SameSite=Lax",
        ),
    );
    response
}

/// The login page (marker `login`). Gives the visitor an anonymous session for the form's CSRF token.
pub(crate) async fn login_page(
    mut visitor: Visitor,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some((_, session)) = &visitor.session
        && matches!(session.login, Login::Authenticated { .. })
    {
        return Redirect::to("/accounts").into_response();
    }
    let message = if query.contains_key("expired") || visitor.expired {
        Some(Message::Notice(
            "Your session has expired. Please log in again.",
        ))
    } else if query.contains_key("logged_out") {
        Some(Message::Notice("You are logged out. Goodbye."))
    } else if query.contains_key("failed") {
        Some(Message::Error(
            "Too many wrong responses to the challenge. Please log in again.",
        ))
    } else {
        None
    };
    anonymous_login_page(&mut visitor, message, "")
}

enum Message {
    Notice(&'static str),
    Error(&'static str),
}

/// Renders the login form, starting an anonymous session when the visitor has none.
fn anonymous_login_page(
    visitor: &mut Visitor,
    message: Option<Message>,
    customer: &str,
) -> Response {
    let mut new_cookie = None;
    if visitor.session.is_none() {
        let sid = visitor.web.sessions.create(Login::Anonymous);
        visitor.session = visitor
            .web
            .sessions
            .get(&sid)
            .map(|session| (sid.clone(), Box::new(session)));
        new_cookie = Some(sid);
    }
    let chrome = visitor.chrome();
    let layout = chrome.layout;
    let csrf = chrome.csrf.clone().unwrap_or_default();
    let mut body = String::new();
    match message {
        Some(Message::Notice(text)) => body.push_str(&html::notice(layout, text)),
        Some(Message::Error(text)) => body.push_str(&html::error(layout, text)),
        None => {}
    }
    let inner = format!(
        "{}{}{}",
        html::input(
            layout,
            Field::Customer,
            "Customer number",
            "text",
            customer,
            r#"autocomplete="username" inputmode="numeric""#
        ),
        html::input(
            layout,
            Field::Password,
            "Password",
            "password",
            "",
            r#"autocomplete="current-password""#
        ),
        html::button(layout, &LOGIN, false, None)
    );
    body.push_str(&html::form(
        layout,
        ("login-form", "signin"),
        "/login",
        Some(&csrf),
        &inner,
    ));
    body.push_str(r#"<p class="hint">Sandbox customers: 1000001 / anna-sandbox, 1000002 / luc-sandbox, 1000003 / koe-sandbox.</p>"#);
    let title = match layout {
        Layout::V1 => "Log in to online banking",
        Layout::V2 => "Welcome back",
    };
    let mut response = render(&chrome, "login", title, &body);
    if let Some(sid) = new_cookie {
        response
            .headers_mut()
            .append(header::SET_COOKIE, session_cookie(&sid));
    }
    response
}

/// Checks the password; on success a new session (new id, new token) waits for the challenge's answer.
pub(crate) async fn login(
    mut visitor: Visitor,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    let Some((sid, session)) = visitor.session.clone() else {
        // The login form's session ran out while the visitor typed.
        return Redirect::to("/login?expired=1").into_response();
    };
    if let Err(response) = check_csrf(&session.csrf, &form, &visitor.chrome()) {
        return *response;
    }
    let customer = form.get(Field::Customer).to_owned();
    let ledger = &visitor.web.shared.ledger;
    match ledger.log_in_on_website(&customer, form.get(Field::Password)) {
        Ok(name) => {
            visitor.web.sessions.remove(&sid);
            let (login, next) =
                super::app_login::after_password(&visitor, customer, name.to_owned());
            let new = visitor.web.sessions.create(login);
            let mut response = Redirect::to(next).into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, session_cookie(&new));
            response
        }
        Err(_) => anonymous_login_page(
            &mut visitor,
            Some(Message::Error("Customer number or password is wrong.")),
            &customer,
        ),
    }
}

/// The card-reader challenge after the password (marker `sca`).
pub(crate) async fn sca_page(visitor: Visitor) -> Response {
    let Some((_, session)) = &visitor.session else {
        return Redirect::to(if visitor.expired {
            "/login?expired=1"
        } else {
            "/login"
        })
        .into_response();
    };
    match &session.login {
        Login::Challenged {
            challenge,
            attempts_left,
            ..
        } => sca_screen(&visitor, &session.csrf, challenge, *attempts_left, None),
        Login::Authenticated { .. } => Redirect::to("/accounts").into_response(),
        Login::AwaitingApp { .. } => Redirect::to("/login/app").into_response(),
        Login::ChoosingMethod { .. } => Redirect::to("/login/method").into_response(),
        Login::Anonymous => Redirect::to("/login").into_response(),
    }
}

fn sca_screen(
    visitor: &Visitor,
    csrf: &str,
    challenge: &str,
    attempts_left: u32,
    error: Option<&str>,
) -> Response {
    let mut chrome: Chrome = visitor.chrome();
    chrome.csrf = Some(csrf.to_owned());
    let layout = chrome.layout;
    let mut body = String::new();
    if let Some(error) = error {
        body.push_str(&html::error(layout, error));
    }
    body.push_str(&format!(
        r#"<p>Insert your bank card in your card reader, press <b>LOGIN</b> and type this challenge:</p><p class="challenge">{}</p><p>Attempts left: {}</p>"#,
        html::value(layout, "challenge", &escape(challenge)),
        html::value(layout, "attempts-left", &attempts_left.to_string()),
    ));
    let inner = format!(
        "{}{}",
        html::input(
            layout,
            Field::Response,
            "Response shown by the card reader",
            "text",
            "",
            r#"autocomplete="one-time-code" inputmode="numeric" maxlength="8""#
        ),
        html::button(layout, &SCA, false, None)
    );
    body.push_str(&html::form(
        layout,
        ("sca-form", "verify-form"),
        "/sca",
        Some(csrf),
        &inner,
    ));
    render(&chrome, "sca", "Confirm it is you", &body)
}

/// Checks the card reader's response: right → logged in; wrong → a new challenge, at most three tries.
pub(crate) async fn sca(visitor: Visitor, Form(form): Form<HashMap<String, String>>) -> Response {
    let form = FormData(form);
    let Some((sid, session)) = &visitor.session else {
        return Redirect::to(if visitor.expired {
            "/login?expired=1"
        } else {
            "/login"
        })
        .into_response();
    };
    if let Err(response) = check_csrf(&session.csrf, &form, &visitor.chrome()) {
        return *response;
    }
    let Login::Challenged {
        customer,
        name,
        challenge,
        attempts_left,
    } = &session.login
    else {
        return Redirect::to("/login").into_response();
    };
    if crate::card_reader::card_reader_response(customer, challenge) == form.get(Field::Response) {
        let login = Login::Authenticated {
            customer: customer.clone(),
            name: name.clone(),
        };
        visitor.web.sessions.update(sid, |s| s.login = login);
        return Redirect::to("/accounts").into_response();
    }
    let left = attempts_left.saturating_sub(1);
    if left == 0 {
        visitor.web.sessions.remove(sid);
        let mut response = Redirect::to("/login?failed=1").into_response();
        response
            .headers_mut()
            .append(header::SET_COOKIE, clear_session_cookie());
        return response;
    }
    let fresh = visitor.web.shared.ledger.new_challenge();
    let login = Login::Challenged {
        customer: customer.clone(),
        name: name.clone(),
        challenge: fresh.clone(),
        attempts_left: left,
    };
    visitor.web.sessions.update(sid, |s| s.login = login);
    let message =
        format!("The response is wrong. Here is a new challenge; {left} attempt(s) left.");
    sca_screen(&visitor, &session.csrf, &fresh, left, Some(&message))
}

/// Ends the session.
pub(crate) async fn logout(visitor: Visitor) -> Response {
    if let Some((sid, _)) = &visitor.session {
        visitor.web.sessions.remove(sid);
    }
    let mut response = Redirect::to("/login?logged_out=1").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie());
    response
}
