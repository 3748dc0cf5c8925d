//! The extractors that hand a page its visitor or its logged-in customer (sending anyone else to the
//! login page), and the CSRF check every form goes through.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::html::{Chrome, Field, FormData, Layout};
use super::page::forbidden;
use super::session::{Login, Lookup, Session, cookie};
use super::site::Web;

/// Any visitor of a page: the layout, the banner, and the session if there is one.
#[derive(Debug)]
pub(crate) struct Visitor {
    pub(crate) web: Arc<Web>,
    pub(crate) layout: Layout,
    /// Whether the cookie banner must be shown.
    pub(crate) banner: bool,
    /// The live session, if any.
    pub(crate) session: Option<(String, Box<Session>)>,
    /// Whether the request carried a session cookie that is no longer valid.
    pub(crate) expired: bool,
    pub(crate) path: String,
}

impl FromRequestParts<Arc<Web>> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        web: &Arc<Web>,
    ) -> Result<Self, Self::Rejection> {
        let (session, expired) = match web.sessions.lookup(&parts.headers) {
            Lookup::None => (None, false),
            Lookup::Expired => (None, true),
            Lookup::Live(id, session) => (Some((id, session)), false),
        };
        Ok(Visitor {
            web: web.clone(),
            layout: web.layout(),
            banner: cookie(&parts.headers, "cookies").as_deref() != Some("accepted"),
            session,
            expired,
            path: parts.uri.path().to_owned(),
        })
    }
}

impl Visitor {
    /// The page shell for this visitor (not logged in).
    pub(crate) fn chrome(&self) -> Chrome {
        Chrome {
            layout: self.layout,
            customer: None,
            csrf: self.session.as_ref().map(|(_, s)| s.csrf.clone()),
            banner: self.banner,
            path: self.path.clone(),
        }
    }
}

/// A logged-in customer; any other visitor is sent to the login page (with "session expired" when
/// their session ran out).
#[derive(Debug)]
pub(crate) struct Customer {
    pub(crate) web: Arc<Web>,
    pub(crate) sid: String,
    pub(crate) customer: String,
    pub(crate) session: Box<Session>,
    pub(crate) chrome: Chrome,
}

impl FromRequestParts<Arc<Web>> for Customer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        web: &Arc<Web>,
    ) -> Result<Self, Self::Rejection> {
        let visitor = match Visitor::from_request_parts(parts, web).await {
            Ok(v) => v,
            Err(never) => match never {},
        };
        let Some((sid, session)) = visitor.session else {
            let to = if visitor.expired {
                "/login?expired=1"
            } else {
                "/login"
            };
            return Err(Redirect::to(to).into_response());
        };
        let (customer, name) = match &session.login {
            Login::Authenticated { customer, name } => (customer.clone(), name.clone()),
            Login::Challenged { .. } => return Err(Redirect::to("/sca").into_response()),
            Login::AwaitingApp { .. } => return Err(Redirect::to("/login/app").into_response()),
            Login::ChoosingMethod { .. } => {
                return Err(Redirect::to("/login/method").into_response());
            }
            Login::Anonymous => return Err(Redirect::to("/login").into_response()),
        };
        let chrome = Chrome {
            layout: visitor.layout,
            customer: Some(name),
            csrf: Some(session.csrf.clone()),
            banner: visitor.banner,
            path: visitor.path,
        };
        Ok(Customer {
            web: visitor.web,
            sid,
            customer,
            session,
            chrome,
        })
    }
}

impl Customer {
    /// The layout in force.
    pub(crate) fn layout(&self) -> Layout {
        self.chrome.layout
    }

    /// The session's CSRF token.
    pub(crate) fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// Refuses a form whose CSRF token is not this session's, with the `403` page.
    pub(crate) fn check(&self, form: &FormData) -> Result<(), Box<Response>> {
        check_csrf(&self.session.csrf, form, &self.chrome)
    }

    /// Changes this customer's session.
    pub(crate) fn update<T>(&self, change: impl FnOnce(&mut Session) -> T) -> Option<T> {
        self.web.sessions.update(&self.sid, change)
    }
}

/// Refuses a form whose CSRF token is not the session's.
pub(crate) fn check_csrf(
    expected: &str,
    form: &FormData,
    chrome: &Chrome,
) -> Result<(), Box<Response>> {
    if form.get(Field::Csrf) == expected {
        Ok(())
    } else {
        Err(Box::new(forbidden(chrome)))
    }
}
