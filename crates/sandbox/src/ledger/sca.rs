//! Strong customer authentication: challenges for the customer's card reader, checking the answer
//! (three tries), and what a finished authorisation does — a consent becomes valid, a payment is
//! accepted (an instant one settles at once), a failed one rejects what it was signing.

use std::time::Duration as StdDuration;

use tokio::time::Instant;

use super::book::{Authorisation, Book, PaymentState};
use super::bookkeeping::Ledger;
use super::error::{LedgerError, LedgerResult};
use crate::card_reader::card_reader_response;
use psd2_fallback_engine::model::{
    AuthorisationId, ConsentStatus, PaymentKind, PaymentRef, PaymentStatus, ScaApproach,
    ScaChallenge, ScaStatus, ScaTarget,
};

/// How many wrong answers to a challenge the bank accepts before the authorisation fails.
pub const SCA_ATTEMPTS: u32 = 3;

impl Ledger {
    /// A fresh eight-digit challenge for a card reader.
    pub fn new_challenge(&self) -> String {
        let mut book = self.book();
        let n = book.rng.next() % 100_000_000;
        format!("{n:08}")
    }

    /// Starts an authorisation of a consent or payment: checks the password, returns the challenge.
    pub fn start_authorisation(
        &self,
        customer: &str,
        target: ScaTarget,
        password: &str,
    ) -> LedgerResult<ScaChallenge> {
        self.log_in(customer, password)?;
        self.issue_challenge(customer, target)
    }

    /// A challenge for a consent or payment that is waiting for its signature.
    fn issue_challenge(&self, customer: &str, target: ScaTarget) -> LedgerResult<ScaChallenge> {
        let (id, challenge) = self.open_authorisation(customer, target, ScaApproach::Embedded)?;
        Ok(ScaChallenge {
            authorisation_id: id,
            method: "CHIP_OTP".to_owned(),
            data: challenge,
            instructions: "Insert your card in the card reader, press SIGN, type the challenge and then the response shown".to_owned(),
            valid_for: None,
        })
    }

    /// Opens an authorisation of a consent or payment that waits for its signature: its id and the
    /// challenge for the customer's card reader.
    pub(super) fn open_authorisation(
        &self,
        customer: &str,
        target: ScaTarget,
        approach: ScaApproach,
    ) -> LedgerResult<(AuthorisationId, String)> {
        let mut book = self.book();
        match &target {
            ScaTarget::Consent(id) => {
                let entry = book
                    .consents
                    .get(id)
                    .filter(|c| c.customer == customer)
                    .ok_or_else(|| LedgerError::NotFound {
                        what: "consent",
                        id: id.to_string(),
                    })?;
                if entry.consent.status != ConsentStatus::Received {
                    return Err(LedgerError::ConsentInvalid {
                        id: id.to_string(),
                        reason: format!("its status is {}", entry.consent.status.code()),
                    });
                }
            }
            ScaTarget::Payment(payment) => {
                let entry = book.payment(customer, &payment.id)?;
                if entry.status != PaymentStatus::Received {
                    return Err(LedgerError::WrongStatus {
                        id: payment.id.to_string(),
                        status: entry.status.code(),
                        reason: "only a received payment can be signed",
                    });
                }
            }
            ScaTarget::Cancellation(payment) => {
                let today = book.today;
                let entry = book.payment(customer, &payment.id)?;
                entry.check_cancellable(&payment.id, today)?;
                if !entry.cancel_requested {
                    return Err(LedgerError::WrongStatus {
                        id: payment.id.to_string(),
                        status: entry.status.code(),
                        reason: "no cancellation was asked for (DELETE the payment first)",
                    });
                }
            }
        }
        let id = AuthorisationId::new(book.fresh_id("auth"));
        let challenge = format!("{:08}", book.rng.next() % 100_000_000);
        book.authorisations.insert(
            id.clone(),
            Authorisation {
                customer: customer.to_owned(),
                target,
                challenge: challenge.clone(),
                status: match approach {
                    ScaApproach::Embedded => ScaStatus::ScaMethodSelected,
                    _ => ScaStatus::Started,
                },
                attempts_left: SCA_ATTEMPTS,
                approach,
                state: None,
                back: (None, None),
                expires_at: None,
                message: None,
            },
        );
        Ok((id, challenge))
    }

