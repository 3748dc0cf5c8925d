//! The SCA approaches beyond embedded: a redirect to the bank's own page (its URL carries a secret
//! state; the customer logs in and answers the card reader there, then returns to the TPP's redirect
//! URI), and a decoupled approval in the bank's app (the customer approves or refuses; it lapses after
//! a while). Either ends as an embedded one does: the consent becomes valid or the payment is accepted,
//! or what it was signing is rejected.

use std::time::Duration as StdDuration;

use tokio::time::Instant;

use super::book::Book;
use super::bookkeeping::Ledger;
use super::error::{LedgerError, LedgerResult};
use crate::card_reader::card_reader_response;
use psd2_fallback_engine::model::{
    AuthorisationId, ConsentStatus, PaymentStatus, ScaApproach, ScaStatus, ScaTarget,
};

/// What the bank says when a decoupled approval is refused in the app.
pub const REFUSED_IN_APP: &str = "the customer refused in the banking app";
/// What the app shows for a login waiting in it.
pub const LOGIN_APPROVAL: &str = "login to online banking";

/// What the bank says when an approval lapsed.
pub const EXPIRED: &str = "the approval expired before the customer gave it";
/// What the bank says when the customer cancelled on the bank's page.
pub const CANCELLED: &str = "the customer cancelled at the bank";

/// The id of the card-reader method, when the bank offers a choice.
pub const CARD_READER: &str = "card-reader";
/// The id of the banking-app method, when the bank offers a choice.
pub const APP: &str = "app";
/// The methods offered when the bank offers a choice: (id, `authenticationType`, name).
pub const METHODS: [(&str, &str, &str); 2] = [
    (CARD_READER, "CHIP_OTP", "Card reader"),
    (APP, "PUSH_OTP", "Banking app"),
];

/// What choosing a method led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodChosen {
    /// The card reader's challenge, to be answered.
    Challenge(String),
    /// An approval waiting in the app (decoupled).
    App,
}

/// A decoupled approval waiting in a customer's app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingApproval {
    /// The authorisation.
    pub id: AuthorisationId,
    /// What it signs, in words (`consent …`, `payment …`).
    pub what: String,
}

/// How a redirect ended: its status and where the customer's browser goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectEnd {
    /// `finalised` or `failed`.
    pub status: ScaStatus,
    /// The TPP's redirect URI for that outcome, if it gave one.
    pub back: Option<String>,
}

fn unknown(id: &AuthorisationId) -> LedgerError {
    LedgerError::NotFound {
        what: "authorisation",
        id: id.to_string(),
    }
}

impl Ledger {
    /// Starts a redirect authorisation: its id and the secret state its page URL carries. `back` is
    /// where the browser returns (when it succeeded, when it failed).
    pub fn start_redirect(
        &self,
        customer: &str,
        target: ScaTarget,
        back: (Option<String>, Option<String>),
        expires_in: StdDuration,
    ) -> LedgerResult<(AuthorisationId, String)> {
        let (id, _) = self.open_authorisation(customer, target, ScaApproach::Redirect)?;
        let state = uuid::Uuid::new_v4().simple().to_string();
        let mut book = self.book();
        if let Some(auth) = book.authorisations.get_mut(&id) {
            auth.state = Some(state.clone());
            auth.back = back;
            auth.expires_at = Some(Instant::now() + expires_in);
        }
        Ok((id, state))
    }

    /// Starts a decoupled authorisation: an approval waits in the customer's app until `expires_in`.
    pub fn start_decoupled(
        &self,
        customer: &str,
        target: ScaTarget,
        expires_in: StdDuration,
    ) -> LedgerResult<AuthorisationId> {
        let (id, _) = self.open_authorisation(customer, target, ScaApproach::Decoupled)?;
        let mut book = self.book();
        if let Some(auth) = book.authorisations.get_mut(&id) {
            auth.expires_at = Some(Instant::now() + expires_in);
        }
        Ok(id)
    }

    /// Starts an embedded authorisation that offers a choice of method ([`METHODS`]): the password is
    /// checked, and the authorisation waits for the choice (`psuAuthenticated`).
    pub fn start_with_choice(
        &self,
        customer: &str,
        target: ScaTarget,
        password: &str,
    ) -> LedgerResult<AuthorisationId> {
        self.log_in(customer, password)?;
        let (id, _) = self.open_authorisation(customer, target, ScaApproach::Embedded)?;
        let mut book = self.book();
        if let Some(auth) = book.authorisations.get_mut(&id) {
            auth.status = ScaStatus::PsuAuthenticated;
        }
        Ok(id)
    }

