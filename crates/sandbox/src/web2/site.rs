//! What every page of the second website reaches — the bank (the state it shares with the API and the
//! first website) and its own sessions — and the extractors that hand a page its visitor or its
//! logged-in customer, with the form-token check.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use axum::http::StatusCode;

use super::page::{BASE, Frame, error_page, forbidden, refusal};
use super::session::{CONSENT_COOKIE, Drafts, Lookup, SESSION_COOKIE, Session, Sessions, Step};
use crate::ledger::{Ledger, LedgerResult};
use crate::markup::{cookie, url_encode};
use crate::state::Shared;
use psd2_fallback_engine::model::{Account, AccountId, PaymentInitiation};

/// The website: the bank and the sessions.
#[derive(Debug)]
pub(crate) struct Site {
    /// The ledger, the faults and the configuration shared with the API and the first website.
    pub(crate) shared: Arc<Shared>,
    /// This website's visitors.
    pub(crate) sessions: Sessions,
}

impl Site {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let idle = shared.config.session_idle;
        Self {
            shared,
            sessions: Sessions::new(idle, SESSION_COOKIE),
        }
    }
}

/// A redirect to a path of the website.
pub(crate) fn go(path: &str) -> Response {
    Redirect::to(&format!("{BASE}{path}")).into_response()
}

/// Any visitor: the session if there is one, and whether the cookie wall is up.
#[derive(Debug)]
pub(crate) struct Visitor {
    pub(crate) site: Arc<Site>,
    pub(crate) session: Option<(String, Session)>,
    /// Whether the request named a session that has ended.
    pub(crate) expired: bool,
    pub(crate) frame: Frame,
}

impl FromRequestParts<Arc<Site>> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        site: &Arc<Site>,
    ) -> Result<Self, Self::Rejection> {
        let (session, expired) = match site.sessions.lookup(&parts.headers) {
            Lookup::None => (None, false),
            Lookup::Expired => (None, true),
            Lookup::Live(id, session) => (Some((id, *session)), false),
        };
        let name = match session.as_ref().map(|(_, s)| &s.login) {
            Some(Step::LoggedIn { name, .. }) => Some(name.clone()),
            _ => None,
        };
        let frame = Frame {
            name,
            token: session.as_ref().map(|(_, s)| s.csrf.clone()),
            wall: cookie(&parts.headers, CONSENT_COOKIE).is_none(),
            path: parts.uri.path().to_owned(),
        };
        Ok(Visitor {
            site: site.clone(),
            session,
            expired,
            frame,
        })
    }
}

impl Visitor {
    /// Where a visitor without a live session starts: the first login step, saying when the
    /// session ran out.
    pub(crate) fn to_login(&self) -> Response {
        go(if self.expired {
            "/inloggen?verlopen=1"
        } else {
            "/inloggen"
        })
    }
}

/// A logged-in customer; anyone else goes to the login step they are at.
#[derive(Debug)]
pub(crate) struct Customer {
    pub(crate) site: Arc<Site>,
    pub(crate) sid: String,
    /// The customer number.
    pub(crate) number: String,
    pub(crate) session: Session,
    pub(crate) frame: Frame,
}

impl FromRequestParts<Arc<Site>> for Customer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        site: &Arc<Site>,
    ) -> Result<Self, Self::Rejection> {
        let visitor = match Visitor::from_request_parts(parts, site).await {
            Ok(v) => v,
            Err(never) => match never {},
        };
        let Some((sid, session)) = visitor.session.clone() else {
            return Err(visitor.to_login());
        };
        match &session.login {
            Step::LoggedIn { customer, .. } => Ok(Customer {
                site: visitor.site,
                sid,
                number: customer.clone(),
                session,
                frame: visitor.frame,
            }),
            Step::Challenged { .. } => Err(go("/inloggen/kaartlezer")),
            Step::Identified { .. } => Err(go("/inloggen/wachtwoord")),
            Step::Anonymous => Err(go("/inloggen")),
        }
    }
}

impl Customer {
    /// Refuses a form whose token is not this session's.
    pub(crate) fn check(&self, form: &HashMap<String, String>) -> Result<(), Box<Response>> {
        check_token(&self.session.csrf, form, &self.frame)
    }

    /// One of this customer's accounts, or the error page (`404`) for any other.
    pub(crate) fn account(&self, id: &AccountId) -> Result<Account, Box<Response>> {
        self.site
            .shared
            .ledger
            .account(&self.number, id)
            .map_err(|e| {
                Box::new(error_page(
                    &self.frame,
                    StatusCode::NOT_FOUND,
                    &refusal(&e),
                    "/overzicht",
                ))
            })
    }

    /// Changes this customer's session.
    pub(crate) fn change<T>(&self, change: impl FnOnce(&mut Session) -> T) -> Option<T> {
        self.site.sessions.update(&self.sid, change)
    }
}

/// Where a draft lives in a session's drafts.
pub(crate) type DraftSlot<T> = fn(&mut Drafts) -> &mut Option<(String, T)>;

impl Customer {
    /// A read-back's form sent: `confirm` (the button's value) records the draft once through
    /// `record` — its draft id is the ledger's request id, so a second "Bevestigen" finds no draft —
    /// and goes to signing; any other button drops the draft and goes back to `back`.
    pub(crate) fn confirm_draft<T: Clone>(
        &self,
        form: &HashMap<String, String>,
        confirm: &str,
        slot: DraftSlot<T>,
        back: &str,
        record: impl FnOnce(&Ledger, &str, T, &str) -> LedgerResult<PaymentInitiation>,
    ) -> Response {
        if let Err(response) = self.check(form) {
            return *response;
        }
        let Some((draft, request)) = slot(&mut self.session.drafts.clone()).clone() else {
            return go(back);
        };
        if text(form, "actie") != confirm {
            self.change(|s| *slot(&mut s.drafts) = None);
            return go(back);
        }
        match record(&self.site.shared.ledger, &self.number, request, &draft) {
            Ok(made) => {
                self.change(|s| *slot(&mut s.drafts) = None);
                go(&format!(
                    "/opdrachten/{}/ondertekenen",
                    url_encode(made.payment.id.as_str())
                ))
            }
            Err(e) => error_page(
                &self.frame,
                StatusCode::UNPROCESSABLE_ENTITY,
                &refusal(&e),
                back,
            ),
        }
    }
}

/// Refuses a form whose `formtoken` is not the session's.
pub(crate) fn check_token(
    expected: &str,
    form: &HashMap<String, String>,
    frame: &Frame,
) -> Result<(), Box<Response>> {
    if form.get("formtoken").map(String::as_str) == Some(expected) {
        Ok(())
    } else {
        Err(Box::new(forbidden(frame)))
    }
}

/// A form's value, trimmed, empty when absent.
pub(crate) fn text<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(|v| v.trim()).unwrap_or("")
}