    /// The status of an authorisation, if it signs `target`.
    pub fn authorisation_status(
        &self,
        target: &ScaTarget,
        id: &AuthorisationId,
    ) -> LedgerResult<ScaStatus> {
        let book = self.book();
        book.authorisations
            .get(id)
            .filter(|a| &a.target == target)
            .map(|a| a.status)
            .ok_or_else(|| LedgerError::NotFound {
                what: "authorisation",
                id: id.to_string(),
            })
    }

    /// The authorisations of a consent or payment.
    pub fn authorisations(&self, target: &ScaTarget) -> Vec<AuthorisationId> {
        let book = self.book();
        let mut ids: Vec<AuthorisationId> = book
            .authorisations
            .iter()
            .filter(|(_, a)| &a.target == target)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Checks the customer's answer. When it is right the consent becomes valid, or the payment is
    /// accepted (`ACTC`; an instant payment settles at once, or is `RJCT` without funds).
    pub fn authorise(
        &self,
        customer: &str,
        target: &ScaTarget,
        id: &AuthorisationId,
        answer: &str,
    ) -> LedgerResult<ScaStatus> {
        let mut book = self.book();
        let auth = book
            .authorisations
            .get_mut(id)
            .filter(|a| a.customer == customer && &a.target == target)
            .ok_or_else(|| LedgerError::NotFound {
                what: "authorisation",
                id: id.to_string(),
            })?;
        if auth.status != ScaStatus::ScaMethodSelected || auth.approach != ScaApproach::Embedded {
            return Err(LedgerError::ScaClosed {
                id: id.to_string(),
                status: auth.status.code(),
            });
        }
        if card_reader_response(customer, &auth.challenge) != answer.trim() {
            auth.attempts_left -= 1;
            let attempts_left = auth.attempts_left;
            if attempts_left == 0 {
                auth.status = ScaStatus::Failed;
                let target = auth.target.clone();
                book.fail_target(&target);
            }
            return Err(LedgerError::ScaInvalid { attempts_left });
        }
        book.finalise(customer, id, self.settle_after)
    }

    /// Starts the signing of a payment, standing order or file by a customer already logged in to the
    /// website (so no password is asked again): checks the payment waits for a signature and returns
    /// the challenge for the card reader.
    pub fn start_signing(
        &self,
        customer: &str,
        payment: &PaymentRef,
    ) -> LedgerResult<ScaChallenge> {
        self.issue_challenge(customer, ScaTarget::Payment(payment.clone()))
    }
}

impl Book {
    /// Ends an authorisation well: the consent becomes valid, or the payment is accepted (`ACTC`; an
    /// instant payment settles at once, or is `RJCT` without funds).
    pub(super) fn finalise(
        &mut self,
        customer: &str,
        id: &AuthorisationId,
        settle_after: StdDuration,
    ) -> LedgerResult<ScaStatus> {
        let target = match self.authorisations.get(id) {
            Some(auth) => auth.target.clone(),
            None => {
                return Err(LedgerError::NotFound {
                    what: "authorisation",
                    id: id.to_string(),
                });
            }
        };
        if let ScaTarget::Cancellation(payment) = &target {
            // Too late (executed meanwhile): the authorisation fails and the payment stays as it is.
            let today = self.today;
            let cancelled = self
                .payment_mut(customer, &payment.id)?
                .cancel(&payment.id, today);
            if let Some(auth) = self.authorisations.get_mut(id) {
                auth.status = if cancelled.is_ok() {
                    ScaStatus::Finalised
                } else {
                    ScaStatus::Failed
                };
            }
            return cancelled.map(|_| ScaStatus::Finalised);
        }
        if let Some(auth) = self.authorisations.get_mut(id) {
            auth.status = ScaStatus::Finalised;
        }
        let now = Instant::now();
        match &target {
            ScaTarget::Consent(cid) => {
                // A bank-offered consent gets the accounts the customer ticks now.
                let chosen = self.offered_choice(customer);
                if let Some(entry) = self.consents.get_mut(cid) {
                    entry.consent.status = ConsentStatus::Valid;
                    let access = std::mem::take(&mut entry.consent.request.access);
                    entry.consent.request.access = access.with_choice(chosen);
                }
            }
            ScaTarget::Cancellation(_) => {}
            ScaTarget::Payment(payment) => {
                let entry = self.payment_mut(customer, &payment.id)?;
                if entry.status != PaymentStatus::Received {
                    return Err(LedgerError::WrongStatus {
                        id: payment.id.to_string(),
                        status: entry.status.code(),
                        reason: "only a received payment can be signed",
                    });
                }
                entry.status = PaymentStatus::AcceptedTechnical;
                entry.authorised_at = Some(now);
                if let PaymentState::File { statuses, .. } = &mut entry.state {
                    statuses.fill(PaymentStatus::AcceptedTechnical);
                }
                let instant = matches!(
                    entry.kind,
                    PaymentKind::Single(
                        psd2_fallback_engine::model::PaymentProduct::InstantSepaCreditTransfer
                    )
                );
                // Instant payments settle at once; the rest wait for the settlement delay.
                self.advance(
                    now,
                    if instant {
                        StdDuration::ZERO
                    } else {
                        settle_after
                    },
                );
                if instant {
                    self.settle_now(&payment.id);
                }
            }
        }
        Ok(ScaStatus::Finalised)
    }

