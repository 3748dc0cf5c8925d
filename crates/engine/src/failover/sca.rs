//! The failover's side of strong customer authentication: an authorisation started on one channel is
//! chosen, answered and polled on that channel (the other does not know it), whatever the approach the
//! bank chose; a consent's SCA goes to the channel that made the consent. An ended authorisation
//! updates the journal's consent status and is forgotten.

use super::Failover;
use crate::BoxFuture;
use crate::bank::{Bank, BankError, BankResult, Channel, PsuContext};
use crate::model::{
    AuthorisationCode, AuthorisationId, ConsentId, ConsentStatus, PaymentStatus, ScaAnswer,
    ScaProgress, ScaStatus, ScaStep, ScaTarget,
};

impl Failover {
    /// Starts the signing of `target` on the channel that should: the consent's own, or along the
    /// route for a payment (the channel is remembered for the authorisation's later calls).
    pub(super) async fn sca_start(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaStep> {
        match target {
            ScaTarget::Consent(consent) => {
                let psu = &self.granted_for(psu, Some(consent))?;
                let step = self
                    .on_consent_channel(psu, consent, "authorisation", |bank| {
                        bank.start_authorisation(psu, target)
                    })
                    .await?;
                self.note_consent_step(psu, consent, &step).await;
                Ok(step)
            }
            ScaTarget::Payment(_) | ScaTarget::Cancellation(_) => {
                let (channel, started) = self
                    .through_route(
                        psu,
                        "authorisation",
                        |_| Ok(()),
                        |bank| bank.start_authorisation(psu, target),
                    )
                    .await?;
                let step = started?;
                if let Some(id) = step.authorisation_id() {
                    self.note_payment_authorisation(id, channel);
                }
                Ok(step)
            }
        }
    }

    /// Sends the customer's choice of method, on the authorisation's channel.
    pub(super) async fn sca_select(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        method: &str,
    ) -> BankResult<ScaStep> {
        match target {
            ScaTarget::Consent(consent) => {
                let psu = &self.granted_for(psu, Some(consent))?;
                let step = self
                    .on_consent_channel(psu, consent, "consent authorisation", |bank| {
                        bank.select_sca_method(psu, target, authorisation, method)
                    })
                    .await?;
                self.note_consent_step(psu, consent, &step).await;
                Ok(step)
            }
            ScaTarget::Payment(payment) | ScaTarget::Cancellation(payment) => {
                let (_, result) = self
                    .on_signing_channel(
                        psu,
                        authorisation,
                        format!("sign {}", payment.id),
                        |bank| bank.select_sca_method(psu, target, authorisation, method),
                    )
                    .await?;
                result
            }
        }
    }

    /// Where an authorisation stands, asked of the channel that started it.
    pub(super) async fn sca_progress(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
    ) -> BankResult<ScaProgress> {
        match target {
            ScaTarget::Consent(consent) => {
                let psu = &self.granted_for(psu, Some(consent))?;
                let progress = self
                    .on_consent_channel(psu, consent, "consent authorisation", |bank| {
                        bank.authorisation_status(psu, target, authorisation)
                    })
                    .await?;
                self.note_consent_sca(psu, consent, progress.status).await;
                Ok(progress)
            }
            ScaTarget::Payment(payment) | ScaTarget::Cancellation(payment) => {
                let (_, result) = self
                    .on_signing_channel(
                        psu,
                        authorisation,
                        format!("signing of {}", payment.id),
                        |bank| bank.authorisation_status(psu, target, authorisation),
                    )
                    .await?;
                let progress = result?;
                if progress.has_ended() {
                    self.forget_payment_authorisation(authorisation);
                }
                Ok(progress)
            }
        }
    }

    /// Sends the customer's answer to a challenge, on the authorisation's channel. Signing a payment
    /// is what moves money: an answer lost on the way is settled by asking the payment's status, never
    /// by signing again.
    pub(super) async fn sca_answer(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        answer: &ScaAnswer,
    ) -> BankResult<ScaStatus> {
        let payment = match target {
            ScaTarget::Consent(consent) => {
                let psu = &self.granted_for(psu, Some(consent))?;
                let status = self
                    .on_consent_channel(psu, consent, "consent authorisation", |bank| {
                        bank.authorise(psu, target, authorisation, answer)
                    })
                    .await?;
                self.note_consent_sca(psu, consent, status).await;
                return Ok(status);
            }
            ScaTarget::Payment(payment) | ScaTarget::Cancellation(payment) => payment,
        };
        let cancelling = matches!(target, ScaTarget::Cancellation(_));
        let (channel, result) = self
            .on_signing_channel(psu, authorisation, format!("sign {}", payment.id), |bank| {
                bank.authorise(psu, target, authorisation, answer)
            })
            .await?;
        let signed = match result {
            Err(error) if error.is_outcome_unknown() => {
                match self.payment_status(psu, payment).await {
                    // A cancellation's signature took effect exactly when the payment is cancelled.
                    Ok(PaymentStatus::Cancelled) if cancelling => Ok(ScaStatus::Finalised),
                    Ok(_) if cancelling => Err(BankError::Unavailable {
                        channel,
                        reason: format!(
                            "the cancellation's signature did not reach the bank ({error}); payment {} is not cancelled",
                            payment.id
                        ),
                    }),
                    Ok(PaymentStatus::Received) => Err(BankError::Unavailable {
                        channel,
                        reason: format!(
                            "the signature did not reach the bank ({error}); payment {} is still waiting for it",
                            payment.id
                        ),
                    }),
                    Ok(PaymentStatus::Rejected) => Ok(ScaStatus::Failed),
                    Ok(_) => Ok(ScaStatus::Finalised),
                    Err(_) => Err(error),
                }
            }
            other => other,
        };
        if let Ok(status) = signed {
            self.forget_if_ended(authorisation, status);
        }
        signed
    }

    /// Hands an OAuth2 authorization code to the channel that started the authorisation (the API: it
    /// keeps the PKCE verifier). Exchanging a code moves no money — the customer signed at the bank —
    /// so a failure is reported as it is.
    pub(super) async fn sca_exchange_code(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        code: &AuthorisationCode,
        state: &str,
    ) -> BankResult<ScaStatus> {
        match target {
            ScaTarget::Consent(consent) => {
                let psu = &self.granted_for(psu, Some(consent))?;
                let status = self
                    .on_consent_channel(psu, consent, "consent authorisation", |bank| {
                        bank.exchange_authorisation_code(psu, target, authorisation, code, state)
                    })
                    .await?;
                self.note_consent_sca(psu, consent, status).await;
                Ok(status)
            }
            ScaTarget::Payment(payment) | ScaTarget::Cancellation(payment) => {
                let (_, result) = self
                    .on_signing_channel(
                        psu,
                        authorisation,
                        format!("sign {}", payment.id),
                        |bank| {
                            bank.exchange_authorisation_code(
                                psu,
                                target,
                                authorisation,
                                code,
                                state,
                            )
                        },
                    )
                    .await?;
                let status = result?;
                self.forget_if_ended(authorisation, status);
                Ok(status)
            }
        }
    }

    /// Calls the channel that started a payment's or a cancellation's authorisation (along the route
    /// when that is not known, e.g. after a restart); `data` is what the access log says of it.
    async fn on_signing_channel<'a, T>(
        &'a self,
        psu: &PsuContext,
        authorisation: &AuthorisationId,
        data: String,
        call: impl Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<T>>,
    ) -> BankResult<(Channel, BankResult<T>)> {
        let channels = self.payment_authorisation_route(authorisation);
        self.through_channels(channels, psu, &data, |_| Ok(()), call)
            .await
    }

    /// Forgets a payment's or a cancellation's authorisation once its status has ended it.
    fn forget_if_ended(&self, authorisation: &AuthorisationId, status: ScaStatus) {
        if matches!(status, ScaStatus::Finalised | ScaStatus::Failed) {
            self.forget_payment_authorisation(authorisation);
        }
    }

    /// Keeps what an ended consent authorisation means for the consent (and, for a bank-offered
    /// one, the accounts the customer picked).
    async fn note_consent_sca(&self, psu: &PsuContext, consent: &ConsentId, status: ScaStatus) {
        match status {
            ScaStatus::Finalised | ScaStatus::Exempted => {
                self.note_consent_status(consent, ConsentStatus::Valid);
                self.note_offered_choice(psu, consent).await;
            }
            ScaStatus::Failed => self.note_consent_status(consent, ConsentStatus::Rejected),
            _ => {}
        }
    }

    /// Keeps a consent step that ended at once (an exempted or failed start).
    async fn note_consent_step(&self, psu: &PsuContext, consent: &ConsentId, step: &ScaStep) {
        if let ScaStep::Done { status, .. } = step {
            self.note_consent_sca(psu, consent, *status).await;
        }
    }
}
