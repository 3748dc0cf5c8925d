//! Website logins that wait for the customer's approval in the banking app (for the customers who
//! confirm their logins there, [`crate::SandboxConfig::app_logins`]): the approval waits in the app
//! beside the decoupled authorisations of consents and payments, is approved or refused there, and
//! lapses after the bank's expiry. A login approval signs nothing: it only lets the website's session
//! in.

use std::time::Duration as StdDuration;

use tokio::time::Instant;

use super::approaches::{EXPIRED, REFUSED_IN_APP};
use super::book::{Book, LoginApproval};
use super::bookkeeping::Ledger;
use super::error::{LedgerError, LedgerResult};
use crate::card_reader::card_reader_response;
use psd2_fallback_engine::model::{AuthorisationId, ScaStatus};

fn unknown(id: &AuthorisationId) -> LedgerError {
    LedgerError::NotFound {
        what: "login approval",
        id: id.to_string(),
    }
}

impl Ledger {
    /// A login that waits in `customer`'s app until approved, refused or `expires_in` has passed.
    pub fn start_login_approval(&self, customer: &str, expires_in: StdDuration) -> AuthorisationId {
        let mut book = self.book();
        let id = AuthorisationId::new(book.fresh_id("login"));
        book.login_approvals.insert(
            id.clone(),
            LoginApproval {
                customer: customer.to_owned(),
                status: ScaStatus::Started,
                expires_at: Instant::now() + expires_in,
                message: None,
                redirect: None,
            },
        );
        id
    }

    /// A login that continues at the bank's own page (opened by the customer, e.g. on their phone):
    /// its id and the secret state the page's address carries. It waits until the customer answers
    /// the card reader there, cancels, or `expires_in` has passed.
    pub fn start_login_redirect(
        &self,
        customer: &str,
        expires_in: StdDuration,
    ) -> (AuthorisationId, String) {
        let id = self.start_login_approval(customer, expires_in);
        let state = uuid::Uuid::new_v4().simple().to_string();
        let challenge = self.new_challenge();
        let mut book = self.book();
        if let Some(approval) = book.login_approvals.get_mut(&id) {
            approval.redirect = Some((state.clone(), challenge));
        }
        (id, state)
    }

    /// The bank's login page: the customer and the challenge, when `state` is the login's and it
    /// still waits; any other state reads as an unknown login.
    pub fn login_redirect_challenge(
        &self,
        id: &AuthorisationId,
        state: &str,
    ) -> LedgerResult<(String, String)> {
        let mut book = self.book();
        book.lapse_logins(Instant::now());
        let approval = book
            .login_approvals
            .get(id)
            .filter(|a| a.redirect.as_ref().is_some_and(|(s, _)| s == state))
            .ok_or_else(|| unknown(id))?;
        if approval.status != ScaStatus::Started {
            return Err(LedgerError::ScaClosed {
                id: id.to_string(),
                status: approval.status.code(),
            });
        }
        let challenge = approval.redirect.as_ref().map(|(_, c)| c.clone());
        Ok((approval.customer.clone(), challenge.unwrap_or_default()))
    }

    /// The customer answers the card reader on the bank's login page (or cancels there): the login
    /// is let in, or fails. A wrong answer is refused and the login keeps waiting.
    pub fn login_redirect_confirm(
        &self,
        id: &AuthorisationId,
        state: &str,
        response: Option<&str>,
    ) -> LedgerResult<ScaStatus> {
        let (customer, challenge) = self.login_redirect_challenge(id, state)?;
        let mut book = self.book();
        let approval = book
            .login_approvals
            .get_mut(id)
            .ok_or_else(|| unknown(id))?;
        match response {
            None => {
                approval.status = ScaStatus::Failed;
                approval.message = Some(super::approaches::CANCELLED.to_owned());
            }
            Some(r) if card_reader_response(&customer, &challenge) == r.trim() => {
                approval.status = ScaStatus::Finalised;
            }
            Some(_) => return Err(LedgerError::ScaInvalid { attempts_left: 1 }),
        }
        Ok(approval.status)
    }