    /// A failed authorisation rejects what it was signing.
    pub(super) fn fail_target(&mut self, target: &ScaTarget) {
        match target {
            ScaTarget::Consent(id) => {
                if let Some(entry) = self.consents.get_mut(id) {
                    entry.consent.status = ConsentStatus::Rejected;
                }
            }
            ScaTarget::Payment(payment) => {
                if let Some(entry) = self.payments.get_mut(&payment.id) {
                    entry.status = PaymentStatus::Rejected;
                    entry.reason = Some("signing failed: too many wrong answers".to_owned());
                }
            }
            // A refused cancellation leaves the payment as it was.
            ScaTarget::Cancellation(payment) => {
                if let Some(entry) = self.payments.get_mut(&payment.id) {
                    entry.cancel_requested = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::SCA_ATTEMPTS;
    use crate::ledger::error::LedgerError;
    use crate::ledger::testing::{ledger, payment};
    use psd2_fallback_engine::model::{PaymentStatus, ScaTarget};

    #[test]
    fn wrong_answers_fail_the_authorisation_and_reject_the_payment() {
        let ledger = ledger();
        let started = ledger
            .initiate_payment("1000002", payment(Decimal::ONE, None), None)
            .unwrap();
        let target = ScaTarget::Payment(started.payment.clone());
        let challenge = ledger
            .start_authorisation("1000002", target.clone(), "luc-sandbox")
            .unwrap();
        for left in (0..SCA_ATTEMPTS).rev() {
            let error = ledger
                .authorise("1000002", &target, &challenge.authorisation_id, "00000000")
                .unwrap_err();
            assert_eq!(
                error,
                LedgerError::ScaInvalid {
                    attempts_left: left
                }
            );
        }
        assert_eq!(
            ledger.payment_status_for_test("1000002", &started.payment.id),
            PaymentStatus::Rejected
        );
        assert_eq!(
            ledger
                .start_authorisation("1000002", target, "wrong")
                .unwrap_err(),
            LedgerError::CredentialsInvalid
        );
    }
}