    /// The customer's choice of method: the card reader gives the challenge (the approach stays
    /// embedded), the app makes the authorisation decoupled (it waits in the app until `expires_in`).
    pub fn select_method(
        &self,
        customer: &str,
        target: &ScaTarget,
        id: &AuthorisationId,
        method: &str,
        expires_in: StdDuration,
    ) -> LedgerResult<MethodChosen> {
        let mut book = self.book();
        let auth = book
            .authorisations
            .get_mut(id)
            .filter(|a| a.customer == customer && &a.target == target)
            .ok_or_else(|| unknown(id))?;
        if auth.status != ScaStatus::PsuAuthenticated {
            return Err(LedgerError::ScaClosed {
                id: id.to_string(),
                status: auth.status.code(),
            });
        }
        match method {
            CARD_READER => {
                auth.status = ScaStatus::ScaMethodSelected;
                Ok(MethodChosen::Challenge(auth.challenge.clone()))
            }
            APP => {
                auth.status = ScaStatus::Started;
                auth.approach = ScaApproach::Decoupled;
                auth.expires_at = Some(Instant::now() + expires_in);
                Ok(MethodChosen::App)
            }
            other => Err(LedgerError::Invalid(
                psd2_fallback_engine::model::InvalidValue::new(
                    "authenticationMethodId",
                    format!("{other:?} is not offered: {CARD_READER} or {APP}"),
                ),
            )),
        }
    }

    /// The redirect page's customer and challenge, when `state` is the authorisation's and it still
    /// waits; any other state reads as an unknown authorisation.
    pub fn redirect_challenge(
        &self,
        id: &AuthorisationId,
        state: &str,
    ) -> LedgerResult<(String, String)> {
        let mut book = self.book();
        book.lapse(Instant::now());
        let auth = book
            .authorisations
            .get(id)
            .filter(|a| a.approach == ScaApproach::Redirect && a.state.as_deref() == Some(state))
            .ok_or_else(|| unknown(id))?;
        if auth.status != ScaStatus::Started {
            return Err(LedgerError::ScaClosed {
                id: id.to_string(),
                status: auth.status.code(),
            });
        }
        Ok((auth.customer.clone(), auth.challenge.clone()))
    }

    /// The customer logs in and answers the card reader on the bank's redirect page. A wrong answer
    /// costs one of the attempts; the last one fails the authorisation (and rejects what it signs).
    pub fn redirect_confirm(
        &self,
        id: &AuthorisationId,
        state: &str,
        password: &str,
        response: &str,
    ) -> LedgerResult<RedirectEnd> {
        let (customer, challenge) = self.redirect_challenge(id, state)?;
        self.log_in(&customer, password)?;
        let mut book = self.book();
        let auth = book.authorisations.get_mut(id).ok_or_else(|| unknown(id))?;
        let back = auth.back.clone();
        if card_reader_response(&customer, &challenge) != response.trim() {
            auth.attempts_left = auth.attempts_left.saturating_sub(1);
            if auth.attempts_left > 0 {
                return Err(LedgerError::ScaInvalid {
                    attempts_left: auth.attempts_left,
                });
            }
            auth.status = ScaStatus::Failed;
            let target = auth.target.clone();
            book.fail_target(&target);
            return Ok(RedirectEnd {
                status: ScaStatus::Failed,
                back: back.1,
            });
        }
        let status = book.finalise(&customer, id, self.settle_after)?;
        Ok(RedirectEnd {
            status,
            back: back.0,
        })
    }

    /// The customer cancels on the bank's redirect page: the authorisation fails.
    pub fn redirect_cancel(&self, id: &AuthorisationId, state: &str) -> LedgerResult<RedirectEnd> {
        self.redirect_challenge(id, state)?;
        let mut book = self.book();
        let back = book.end_failed(id, CANCELLED)?;
        Ok(RedirectEnd {
            status: ScaStatus::Failed,
            back: back.1,
        })
    }

