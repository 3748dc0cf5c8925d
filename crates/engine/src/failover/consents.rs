//! What the failover keeps of consents: the journal's record of each, handed to the website channel
//! with every call under it, the status each channel reports, and the channel that made each consent,
//! where its SCA must go; and the channel that started each payment authorisation, where its answer
//! must go.

use tokio::time::Instant;

use super::{Failover, journal_error};
use crate::BoxFuture;
use crate::bank::{Bank, BankResult, Channel, PsuContext};
use crate::model::{
    AccountScope, AuthorisationId, Consent, ConsentAccess, ConsentCreated, ConsentId,
    ConsentRequest, ConsentStatus,
};

impl Failover {
    /// Makes a consent through the route and keeps which channel made it (its SCA goes there) and its
    /// journal record, whichever channel made it.
    pub(super) async fn consent_made(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentCreated> {
        let (channel, made) = self
            .through_route(
                psu,
                "consent",
                |_| Ok(()),
                |bank| bank.create_consent_announced(psu, request),
            )
            .await?;
        let made = made?;
        let id = made.id.clone();
        self.consent_channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), channel);
        // Recorded whichever channel made it: the website channel enforces what was asked for, and
        // the consent is valid only once its own SCA succeeded.
        let consent = Consent {
            id,
            request: request.clone(),
            status: ConsentStatus::Received,
        };
        if let Err(error) =
            self.journal
                .record_consent(&self.config.bank, psu.psu_id.as_str(), &consent)
        {
            tracing::error!(%error, "a consent could not be journalled; the website will refuse it");
        }
        Ok(made)
    }

    /// The context with what the journal recorded of its consent (none when the consent is unknown or
    /// was made for another customer), so the website channel enforces it as the bank's API would.
    pub(super) fn granted(&self, psu: &PsuContext) -> BankResult<PsuContext> {
        self.granted_for(psu, psu.consent_id.as_ref())
    }

    /// The context with what the journal recorded of `consent` (see [`Failover::granted`]), for calls
    /// that name their consent elsewhere (its status, its authorisation).
    pub(super) fn granted_for(
        &self,
        psu: &PsuContext,
        consent: Option<&ConsentId>,
    ) -> BankResult<PsuContext> {
        let mut granted = psu.clone();
        granted.grant = None;
        if let Some(consent) = consent
            && let Some((owner, record)) = self
                .journal
                .consent(&self.config.bank, consent.as_str())
                .map_err(journal_error)?
            && owner == psu.psu_id.as_str()
        {
            granted.grant = Some(record);
        }
        Ok(granted)
    }

    /// Keeps a consent's status as a channel reported it; a journal failure is logged (the website
    /// channel then still holds the status recorded before, never a better one).
    pub(super) fn note_consent_status(&self, consent: &ConsentId, status: ConsentStatus) {
        if let Err(error) =
            self.journal
                .set_consent_status(&self.config.bank, consent.as_str(), status)
        {
            tracing::error!(%error, "a consent's status could not be journalled");
        }
    }

    /// After a consent's SCA: a bank-offered consent's accounts, as the channel that authorised it
    /// now says the customer picked them, are journalled, so the website channel reaches those and no
    /// others. A channel that cannot say leaves the record listing none (the website then refuses
    /// reads under it rather than guess).
    pub(super) async fn note_offered_choice(&self, psu: &PsuContext, consent: &ConsentId) {
        let offered = psu.grant.as_ref().is_some_and(|grant| {
            grant.request.access.scope == AccountScope::BankOffered
                && grant.request.access.lists_none()
        });
        if !offered {
            return;
        }
        let answered = self
            .on_consent_channel(psu, consent, "consent access", |bank| {
                bank.consent_access(psu, consent)
            })
            .await;
        match answered {
            Ok(access) => {
                self.note_consent_access(psu, consent, access);
            }
            Err(error) => {
                tracing::warn!(%error, "the accounts picked for a bank-offered consent could not be read");
            }
        }
    }

    /// Keeps what a channel said a consent gives access to: a bank-offered consent's record takes the
    /// accounts listed (its scope stays `BankOffered`). Returns the access as the caller should see it.
    pub(super) fn note_consent_access(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
        access: ConsentAccess,
    ) -> ConsentAccess {
        let Some(grant) = psu.grant.as_ref().filter(|g| &g.id == consent) else {
            return access;
        };
        let asked = &grant.request.access;
        if asked.scope != AccountScope::BankOffered || !asked.lists_none() || access.lists_none() {
            return access;
        }
        let mut picked = grant.clone();
        picked.request.access = ConsentAccess {
            scope: AccountScope::BankOffered,
            ..access
        };
        picked.status = ConsentStatus::Valid;
        if let Err(error) =
            self.journal
                .record_consent(&self.config.bank, psu.psu_id.as_str(), &picked)
        {
            tracing::error!(%error, "a bank-offered consent's accounts could not be journalled");
        }
        picked.request.access
    }

    /// A call about one consent's SCA: on the channel that made the consent when this process made it
    /// (the other channel does not know it), else along the route.
    pub(super) async fn on_consent_channel<'a, T>(
        &'a self,
        psu: &PsuContext,
        consent: &ConsentId,
        data: &str,
        call: impl Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<T>>,
    ) -> BankResult<T> {
        let made_on = self
            .consent_channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(consent)
            .copied();
        let Some(channel) = made_on else {
            return self.through_route(psu, data, |_| Ok(()), call).await?.1;
        };
        if channel == Channel::Screen {
            self.log_access(psu, data).await;
        }
        let started = Instant::now();
        let result = call(self.bank(channel)).await;
        self.observe(channel, started, &result);
        result
    }

    /// Keeps the channel that started a payment authorisation.
    pub(super) fn note_payment_authorisation(&self, id: &AuthorisationId, channel: Channel) {
        self.payment_authorisations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), channel);
    }

    /// Where a payment authorisation's answer goes: the channel that started it when this process
    /// started it (the other channel does not know it), else along the route.
    pub(super) fn payment_authorisation_route(&self, id: &AuthorisationId) -> Vec<Channel> {
        let started_on = self
            .payment_authorisations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied();
        started_on.map_or_else(|| self.route(), |channel| vec![channel])
    }

    /// Forgets a payment authorisation that has ended.
    pub(super) fn forget_payment_authorisation(&self, id: &AuthorisationId) {
        self.payment_authorisations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}
