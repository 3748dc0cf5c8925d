//! Who asks, at which bank: the bank a path names (`/banks/{bank}/v1/…`, taken off before routing by
//! [`select_bank`]), and [`Ctx`], the extractor every XS2A handler starts from. `Ctx` checks in the
//! owner store that the caller owns the consent or payment a request names, and builds the customer
//! context the bank is called with.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use secrecy::SecretString;

use psd2_fallback_engine::bank::{Bank, PsuContext};
use psd2_fallback_engine::model::{PaymentId, PaymentRef, PsuId};
use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::ApiError;

use crate::auth::CallerName;
use crate::errors::{Result, ServiceError, owner_store_error};
use crate::owners::ResourceOwner;
use crate::state::{PasswordFor, PasswordKey, ServedBank, ServiceState, lock};
use tokio::time::Instant;

/// The bank a request names by its path prefix `/banks/{bank}`; absent for the first bank.
#[derive(Debug, Clone)]
struct BankPrefix(String);

/// Takes `/banks/{bank}` off the path (before routing) and remembers the bank.
pub(crate) fn select_bank(mut request: Request) -> Request {
    let path = request.uri().path();
    if let Some(rest) = path.strip_prefix("/banks/")
        && let Some((bank, tail)) = rest.split_once('/')
        && tail.starts_with("v1/")
    {
        let bank = bank.to_owned();
        let new = match request.uri().query() {
            Some(q) => format!("/{tail}?{q}"),
            None => format!("/{tail}"),
        };
        if let Ok(uri) = new.parse::<Uri>() {
            *request.uri_mut() = uri;
            request.extensions_mut().insert(BankPrefix(bank));
        }
    }
    request
}

/// A consent or payment of the calling caller (checked in the owner store): the customer it is for.
#[derive(Debug, Clone)]
pub(super) struct Owned {
    /// The customer the resource was made for.
    pub(super) psu: String,
}

/// Who asks, at which bank, and the path prefix of that bank for links.
pub(super) struct Ctx {
    /// The service.
    pub(super) state: ServiceState,
    /// The caller's name, as authenticated.
    pub(super) caller: String,
    /// The bank, as an index into the served banks.
    bank_index: usize,
    /// `/banks/{bank}`, or nothing for the first bank asked without a prefix: links start with it.
    pub(super) prefix: String,
}

impl FromRequestParts<ServiceState> for Ctx {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServiceState,
    ) -> std::result::Result<Self, Self::Rejection> {
        let caller = parts
            .extensions
            .get::<CallerName>()
            .map(|c| c.0.clone())
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "TOKEN_INVALID", "no caller"))?;
        let (bank_index, prefix) = match parts.extensions.get::<BankPrefix>() {
            Some(BankPrefix(name)) => (
                state
                    .inner
                    .banks
                    .iter()
                    .position(|b| &b.name == name)
                    .ok_or_else(|| ApiError::unknown(format!("no bank {name:?} is served")))?,
                format!("/banks/{name}"),
            ),
            None if state.inner.banks.is_empty() => {
                return Err(ApiError::unknown("no bank is served").into());
            }
            None => (0, String::new()),
        };
        Ok(Self {
            state: state.clone(),
            caller,
            bank_index,
            prefix,
        })
    }
}

impl Ctx {
    /// The bank asked.
    pub(super) fn bank(&self) -> &ServedBank {
        &self.state.inner.banks[self.bank_index]
    }

    /// The bank's failover, through which every operation goes.
    pub(super) fn failover(&self) -> &dyn Bank {
        &self.bank().failover
    }

    fn key(&self, what: PasswordFor) -> PasswordKey {
        (self.bank().name.clone(), self.caller.clone(), what)
    }

    /// The caller as the owner of a resource it makes for `psu`.
    pub(super) fn owner(&self, psu: String) -> ResourceOwner {
        ResourceOwner {
            caller: self.caller.clone(),
            psu,
        }
    }