    /// The decoupled approvals waiting in `customer`'s app (website logins among them), oldest first.
    pub fn app_pending(&self, customer: &str) -> Vec<PendingApproval> {
        let mut book = self.book();
        book.lapse(Instant::now());
        book.lapse_logins(Instant::now());
        let logins = book
            .pending_logins(customer)
            .into_iter()
            .map(|id| PendingApproval {
                id,
                what: LOGIN_APPROVAL.to_owned(),
            });
        let mut pending: Vec<PendingApproval> = book
            .authorisations
            .iter()
            .filter(|(_, a)| {
                a.customer == customer
                    && a.approach == ScaApproach::Decoupled
                    && a.status == ScaStatus::Started
            })
            .map(|(id, a)| PendingApproval {
                id: id.clone(),
                what: match &a.target {
                    ScaTarget::Consent(c) => format!("consent {c}"),
                    ScaTarget::Payment(p) => format!("payment {}", p.id),
                    ScaTarget::Cancellation(p) => format!("cancellation of payment {}", p.id),
                },
            })
            .collect();
        pending.extend(logins);
        pending.sort_by(|a, b| a.id.cmp(&b.id));
        pending
    }

    /// The customer approves (or refuses) in the app: the authorisation `id`, or the only one
    /// waiting when none is named (two or more waiting and none named is refused, naming them).
    pub fn app_decide(
        &self,
        customer: &str,
        id: Option<&AuthorisationId>,
        approve: bool,
    ) -> LedgerResult<(AuthorisationId, ScaStatus)> {
        let pending = self.app_pending(customer);
        let id = match id {
            Some(id) => pending
                .iter()
                .find(|p| &p.id == id)
                .map(|p| p.id.clone())
                .ok_or_else(|| unknown(id))?,
            None => match pending.as_slice() {
                [only] => only.id.clone(),
                [] => {
                    return Err(LedgerError::NotFound {
                        what: "approval waiting in the app of customer",
                        id: customer.to_owned(),
                    });
                }
                more => {
                    return Err(LedgerError::Invalid(
                        psd2_fallback_engine::model::InvalidValue::new(
                            "authorisation",
                            format!(
                                "{} approvals wait; name one of {}",
                                more.len(),
                                more.iter()
                                    .map(|p| p.id.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    ));
                }
            },
        };
        let mut book = self.book();
        if let Some(status) = book.decide_login(customer, &id, approve) {
            return Ok((id, status));
        }
        if approve {
            let status = book.finalise(customer, &id, self.settle_after)?;
            Ok((id, status))
        } else {
            book.end_failed(&id, REFUSED_IN_APP)?;
            Ok((id, ScaStatus::Failed))
        }
    }

    /// An authorisation's status and what the bank says about how it ended, if it signs `target`.
    pub fn authorisation_progress(
        &self,
        target: &ScaTarget,
        id: &AuthorisationId,
    ) -> LedgerResult<(ScaStatus, Option<String>)> {
        let mut book = self.book();
        book.lapse(Instant::now());
        book.authorisations
            .get(id)
            .filter(|a| &a.target == target)
            .map(|a| (a.status, a.message.clone()))
            .ok_or_else(|| unknown(id))
    }
}

impl Book {
    /// Fails every redirect or decoupled authorisation whose time has run out.
    pub(super) fn lapse(&mut self, now: Instant) {
        let lapsed: Vec<AuthorisationId> = self
            .authorisations
            .iter()
            .filter(|(_, a)| {
                a.status == ScaStatus::Started && a.expires_at.is_some_and(|at| at <= now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in lapsed {
            // Known to exist: just listed.
            let _ = self.end_failed(&id, EXPIRED);
        }
    }

    /// Ends an authorisation as failed, with the bank's words, rejecting what it signs; returns where
    /// a redirect would have returned.
    fn end_failed(
        &mut self,
        id: &AuthorisationId,
        message: &str,
    ) -> LedgerResult<(Option<String>, Option<String>)> {
        let auth = self.authorisations.get_mut(id).ok_or_else(|| unknown(id))?;
        auth.status = ScaStatus::Failed;
        auth.message = Some(message.to_owned());
        let back = auth.back.clone();
        let target = auth.target.clone();
        match &target {
            ScaTarget::Consent(c) => {
                if let Some(entry) = self.consents.get_mut(c) {
                    entry.consent.status = ConsentStatus::Rejected;
                }
            }
            ScaTarget::Payment(p) => {
                if let Some(entry) = self.payments.get_mut(&p.id) {
                    entry.status = PaymentStatus::Rejected;
                    entry.reason = Some(format!("signing failed: {message}"));
                }
            }
            // A refused cancellation leaves the payment as it was.
            ScaTarget::Cancellation(p) => {
                if let Some(entry) = self.payments.get_mut(&p.id) {
                    entry.cancel_requested = false;
                }
            }
        }
        Ok(back)
    }
}
