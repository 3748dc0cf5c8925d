//! Getting in and out of the second website: the cookie wall's form, the three login steps (customer
//! number, then password, then the card reader's response to a challenge), and logging out.

use std::collections::HashMap;

use axum::Form;
use axum::extract::Query;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::page::{BASE, Frame, error, notice, render};
use super::session::{Step, consent_cookie, session_cookie};
use super::site::{Visitor, check_token, go, text};
use crate::ledger::SCA_ATTEMPTS;
use crate::markup::escape;

/// `/`: the accounts when logged in, else the first login step.
pub(crate) async fn root(visitor: Visitor) -> Response {
    match visitor.session.as_ref().map(|(_, s)| &s.login) {
        Some(Step::LoggedIn { .. }) => go("/overzicht"),
        _ => go("/inloggen"),
    }
}

/// The cookie wall's form, for browsers without script: records the choice and goes back.
pub(crate) async fn cookies(
    visitor: Visitor,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some((_, session)) = &visitor.session
        && let Err(response) = check_token(&session.csrf, &form, &visitor.frame)
    {
        return *response;
    }
    let back = text(&form, "terug");
    let back = if back.starts_with(BASE) && !back.starts_with("//") {
        back.to_owned()
    } else {
        format!("{BASE}/")
    };
    let mut response = axum::response::Redirect::to(&back).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        consent_cookie(text(&form, "keuze") == "alles"),
    );
    response
}

/// A page of the login sequence, giving the visitor a session when it had none.
fn login_screen(
    visitor: &Visitor,
    step: Step,
    screen: &str,
    title: &str,
    body: impl FnOnce(&str) -> String,
) -> Response {
    let (sid, token, new) = match &visitor.session {
        Some((sid, session)) => (sid.clone(), session.csrf.clone(), false),
        None => {
            let sid = visitor.site.sessions.create(step);
            let token = visitor
                .site
                .sessions
                .update(&sid, |s| s.csrf.clone())
                .unwrap_or_default();
            (sid, token, true)
        }
    };
    let mut frame: Frame = visitor.frame.clone();
    frame.token = Some(token.clone());
    let mut response = render(&frame, screen, title, &body(&token));
    if new {
        response
            .headers_mut()
            .append(header::SET_COOKIE, session_cookie(Some(&sid)));
    }
    response
}

/// Step 1, the customer number (class `scherm-inloggen`).
pub(crate) async fn number_page(
    visitor: Visitor,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some((_, session)) = &visitor.session
        && matches!(session.login, Step::LoggedIn { .. })
    {
        return go("/overzicht");
    }
    let message = if query.contains_key("verlopen") || visitor.expired {
        notice("Uw sessie is verlopen. Log opnieuw in.")
    } else if query.contains_key("uitgelogd") {
        notice("U bent uitgelogd. Tot ziens!")
    } else if query.contains_key("fout") {
        error("Klantnummer of wachtwoord onjuist.")
    } else if query.contains_key("geblokkeerd") {
        error("Te veel foute responsen. Begin opnieuw.")
    } else {
        String::new()
    };
    login_screen(&visitor, Step::Anonymous, "inloggen", "Inloggen", |token| {
        format!(
            r#"{message}<form class="inlogstap" method="post" action="{BASE}/inloggen"><input type="hidden" name="formtoken" value="{}"><div class="regel"><label for="klantnummer">Klantnummer</label><input id="klantnummer" name="klantnummer" type="text" inputmode="numeric" autocomplete="username"></div><button class="knop" id="volgende" type="submit">Volgende</button></form><p class="tip">Zandbak-klanten: 1000001, 1000002, 1000003 (wachtwoord: voornaam-sandbox).</p>"#,
            escape(token)
        )
    })
}

/// Step 1 sent: remembers the customer number and asks for the password (whether the number exists
/// is only said after the password, as banks do).
pub(crate) async fn number(
    visitor: Visitor,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some((sid, session)) = &visitor.session else {
        return go("/inloggen?verlopen=1");
    };
    if let Err(response) = check_token(&session.csrf, &form, &visitor.frame) {
        return *response;
    }
    let customer = text(&form, "klantnummer").to_owned();
    if customer.is_empty() {
        return go("/inloggen?fout=1");
    }
    visitor
        .site
        .sessions
        .update(sid, |s| s.login = Step::Identified { customer });
    go("/inloggen/wachtwoord")
}

/// Step 2, the password (class `scherm-wachtwoord`).
pub(crate) async fn password_page(visitor: Visitor) -> Response {
    let customer = match visitor.session.as_ref().map(|(_, s)| &s.login) {
        Some(Step::Identified { customer }) => customer.clone(),
        Some(Step::LoggedIn { .. }) => return go("/overzicht"),
        Some(Step::Challenged { .. }) => return go("/inloggen/kaartlezer"),
        _ => return visitor.to_login(),
    };
    login_screen(
        &visitor,
        Step::Anonymous,
        "wachtwoord",
        "Uw wachtwoord",
        |token| {
            format!(
                r#"<p>Klantnummer <strong id="gekozen-klant">{}</strong> · <a href="{BASE}/uitloggen">niet u?</a></p><form class="inlogstap" method="post" action="{BASE}/inloggen/wachtwoord"><input type="hidden" name="formtoken" value="{}"><div class="regel"><label for="wachtwoord">Wachtwoord</label><input id="wachtwoord" name="wachtwoord" type="password" autocomplete="current-password"></div><button class="knop" id="inloggen" type="submit">Inloggen</button></form>"#,
                escape(&customer),
                escape(token)
            )
        },
    )
}