    /// Where `customer`'s login approval `id` stands, and the bank's words when it failed.
    pub fn login_approval(
        &self,
        customer: &str,
        id: &AuthorisationId,
    ) -> LedgerResult<(ScaStatus, Option<String>)> {
        let mut book = self.book();
        book.lapse_logins(Instant::now());
        book.login_approvals
            .get(id)
            .filter(|a| a.customer == customer)
            .map(|a| (a.status, a.message.clone()))
            .ok_or_else(|| unknown(id))
    }
}

impl Book {
    /// Fails every login approval whose time has run out.
    pub(super) fn lapse_logins(&mut self, now: Instant) {
        for approval in self.login_approvals.values_mut() {
            if approval.status == ScaStatus::Started && approval.expires_at <= now {
                approval.status = ScaStatus::Failed;
                approval.message = Some(EXPIRED.to_owned());
            }
        }
    }

    /// The logins waiting in `customer`'s app.
    pub(super) fn pending_logins(&self, customer: &str) -> Vec<AuthorisationId> {
        self.login_approvals
            .iter()
            .filter(|(_, a)| {
                a.customer == customer && a.status == ScaStatus::Started && a.redirect.is_none()
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Ends a login approval: approved, or refused in the app. `None` when `id` is no login of the
    /// customer's waiting.
    pub(super) fn decide_login(
        &mut self,
        customer: &str,
        id: &AuthorisationId,
        approve: bool,
    ) -> Option<ScaStatus> {
        let approval = self.login_approvals.get_mut(id).filter(|a| {
            a.customer == customer && a.status == ScaStatus::Started && a.redirect.is_none()
        })?;
        if approve {
            approval.status = ScaStatus::Finalised;
        } else {
            approval.status = ScaStatus::Failed;
            approval.message = Some(REFUSED_IN_APP.to_owned());
        }
        Some(approval.status)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::ledger::approaches::{EXPIRED, LOGIN_APPROVAL, REFUSED_IN_APP};
    use crate::ledger::testing::ledger;
    use psd2_fallback_engine::model::ScaStatus;

    /// A login waits in its customer's app only: approved there it is finalised; another customer
    /// cannot see or decide it.
    #[tokio::test(start_paused = true)]
    async fn a_login_waits_in_its_customers_app_and_is_approved_there() {
        let ledger = ledger();
        let id = ledger.start_login_approval("1000001", Duration::from_secs(60));
        let pending = ledger.app_pending("1000001");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].what, LOGIN_APPROVAL);
        assert!(ledger.app_pending("1000002").is_empty());
        assert!(ledger.app_decide("1000002", Some(&id), true).is_err());
        assert!(ledger.login_approval("1000002", &id).is_err());
        assert_eq!(
            ledger.app_decide("1000001", None, true).unwrap(),
            (id.clone(), ScaStatus::Finalised)
        );
        assert_eq!(
            ledger.login_approval("1000001", &id).unwrap(),
            (ScaStatus::Finalised, None)
        );
        assert!(ledger.app_pending("1000001").is_empty());
        assert!(ledger.app_decide("1000001", Some(&id), false).is_err());
    }

    /// Refused in the app, or not decided before the bank's expiry: failed, with the bank's words.
    #[tokio::test(start_paused = true)]
    async fn a_login_refused_or_lapsed_fails_with_the_banks_words() {
        let ledger = ledger();
        let refused = ledger.start_login_approval("1000001", Duration::from_secs(60));
        ledger.app_decide("1000001", Some(&refused), false).unwrap();
        assert_eq!(
            ledger.login_approval("1000001", &refused).unwrap(),
            (ScaStatus::Failed, Some(REFUSED_IN_APP.to_owned()))
        );
        let lapsing = ledger.start_login_approval("1000001", Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(
            ledger.login_approval("1000001", &lapsing).unwrap().0,
            ScaStatus::Started
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            ledger.login_approval("1000001", &lapsing).unwrap(),
            (ScaStatus::Failed, Some(EXPIRED.to_owned()))
        );
        assert!(ledger.app_pending("1000001").is_empty());
    }
}