    /// The customer context: the PSU, present when `PSU-IP-Address` is given, and the password this
    /// caller's own successful authorisation for this customer proved (for the website channel's
    /// calls that name no consent).
    pub(super) fn psu(&self, psu: &str, headers: &HeaderMap) -> PsuContext {
        let mut context = PsuContext::new(PsuId::new(psu));
        context.ip_address = xs2a::psu_ip(headers);
        context.password = self.kept_password(&PasswordFor::Customer(psu.to_owned()));
        context
    }

    /// A password kept for `what` of this caller, unless its time is over.
    fn kept_password(&self, what: &PasswordFor) -> Option<SecretString> {
        lock(&self.state.inner.passwords).kept(&self.key(what.clone()), Instant::now())
    }

    /// The password given to start an authorisation of `what`: used for that authorisation, kept
    /// apart until it succeeds ([`Ctx::password_proven`]); a kept password is not touched.
    pub(super) fn password_given(&self, what: PasswordFor, password: String) -> SecretString {
        let secret = SecretString::from(password);
        lock(&self.state.inner.passwords).given(self.key(what), secret.clone());
        secret
    }

    /// The password given for `what`'s authorisation (pending or kept).
    pub(super) fn password_for(&self, what: &PasswordFor) -> Option<SecretString> {
        lock(&self.state.inner.passwords).for_authorisation(&self.key(what.clone()), Instant::now())
    }

    /// `what`'s authorisation succeeded: its password is kept for it and for this caller's calls for
    /// `psu` that name no consent, until `until` (at most `PASSWORD_KEPT_AT_MOST` from now).
    pub(super) fn password_proven(&self, what: PasswordFor, psu: &str, until: Option<Instant>) {
        let customer = self.key(PasswordFor::Customer(psu.to_owned()));
        lock(&self.state.inner.passwords).proven(self.key(what), customer, until, Instant::now());
    }

    /// `what`'s authorisation failed: the password given for it is forgotten.
    pub(super) fn password_refused(&self, what: &PasswordFor) {
        lock(&self.state.inner.passwords).refused(&self.key(what.clone()));
    }

    /// A consent of this caller; another caller's consent does not exist for it.
    pub(super) fn consent(&self, id: &str) -> Result<Owned> {
        self.state
            .inner
            .owners
            .consent_owner(&self.bank().name, id)
            .map_err(owner_store_error)?
            .filter(|o| o.caller == self.caller)
            .map(|o| Owned { psu: o.psu })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "CONSENT_UNKNOWN",
                    "no such consent for this caller",
                )
                .into()
            })
    }

    /// The customer context of a read under the `Consent-ID` header's consent, with the password
    /// kept for that consent only.
    pub(super) fn consent_psu(&self, headers: &HeaderMap) -> Result<PsuContext> {
        let consent = xs2a::consent_id(headers)?;
        let owned = self.consent(consent.as_str())?;
        let mut context = PsuContext::new(PsuId::new(owned.psu));
        context.ip_address = xs2a::psu_ip(headers);
        context.password = self.kept_password(&PasswordFor::Consent(consent.as_str().to_owned()));
        Ok(context.with_consent(consent))
    }

    /// A payment resource of this caller, of the kind the path says.
    pub(super) fn payment(
        &self,
        service: &str,
        product: &str,
        id: &str,
    ) -> Result<(PaymentRef, Owned)> {
        let kind = xs2a::resource(service, product)?;
        let owned = self
            .state
            .inner
            .owners
            .payment_owner(&self.bank().name, id)
            .map_err(owner_store_error)?
            .filter(|(k, o)| o.caller == self.caller && *k == kind)
            .map(|(_, o)| Owned { psu: o.psu })
            .ok_or_else(|| ApiError::unknown(format!("no payment {id} for this caller")))?;
        Ok((
            PaymentRef {
                kind,
                id: PaymentId::new(id),
            },
            owned,
        ))
    }
}
