//! The route a call takes: the active channel first and, when it is unavailable, the other, with
//! health told of every API outcome and every use of the website logged.

use tokio::time::Instant;

use super::{Failover, Step};
use crate::BoxFuture;
use crate::bank::{Bank, BankError, BankResult, Channel, PsuContext};
use crate::model::{Cancellation, PaymentRef};

impl Failover {
    /// Serves one call through the route: the active channel first and, when it is *unavailable*, the
    /// other within the same call. Every API outcome is reported to health; every use of the website is
    /// logged with `data` and the switch that justified it (RTS Art. 33(5)); `step` hears of each
    /// attempt and may stop the call with an error (a write's journal). Returns the first result that is
    /// not *unavailable* (an answer, a rejection, an outcome unknown…) with the channel that gave it;
    /// when every channel was unavailable, the last error (`FallbackExempt` for an exempt bank).
    pub(super) async fn through_route<'a, T>(
        &'a self,
        psu: &PsuContext,
        data: &str,
        step: impl FnMut(Step<'_>) -> BankResult<()>,
        call: impl Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<T>>,
    ) -> BankResult<(Channel, BankResult<T>)> {
        self.through_channels(self.route(), psu, data, step, call)
            .await
    }

    /// [`Failover::through_route`] along `channels` instead of the route.
    pub(super) async fn through_channels<'a, T>(
        &'a self,
        channels: Vec<Channel>,
        psu: &PsuContext,
        data: &str,
        step: impl FnMut(Step<'_>) -> BankResult<()>,
        call: impl Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<T>>,
    ) -> BankResult<(Channel, BankResult<T>)> {
        self.along(channels, Repeat::Unsafe, psu, data, step, call)
            .await
    }

    /// The walk along `channels` behind [`Failover::through_channels`] and [`Failover::read`].
    async fn along<'a, T>(
        &'a self,
        channels: Vec<Channel>,
        repeat: Repeat,
        psu: &PsuContext,
        data: &str,
        mut step: impl FnMut(Step<'_>) -> BankResult<()>,
        call: impl Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<T>>,
    ) -> BankResult<(Channel, BankResult<T>)> {
        let mut last = None;
        // A website that needs the customer to log in again (or to approve its login in the app):
        // the other channel may serve; if none does, that is what the caller hears.
        let mut reauthenticate = None;
        // A read the website could not serve (its pages no longer match the map, or the map declares
        // the screen absent): the other channel may serve it; if none does, the caller hears the
        // website's reason, which says what to mend.
        let mut unserved = None;
        for channel in channels {
            step(Step::Sending(channel))?;
            if channel == Channel::Screen {
                self.log_access(psu, data).await;
            }
            let started = Instant::now();
            let result = call(self.bank(channel)).await;
            self.observe(channel, started, &result);
            match result {
                Err(error) if error.triggers_switch() => {
                    tracing::info!(bank = %self.config.bank, %channel, class = error.class(), %error, "not served; trying the other channel");
                    step(Step::Unavailable(channel, &error))?;
                    last = Some(error);
                }
                Err(
                    error @ (BankError::ReauthenticationRequired { .. }
                    | BankError::ApprovalPending { .. }),
                ) => {
                    step(Step::Unavailable(channel, &error))?;
                    reauthenticate = Some(error);
                }
                Err(BankError::Rejected { code, message })
                    if channel == Channel::Api && code == "CONSENT_UNKNOWN" =>
                {
                    return Ok((channel, Err(self.unknown_to_api(psu, code, message))));
                }
                Err(error @ (BankError::ScreenChanged { .. } | BankError::NotSupported { .. }))
                    if repeat == Repeat::Harmless && channel == Channel::Screen =>
                {
                    tracing::info!(bank = %self.config.bank, %channel, class = error.class(), %error, "the website cannot serve this read; trying the other channel");
                    unserved = Some(error);
                }
                other => return Ok((channel, other)),
            }
        }
        if let Some(error) = reauthenticate.or(unserved) {
            return Err(error);
        }
        Err(self.exempt_error(last.expect("a route has at least one channel")))
    }

    /// The API's `CONSENT_UNKNOWN` for a consent this engine holds as valid for the customer: as a
    /// rule one made and signed on the bank's website while the API was down, which the bank's API
    /// never heard of (the same after a restart: the journal's record is what is held).
    /// The website may serve only until the API is restored (RTS Art. 33(4)), so the consent is not
    /// served there any longer: the caller hears plainly that the customer must consent again
    /// through the API (`ReauthenticationRequired`), and a `consent_unknown_to_api` event is logged.
    /// Any other `CONSENT_UNKNOWN` is the bank's answer, unchanged.
    fn unknown_to_api(&self, psu: &PsuContext, code: String, message: String) -> BankError {
        let held = psu.grant.as_ref().is_some_and(|grant| {
            grant.status == crate::model::ConsentStatus::Valid
                && psu.consent_id.as_ref().is_none_or(|id| id == &grant.id)
        });
        if !held {
            return BankError::Rejected { code, message };
        }
        tracing::warn!(
            event = "consent_unknown_to_api",
            bank = %self.config.bank,
            customer = ?psu.psu_id,
            "a consent made on the website while the API was down is unknown to the API"
        );
        BankError::ReauthenticationRequired {
            reason: "the bank's API does not know this consent: it was given on the bank's website                      while the API was down, and the website serves only until the API is back                      (ask the customer for a new consent through the API)"
                .to_owned(),
        }
    }

    /// A read (or a call as harmless to repeat) through the route: see [`Failover::through_route`].
    pub(super) async fn read<'a, T>(
        &'a self,
        psu: &PsuContext,
        data: &str,
        call: impl Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<T>>,
    ) -> BankResult<T> {
        let read = self
            .along(self.route(), Repeat::Harmless, psu, data, |_| Ok(()), call)
            .await?
            .1;
        if read.is_ok()
            && let Some(warm) = &self.warm
        {
            warm.seen(psu);
        }
        read
    }
}

/// Whether a call may be repeated on the other channel after the website failed it for a reason
/// other than unavailability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// A read: nothing changes at the bank, so a website whose pages no longer match its map (or
    /// that lacks the screen) leaves the call to the API, which may be back already.
    Harmless,
    /// A write or an SCA step: only what surely sent nothing (`triggers_switch`) goes on.
    Unsafe,
}

impl Failover {
    /// Cancels through the route; a cancellation of unknown outcome is settled by the payment's status
    /// (a bank that wanted it authorised is asked again when the caller repeats the cancellation).
    pub(super) async fn cancel(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
        standing_order: bool,
    ) -> BankResult<Cancellation> {
        let (_, result) = self
            .through_route(
                psu,
                &format!("cancel {}", payment.id),
                |_| Ok(()),
                |bank| {
                    if standing_order {
                        bank.cancel_standing_order(psu, payment)
                    } else {
                        bank.cancel_payment(psu, payment)
                    }
                },
            )
            .await?;
        match result {
            Err(error) if error.is_outcome_unknown() => {
                match self.payment_status(psu, payment).await {
                    Ok(status) => Ok(Cancellation {
                        status,
                        authorisation_needed: false,
                    }),
                    Err(_) => Err(error),
                }
            }
            other => other,
        }
    }
}