/// Step 2 sent: a right password leads to the card reader in a new session; a wrong one back to
/// step 1 with the error.
pub(crate) async fn password(
    visitor: Visitor,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some((sid, session)) = &visitor.session else {
        return go("/inloggen?verlopen=1");
    };
    if let Err(response) = check_token(&session.csrf, &form, &visitor.frame) {
        return *response;
    }
    let Step::Identified { customer } = &session.login else {
        return go("/inloggen");
    };
    let ledger = &visitor.site.shared.ledger;
    visitor.site.sessions.remove(sid);
    match ledger.log_in_on_website(customer, text(&form, "wachtwoord")) {
        Ok(name) => {
            let fresh = visitor.site.sessions.create(Step::Challenged {
                customer: customer.clone(),
                name: name.to_owned(),
                challenge: ledger.new_challenge(),
                attempts_left: SCA_ATTEMPTS,
            });
            let mut response = go("/inloggen/kaartlezer");
            response
                .headers_mut()
                .append(header::SET_COOKIE, session_cookie(Some(&fresh)));
            response
        }
        Err(_) => {
            let mut response = go("/inloggen?fout=1");
            response
                .headers_mut()
                .append(header::SET_COOKIE, session_cookie(None));
            response
        }
    }
}

/// Step 3, the card reader (class `scherm-kaartlezer`).
pub(crate) async fn card_reader_page(visitor: Visitor) -> Response {
    match visitor.session.as_ref().map(|(_, s)| &s.login) {
        Some(Step::Challenged {
            challenge,
            attempts_left,
            ..
        }) => card_reader_screen(&visitor, challenge, *attempts_left, None),
        Some(Step::LoggedIn { .. }) => go("/overzicht"),
        Some(Step::Identified { .. }) => go("/inloggen/wachtwoord"),
        _ => visitor.to_login(),
    }
}

fn card_reader_screen(
    visitor: &Visitor,
    challenge: &str,
    attempts_left: u32,
    message: Option<&str>,
) -> Response {
    let message = message.map(error).unwrap_or_default();
    login_screen(
        visitor,
        Step::Anonymous,
        "kaartlezer",
        "Bevestig met uw kaartlezer",
        |token| {
            format!(
                r#"{message}<ol class="uitleg"><li>Steek uw bankpas in de kaartlezer en druk op <b>LOGIN</b>.</li><li>Voer deze code in:</li></ol><div id="uitdaging" class="uitdaging">{}</div><p>Nog <span id="pogingen">{attempts_left}</span> poging(en).</p><form class="inlogstap" method="post" action="{BASE}/inloggen/kaartlezer"><input type="hidden" name="formtoken" value="{}"><div class="regel"><label for="respons">Respons van de kaartlezer</label><input id="respons" name="respons" type="text" inputmode="numeric" maxlength="8" autocomplete="one-time-code"></div><button class="knop" id="bevestigen" type="submit">Bevestigen</button></form>"#,
                escape(challenge),
                escape(token)
            )
        },
    )
}

/// Step 3 sent: the right response logs in; a wrong one gives a new challenge, three tries in all.
pub(crate) async fn card_reader(
    visitor: Visitor,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some((sid, session)) = &visitor.session else {
        return go("/inloggen?verlopen=1");
    };
    if let Err(response) = check_token(&session.csrf, &form, &visitor.frame) {
        return *response;
    }
    let Step::Challenged {
        customer,
        name,
        challenge,
        attempts_left,
    } = &session.login
    else {
        return go("/inloggen");
    };
    if crate::card_reader::card_reader_response(customer, challenge) == text(&form, "respons") {
        let step = Step::LoggedIn {
            customer: customer.clone(),
            name: name.clone(),
        };
        visitor.site.sessions.update(sid, |s| s.login = step);
        return go("/overzicht");
    }
    let left = attempts_left.saturating_sub(1);
    if left == 0 {
        visitor.site.sessions.remove(sid);
        let mut response = go("/inloggen?geblokkeerd=1");
        response
            .headers_mut()
            .append(header::SET_COOKIE, session_cookie(None));
        return response;
    }
    let fresh = visitor.site.shared.ledger.new_challenge();
    let step = Step::Challenged {
        customer: customer.clone(),
        name: name.clone(),
        challenge: fresh.clone(),
        attempts_left: left,
    };
    visitor.site.sessions.update(sid, |s| s.login = step);
    card_reader_screen(
        &visitor,
        &fresh,
        left,
        Some("De respons klopt niet. Hier is een nieuwe code."),
    )
}

/// Ends the session.
pub(crate) async fn logout(visitor: Visitor) -> Response {
    if let Some((sid, _)) = &visitor.session {
        visitor.site.sessions.remove(sid);
    }
    let mut response = go("/inloggen?uitgelogd=1");
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie(None));
    response
}
