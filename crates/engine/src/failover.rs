//! `Failover`: a `Bank` over two `Bank`s — the API channel and the screen channel — switched by health.
//!
//! Reads go to the active channel; when it is *unavailable* the same call is served at once by the
//! other. Writes are recorded in the journal under an idempotency key before the first attempt; only a
//! write known not to have reached the bank moves channel; a write of unknown outcome is looked up by
//! its end-to-end id through whichever channel answers, and re-sent only when proven absent. One intent,
//! at most one payment. Rejections pass through untouched and never move the health state.
//!
//! Every call served through the website is logged with the switch event that justified it (RTS Art.
//! 33(5)), and unattended reads of account data are counted against the daily limit (Art. 36(5)) on
//! both channels.
//!
//! [`FailoverBuilder`] puts a bank's engine together: the channels (made, or from their configs), the
//! health, the API prober and the `Failover`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::{Date, OffsetDateTime};
use tokio::time::Instant;

use crate::bank::{Bank, BankError, BankResult, Channel, PsuContext};
use crate::health::{CallOutcome, Health, Mode};
use crate::journal::{AccessEntry, Intent, IntentState, JournalError, JournalStore, Operation};
use crate::model::belgian::format_iso_date;
use crate::model::{
    Account, AccountId, Amount, AuthorisationId, Balance, Cancellation, ConsentAccess,
    ConsentCreated, ConsentId, ConsentRequest, ConsentStatus, FundsConfirmation, Iban, PaymentFile,
    PaymentInitiation, PaymentRef, PaymentRequest, PaymentStatus, ScaAnswer, ScaProgress,
    ScaStatus, ScaStep, ScaTarget, StandingOrderRequest, Transaction, TransactionFilter,
};
use crate::screen::ScreenBank;

/// A boxed future, as the `Bank` trait's methods return.
use crate::BoxFuture;

mod builder;
mod consents;
mod route;
mod sca;
mod warm;

pub use builder::{
    ApiChannel, BuildError, BuiltFailover, FailoverBuilder, FailoverParts, ScreenChannel,
};
pub use warm::WarmStandbyConfig;

/// How a `Failover` behaves beyond its health.
#[derive(Debug, Clone)]
pub struct FailoverConfig {
    /// The bank's name, as in events, the journal and metrics.
    pub bank: String,
    /// Unattended reads of one account per day (RTS Art. 36(5): 4, or the consent's `frequencyPerDay`).
    pub unattended_reads_per_day: u32,
}

impl FailoverConfig {
    /// The regulation's defaults for a bank.
    pub fn new(bank: impl Into<String>) -> Self {
        Self {
            bank: bank.into(),
            unattended_reads_per_day: 4,
        }
    }
}

/// The engine's `Bank`: the API while it is healthy, the website while it is not.
#[derive(Debug, Clone)]
pub struct Failover {
    config: FailoverConfig,
    api: Arc<dyn Bank>,
    screen: Arc<dyn Bank>,
    health: Arc<Health>,
    journal: Arc<dyn JournalStore>,
    /// One lock per intent key being written, so concurrent identical writes in this process wait for
    /// the first and get its answer instead of racing it to the bank.
    writing: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// The channel that made each consent this process made: its SCA goes there, since the other
    /// channel does not know the consent.
    consent_channels: Arc<Mutex<HashMap<ConsentId, Channel>>>,
    /// The channel that started each payment authorisation this process started (see
    /// [`Failover::payment_authorisation_route`]).
    payment_authorisations: Arc<Mutex<HashMap<AuthorisationId, Channel>>>,
    /// The warm standby of the website channel, when one was started (`failover::warm`).
    warm: Option<Arc<warm::WarmStandby>>,
}

/// A journal failure after a write was sent: whatever the bank did stands, so the outcome is unknown,
/// never "nothing was sent".
fn after_send(channel: Channel, error: &BankError) -> BankError {
    BankError::OutcomeUnknown {
        channel,
        reason: format!("a write was sent and its outcome could not be journalled: {error}"),
    }
}

fn journal_error(error: JournalError) -> BankError {
    // Without the journal no promise can be kept: nothing is attempted.
    BankError::Unavailable {
        channel: Channel::Api,
        reason: format!("the journal is unavailable, nothing was sent: {error}"),
    }
}

impl Failover {
    /// Wraps the two channels of one bank. Switch events of `health` are made durable in `journal`
    /// before they are announced. [`FailoverBuilder`] makes the channels, the health and the prober
    /// and calls this.
    pub fn new(
        config: FailoverConfig,
        api: Arc<dyn Bank>,
        screen: Arc<dyn Bank>,
        health: Arc<Health>,
        journal: Arc<dyn JournalStore>,
    ) -> Self {
        let recorder = journal.clone();
        health.set_recorder(move |event| match recorder.record_switch(event) {
            Ok(id) => Some(id),
            Err(error) => {
                tracing::error!(%error, "a switch event could not be journalled");
                None
            }
        });
        Self {
            config,
            api,
            screen,
            health,
            journal,
            writing: Arc::default(),
            consent_channels: Arc::default(),
            payment_authorisations: Arc::default(),
            warm: None,
        }
    }

    /// Starts the warm standby of the website channel `screen` (the same `ScreenBank` this failover
    /// uses as its website channel): when the API degrades, the recent callers' sessions are
    /// prepared ahead of a switch (see `failover::warm`). Off when no tokio runtime is running.
    pub fn with_warm_standby(mut self, screen: ScreenBank, config: WarmStandbyConfig) -> Self {
        self.warm = Some(Arc::new(warm::WarmStandby::start(
            self.config.bank.clone(),
            screen,
            self.health.clone(),
            self.journal.clone(),
            config,
        )));
        self
    }

    /// The health this failover follows.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// The journal it writes.
    pub fn journal(&self) -> &Arc<dyn JournalStore> {
        &self.journal
    }

    fn bank(&self, channel: Channel) -> &dyn Bank {
        match channel {
            Channel::Api => &*self.api,
            Channel::Screen => &*self.screen,
        }
    }

    /// The channels to try, in order. An exempt bank has only the API.
    fn route(&self) -> Vec<Channel> {
        if self.health.exemption().is_some() {
            return vec![Channel::Api];
        }
        match self.health.mode() {
            Mode::Api => vec![Channel::Api, Channel::Screen],
            Mode::Fallback | Mode::Probing => vec![Channel::Screen, Channel::Api],
        }
    }

    /// Feeds the outcome of an API call to health, as what it was: not answered, answered that the
    /// service is unavailable, answered unusably, or answered. A call refused because of what the
    /// caller sent reached no bank and says nothing about it: health never hears of it (neither
    /// against the bank nor for it).
    fn observe<T>(&self, channel: Channel, started: Instant, result: &BankResult<T>) {
        if channel != Channel::Api {
            return;
        }
        let elapsed = started.elapsed();
        let error = match result {
            Ok(_) => return self.health.record(CallOutcome::Answered(elapsed), None),
            Err(error) => error,
        };
        let outcome = match error {
            _ if error.is_caused_by_caller() => return,
            BankError::Unusable { field, reason, .. } => {
                return self.health.record(
                    CallOutcome::Unusable(elapsed),
                    Some(&format!("{field}: {reason}")),
                );
            }
            BankError::ServiceUnavailable { .. } => CallOutcome::ServiceUnavailable(elapsed),
            BankError::Unavailable { .. } | BankError::OutcomeUnknown { .. } => {
                CallOutcome::Failed(elapsed)
            }
            // A rejection, a limit, a challenge…: the bank answered.
            _ => return self.health.record(CallOutcome::Answered(elapsed), None),
        };
        self.health.record(outcome, Some(&error.to_string()));
    }

    /// Logs an access through the website with the switch that justified it (RTS Art. 33(5)),
    /// durably before the website is called. The journal's write (a synchronous, fsynced commit)
    /// runs on the blocking pool: the runtime's few workers go on serving other calls meanwhile.
    async fn log_access(&self, psu: &PsuContext, data: &str) {
        let entry = AccessEntry {
            at: OffsetDateTime::now_utc(),
            bank: self.config.bank.clone(),
            psu: psu.psu_id.as_str().to_owned(),
            data: data.to_owned(),
            switch_event: self.health.justification(),
        };
        let journal = self.journal.clone();
        let written = tokio::task::spawn_blocking(move || journal.log_access(&entry))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(error) = written {
            tracing::error!(%error, "a fallback access could not be logged");
        }
    }

    /// Counts an unattended read of an account's data (RTS Art. 36(5)), whatever channel serves it.
    fn count_unattended(&self, psu: &PsuContext, account: &AccountId) -> BankResult<()> {
        if psu.ip_address.is_some() {
            return Ok(());
        }
        let today: Date = OffsetDateTime::now_utc().date();
        // The consent's own `frequencyPerDay` when the journal recorded it, within the bank's limit.
        let limit = psu
            .grant
            .as_ref()
            .map_or(self.config.unattended_reads_per_day, |g| {
                g.request
                    .frequency_per_day
                    .min(self.config.unattended_reads_per_day)
            });
        match self
            .journal
            .count_unattended(
                &self.config.bank,
                psu.psu_id.as_str(),
                account.as_str(),
                today,
                limit,
            )
            .map_err(journal_error)?
        {
            Ok(count) => {
                if count >= limit
                    && let Some(warm) = &self.warm
                {
                    warm.spent(psu);
                }
                Ok(())
            }
            Err(count) => {
                if let Some(warm) = &self.warm {
                    warm.spent(psu);
                }
                Err(BankError::LimitReached {
                    limit: format!(
                        "account {account} was read {count} times today without the customer present; RTS Art. 36(5) allows {limit}"
                    ),
                    retry_after: None,
                })
            }
        }
    }

    fn exempt_error(&self, error: BankError) -> BankError {
        match self.health.exemption() {
            Some(reason) if error.triggers_switch() => BankError::FallbackExempt {
                bank: self.config.bank.clone(),
                reason: reason.to_owned(),
                api_error: error.to_string(),
            },
            _ => error,
        }
    }
}

/// What [`Failover::through_route`] tells its caller as it goes, so a write's journal follows every
/// attempt.
enum Step<'e> {
    /// The call is about to be sent through this channel.
    Sending(Channel),
    /// The channel was *unavailable*: nothing reached the bank, and the next channel is tried.
    Unavailable(Channel, &'e BankError),
}

/// What a write is, for the journal.
struct WriteIntent<'a> {
    operation: Operation,
    debtor: &'a Iban,
    /// The end-to-end id (a file's message id) by which it is found again.
    reference: &'a str,
    /// The request field that holds `reference`, named when it is reused for other content.
    reference_field: &'static str,
    /// The fingerprint of the write's content ([`crate::fingerprint`]).
    fingerprint: String,
    request: String,
}

/// A write's idempotency key: the bank, the customer, the operation, the debtor, the end-to-end id and
/// the fingerprint of the content. One key, at most one payment. The journal keys the intent on its
/// keyed hash ([`crate::journal::JournalKeys::intent`]), never on this text.
fn intent_key(bank: &str, psu: &PsuContext, write: &WriteIntent<'_>) -> String {
    format!(
        "{bank}:{}:{}:{}:{}:{}",
        psu.psu_id,
        write.operation.code(),
        write.debtor,
        write.reference,
        write.fingerprint
    )
}

impl Failover {
    /// Runs `work` holding this process's lock for one intent key: a concurrent write of the same
    /// intent waits, then finds the first one's outcome in the journal.
    async fn one_at_a_time<T>(&self, key: &str, work: impl Future<Output = T>) -> T {
        let lock = self
            .writing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        let result = {
            let _held = lock.lock().await;
            work.await
        };
        let mut writing = self
            .writing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The map and this call hold the last two handles: nobody else waits, so the entry goes.
        if Arc::strong_count(&lock) == 2 {
            writing.remove(key);
        }
        result
    }

    /// Makes a write that creates a payment resource, keeping the promise: at most one.
    async fn write<'a, F>(
        &'a self,
        psu: &'a PsuContext,
        write: WriteIntent<'a>,
        send: F,
    ) -> BankResult<PaymentInitiation>
    where
        F: Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<PaymentInitiation>>,
    {
        let key = self
            .journal
            .keys()
            .intent(&intent_key(&self.config.bank, psu, &write));
        self.one_at_a_time(&key, self.write_once(psu, &key, write, send))
            .await
    }

    async fn write_once<'a, F>(
        &'a self,
        psu: &'a PsuContext,
        key: &str,
        write: WriteIntent<'a>,
        send: F,
    ) -> BankResult<PaymentInitiation>
    where
        F: Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<PaymentInitiation>>,
    {
        let stored = self
            .journal
            .record_intent(&Intent {
                key: key.to_owned(),
                bank: self.config.bank.clone(),
                psu: psu.psu_id.as_str().to_owned(),
                end_to_end_id: write.reference.to_owned(),
                debtor: write.debtor.as_str().to_owned(),
                operation: write.operation,
                fingerprint: write.fingerprint.clone(),
                request: write.request.clone(),
                state: IntentState::Recorded,
                payment: None,
                status: None,
                note: "recorded before the first attempt".to_owned(),
            })
            .map_err(journal_error)?;
        if stored.key != key {
            // Another write of this debtor holds the end-to-end id with other content: never answer
            // with its payment, never send this one under its id.
            return Err(crate::model::InvalidValue::new(
                write.reference_field,
                format!(
                    "{} {:?} was used before for another {} from this account; use a new one",
                    if write.operation == Operation::File {
                        "MsgId"
                    } else {
                        "the end-to-end id"
                    },
                    write.reference,
                    write.operation
                ),
            )
            .into());
        }
        match stored.state {
            IntentState::Accepted => {
                if let Some(payment) = stored.payment {
                    return Ok(PaymentInitiation {
                        payment,
                        status: stored.status.unwrap_or(PaymentStatus::Received),
                        approach: None,
                    });
                }
            }
            IntentState::InDoubt(_) | IntentState::Attempting(_) => {
                // A previous attempt may have reached the bank: find it before anything is sent.
                if let Some(found) = self
                    .reconcile(psu, key, write.debtor, write.reference)
                    .await?
                {
                    return Ok(found);
                }
            }
            // A rejection made no payment: the same write asked again is sent again, and the bank
            // answers it anew.
            IntentState::Recorded | IntentState::NotSent | IntentState::Rejected => {}
        }
        self.attempt(psu, key, write.debtor, write.reference, &send)
            .await
    }

    async fn attempt<'a, F>(
        &'a self,
        psu: &'a PsuContext,
        key: &str,
        debtor: &Iban,
        reference: &str,
        send: &F,
    ) -> BankResult<PaymentInitiation>
    where
        F: Fn(&'a dyn Bank) -> BoxFuture<'a, BankResult<PaymentInitiation>>,
    {
        let sending = |step: Step<'_>| match step {
            Step::Sending(channel) => self.update(
                key,
                IntentState::Attempting(channel),
                None,
                None,
                &format!("sending through the {channel} channel"),
            ),
            Step::Unavailable(channel, error) => self.update(
                key,
                IntentState::NotSent,
                None,
                None,
                &format!("{channel}: {error}"),
            ),
        };
        let (channel, result) = self
            .through_route(psu, &format!("write {reference}"), sending, send)
            .await?;
        match result {
            Ok(done) => {
                // The bank made the payment: that is the answer, whether or not the journal takes
                // it. An intent the journal could not close stays open, and `resume` finds it.
                if let Err(error) = self.update(
                    key,
                    IntentState::Accepted,
                    Some(&done.payment),
                    Some(done.status),
                    &format!("accepted through the {channel} channel"),
                ) {
                    tracing::error!(bank = %self.config.bank, %key, %error, "an accepted write could not be journalled");
                }
                Ok(done)
            }
            Err(error) if error.is_outcome_unknown() => {
                self.update(
                    key,
                    IntentState::InDoubt(channel),
                    None,
                    None,
                    &format!("{channel}: {error}"),
                )
                .map_err(|journal| after_send(channel, &journal))?;
                match self.reconcile(psu, key, debtor, reference).await? {
                    Some(found) => Ok(found),
                    None => {
                        // Proven absent: the write never took effect, so it may be sent once more.
                        Box::pin(self.attempt(psu, key, debtor, reference, send)).await
                    }
                }
            }
            Err(error) => {
                let note = error.to_string();
                if let Err(journal) = self.update(key, IntentState::Rejected, None, None, &note) {
                    tracing::error!(bank = %self.config.bank, %key, error = %journal, "a rejected write could not be journalled");
                }
                Err(error)
            }
        }
    }

    fn update(
        &self,
        key: &str,
        state: IntentState,
        payment: Option<&PaymentRef>,
        status: Option<PaymentStatus>,
        note: &str,
    ) -> BankResult<()> {
        self.journal
            .update_intent(key, state, payment, status, note)
            .map_err(journal_error)
    }

    /// Looks an in-doubt write up through whichever channel answers. `Ok(Some)`: it exists (journalled as
    /// accepted). `Ok(None)`: proven absent. `Err(OutcomeUnknown)`: no channel could tell; it stays in
    /// doubt in the journal and nothing is re-sent.
    async fn reconcile(
        &self,
        psu: &PsuContext,
        key: &str,
        debtor: &Iban,
        reference: &str,
    ) -> BankResult<Option<PaymentInitiation>> {
        let mut reasons = Vec::new();
        let mut channels = self.route();
        channels.reverse();
        for channel in channels {
            if channel == Channel::Screen {
                self.log_access(psu, &format!("lookup {reference}")).await;
            }
            match self
                .bank(channel)
                .find_payment(psu, debtor, reference)
                .await
            {
                Ok(Some((payment, status))) => {
                    if let Err(error) = self.update(
                        key,
                        IntentState::Accepted,
                        Some(&payment),
                        Some(status),
                        &format!("found through the {channel} channel"),
                    ) {
                        tracing::error!(bank = %self.config.bank, %key, %error, "a found write could not be journalled");
                    }
                    return Ok(Some(PaymentInitiation {
                        payment,
                        status,
                        approach: None,
                    }));
                }
                Ok(None) => {
                    // Only an absence the journal holds may lead to a second send.
                    self.update(
                        key,
                        IntentState::NotSent,
                        None,
                        None,
                        &format!("proven absent through the {channel} channel"),
                    )
                    .map_err(|journal| after_send(channel, &journal))?;
                    return Ok(None);
                }
                Err(error) => reasons.push(format!("{channel}: {error}")),
            }
        }
        Err(BankError::OutcomeUnknown {
            channel: Channel::Api,
            reason: format!(
                "in doubt and not yet reconciled (journal key {key}): {}",
                reasons.join("; ")
            ),
        })
    }

    /// Reconciles every intent left open by an earlier run (a crash, a kill) before new work: each is
    /// found or proven absent; those proven absent are left `not-sent` for the caller to retry with the
    /// same request, which then sends them. `contexts` gives the customer context an intent is looked
    /// up in — its own customer's (`intent.psu`), never another's — or `None` when this run has no
    /// context for that customer: such an intent is left open for a run that has. (An intent recorded
    /// and never attempted needs no context: nothing reached the bank.) Each intent is claimed in the
    /// journal first ([`JournalStore::claim_intent`]): of the replicas sharing a journal one at a time
    /// works on it, and one claimed by another is left to it. Returns how many were settled and how
    /// many remain in doubt, not counting those left for another run or replica.
    pub async fn resume(
        &self,
        contexts: impl Fn(&Intent) -> Option<PsuContext>,
    ) -> BankResult<(usize, usize)> {
        self.settle_open(&contexts, |_| true).await
    }

    /// Reconciles the intents in doubt (sent, outcome unknown) as [`Failover::resume`] does, at any
    /// time: what a sweep that runs every few minutes calls, so an intent no caller retries is
    /// settled all the same. Intents being written (recorded, attempting) are left to their writer.
    pub async fn sweep(
        &self,
        contexts: impl Fn(&Intent) -> Option<PsuContext>,
    ) -> BankResult<(usize, usize)> {
        self.settle_open(&contexts, |i| matches!(i.state, IntentState::InDoubt(_)))
            .await
    }

    async fn settle_open<C: Fn(&Intent) -> Option<PsuContext>>(
        &self,
        contexts: &C,
        which: impl Fn(&Intent) -> bool,
    ) -> BankResult<(usize, usize)> {
        let open = self.journal.open_intents().map_err(journal_error)?;
        let (mut settled, mut doubtful) = (0, 0);
        for intent in open
            .into_iter()
            .filter(|i| i.bank == self.config.bank && which(i))
        {
            let Ok(debtor) = Iban::parse(&intent.debtor) else {
                continue;
            };
            if !self
                .journal
                .claim_intent(&intent.key, CLAIM_HOLD)
                .map_err(journal_error)?
            {
                tracing::debug!(bank = %self.config.bank, key = %intent.key, "left to the replica that claimed it");
                continue;
            }
            let outcome = self.settle_one(&intent, &debtor, contexts).await;
            if let Err(error) = self.journal.release_intent(&intent.key) {
                tracing::warn!(bank = %self.config.bank, key = %intent.key, %error, "a claim on an intent was not given up: it runs out by itself");
            }
            match outcome? {
                Some(true) => settled += 1,
                Some(false) => doubtful += 1,
                None => {}
            }
        }
        Ok((settled, doubtful))
    }

    /// Settles one claimed open intent: `Some(true)` settled, `Some(false)` still in doubt, `None`
    /// left for a run with its customer's context.
    async fn settle_one<C: Fn(&Intent) -> Option<PsuContext>>(
        &self,
        intent: &Intent,
        debtor: &Iban,
        contexts: &C,
    ) -> BankResult<Option<bool>> {
        if intent.state == IntentState::Recorded {
            // Recorded but never attempted: nothing reached the bank.
            self.update(
                &intent.key,
                IntentState::NotSent,
                None,
                None,
                "never attempted before a restart",
            )?;
            return Ok(Some(true));
        }
        let Some(psu) = contexts(intent).filter(|psu| psu.psu_id.as_str() == intent.psu) else {
            tracing::info!(bank = %self.config.bank, key = %intent.key, "left open for a run with its customer's context");
            return Ok(None);
        };
        // Under the intent's lock, so a retry of the same write in this process waits for it.
        let reconciled = self
            .one_at_a_time(
                &intent.key,
                self.reconcile(&psu, &intent.key, debtor, &intent.end_to_end_id),
            )
            .await;
        // A write an earlier run was sending when it died, which no channel can find or rule out now:
        // its outcome is unknown, and the journal says so (the sweep then keeps trying it).
        if let (Err(error), IntentState::Attempting(channel)) = (&reconciled, intent.state) {
            self.update(
                &intent.key,
                IntentState::InDoubt(channel),
                None,
                None,
                &format!("being sent when its run ended; not yet reconciled: {error}"),
            )?;
        }
        Ok(Some(reconciled.is_ok()))
    }
}

/// How long a claim on an intent lasts when its replica dies before giving it up.
const CLAIM_HOLD: std::time::Duration = std::time::Duration::from_secs(120);

fn accounts_data(account: &AccountId, what: &str) -> String {
    format!("{what} {account}")
}

#[async_trait]
impl Bank for Failover {
    async fn accounts(&self, psu: &PsuContext) -> BankResult<Vec<Account>> {
        let psu = &self.granted(psu)?;
        self.read(psu, "accounts", |bank| bank.accounts(psu)).await
    }

    async fn balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        at: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        let psu = &self.granted(psu)?;
        self.count_unattended(psu, account)?;
        let data = match at {
            Some(day) => accounts_data(account, &format!("balance at {}", format_iso_date(day))),
            None => accounts_data(account, "balances"),
        };
        self.read(psu, &data, |bank| bank.balances(psu, account, at))
            .await
    }

    async fn transactions(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>> {
        let psu = &self.granted(psu)?;
        self.count_unattended(psu, account)?;
        let range = format!(
            "{}..{}",
            filter.date_from.map(format_iso_date).unwrap_or_default(),
            filter.date_to.map(format_iso_date).unwrap_or_default()
        );
        self.read(
            psu,
            &accounts_data(account, &format!("transactions {range}")),
            |bank| bank.transactions(psu, account, filter),
        )
        .await
    }

    async fn initiate_payment(
        &self,
        psu: &PsuContext,
        request: &PaymentRequest,
    ) -> BankResult<PaymentInitiation> {
        request.validate()?;
        let write = WriteIntent {
            operation: Operation::Payment,
            debtor: &request.debtor,
            reference: request.end_to_end_id.as_str(),
            reference_field: "endToEndIdentification",
            fingerprint: crate::fingerprint::payment(request),
            request: format!(
                "{} {} to {} ({})",
                request.product.code(),
                request.amount,
                request.creditor.masked(),
                request.creditor_name
            ),
        };
        self.write(psu, write, |bank| bank.initiate_payment(psu, request))
            .await
    }

    async fn payment_status(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<PaymentStatus> {
        self.read(psu, &format!("payment {}", payment.id), |bank| {
            bank.payment_status(psu, payment)
        })
        .await
    }

    async fn cancel_payment(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<Cancellation> {
        self.cancel(psu, payment, false).await
    }

    async fn upload_payment_file(
        &self,
        psu: &PsuContext,
        file: &PaymentFile,
    ) -> BankResult<PaymentInitiation> {
        let debtor = file
            .payments
            .first()
            .map(|p| p.debtor.clone())
            .ok_or_else(|| crate::model::InvalidValue::new("file", "holds no payment"))?;
        let write = WriteIntent {
            operation: Operation::File,
            debtor: &debtor,
            reference: &file.message_id,
            reference_field: "body",
            fingerprint: crate::fingerprint::file(file),
            request: format!(
                "{} with {} payments, {}",
                file.version.name(),
                file.number_of_transactions,
                file.control_sum
            ),
        };
        self.write(psu, write, |bank| bank.upload_payment_file(psu, file))
            .await
    }

    async fn create_standing_order(
        &self,
        psu: &PsuContext,
        request: &StandingOrderRequest,
    ) -> BankResult<PaymentInitiation> {
        request.validate()?;
        let write = WriteIntent {
            operation: Operation::StandingOrder,
            debtor: &request.payment.debtor,
            reference: request.payment.end_to_end_id.as_str(),
            reference_field: "endToEndIdentification",
            fingerprint: crate::fingerprint::standing_order(request),
            request: format!(
                "{} {} from {}",
                request.frequency.code(),
                request.payment.amount,
                format_iso_date(request.start_date)
            ),
        };
        self.write(psu, write, |bank| bank.create_standing_order(psu, request))
            .await
    }

    async fn cancel_standing_order(
        &self,
        psu: &PsuContext,
        order: &PaymentRef,
    ) -> BankResult<Cancellation> {
        self.cancel(psu, order, true).await
    }

    async fn confirm_funds(
        &self,
        psu: &PsuContext,
        account: &Iban,
        amount: &Amount,
    ) -> BankResult<FundsConfirmation> {
        let psu = &self.granted(psu)?;
        self.read(psu, &format!("funds {}", account.masked()), |bank| {
            bank.confirm_funds(psu, account, amount)
        })
        .await
    }

    async fn create_consent(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentId> {
        Ok(self.create_consent_announced(psu, request).await?.id)
    }

    async fn create_consent_announced(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentCreated> {
        self.consent_made(psu, request).await
    }

    async fn consent_status(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentStatus> {
        let psu = &self.granted_for(psu, Some(consent))?;
        let status = self
            .read(psu, "consent status", |bank| {
                bank.consent_status(psu, consent)
            })
            .await?;
        self.note_consent_status(consent, status);
        Ok(status)
    }

    async fn consent_access(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentAccess> {
        let psu = &self.granted_for(psu, Some(consent))?;
        let access = self
            .on_consent_channel(psu, consent, "consent access", |bank| {
                bank.consent_access(psu, consent)
            })
            .await?;
        Ok(self.note_consent_access(psu, consent, access))
    }

    async fn start_authorisation(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaStep> {
        self.sca_start(psu, target).await
    }

    async fn select_sca_method(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        method: &str,
    ) -> BankResult<ScaStep> {
        self.sca_select(psu, target, authorisation, method).await
    }

    async fn authorisation_status(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
    ) -> BankResult<ScaProgress> {
        self.sca_progress(psu, target, authorisation).await
    }

    async fn authorisation_ids(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<Vec<AuthorisationId>> {
        self.read(psu, "authorisations", |bank| {
            bank.authorisation_ids(psu, target)
        })
        .await
    }

    async fn authorise(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        answer: &ScaAnswer,
    ) -> BankResult<ScaStatus> {
        self.sca_answer(psu, target, authorisation, answer).await
    }

    async fn exchange_authorisation_code(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        code: &crate::model::AuthorisationCode,
        state: &str,
    ) -> BankResult<ScaStatus> {
        self.sca_exchange_code(psu, target, authorisation, code, state)
            .await
    }

    async fn find_payment(
        &self,
        psu: &PsuContext,
        debtor: &Iban,
        end_to_end_id: &str,
    ) -> BankResult<Option<(PaymentRef, PaymentStatus)>> {
        self.read(psu, &format!("lookup {end_to_end_id}"), |bank| {
            bank.find_payment(psu, debtor, end_to_end_id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use rust_decimal::{Decimal, dec};

    use super::*;
    use crate::health::{HealthConfig, Policy};
    use crate::journal::SqliteJournal;
    use crate::model::{Consent, EndToEndId, PaymentId, PaymentKind, PaymentProduct, PsuId};

    /// How a scripted channel answers every call.
    #[derive(Debug, Clone, Copy)]
    enum Script {
        Serves,
        Unavailable,
        Rejects,
        /// Refused before sending, because of what the caller sent.
        Invalid,
        /// Answered at once, with one field failing validation.
        Unusable,
    }

    /// A channel whose every answer is scripted, counting its calls.
    #[derive(Debug)]
    struct Scripted {
        channel: Channel,
        script: Mutex<Script>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(channel: Channel, script: Script) -> Arc<Self> {
            Arc::new(Self {
                channel,
                script: Mutex::new(script),
                calls: AtomicUsize::new(0),
            })
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        fn answer<T>(&self, served: T) -> BankResult<T> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match *self.script.lock().unwrap() {
                Script::Serves => Ok(served),
                Script::Unavailable => Err(BankError::Unavailable {
                    channel: self.channel,
                    reason: "scripted outage".to_owned(),
                }),
                Script::Rejects => Err(BankError::Rejected {
                    code: "FORMAT_ERROR".to_owned(),
                    message: "scripted refusal".to_owned(),
                }),
                Script::Invalid => Err(crate::model::InvalidValue::new(
                    "resourceId",
                    "is not one path segment",
                )
                .into()),
                Script::Unusable => Err(BankError::Unusable {
                    channel: self.channel,
                    field: "accounts[1].iban".to_owned(),
                    reason: "check digits do not match".to_owned(),
                    write_sent: false,
                }),
            }
        }

        fn not_scripted<T>(&self, operation: &'static str) -> BankResult<T> {
            Err(BankError::NotSupported {
                channel: self.channel,
                operation: operation.to_owned(),
            })
        }
    }

    fn initiation() -> PaymentInitiation {
        PaymentInitiation {
            payment: PaymentRef {
                kind: PaymentKind::Single(PaymentProduct::SepaCreditTransfer),
                id: PaymentId::new("pmt-1"),
            },
            status: PaymentStatus::Received,
            approach: None,
        }
    }

    #[async_trait]
    impl Bank for Scripted {
        async fn accounts(&self, _: &PsuContext) -> BankResult<Vec<Account>> {
            self.answer(Vec::new())
        }
        async fn balances(
            &self,
            _: &PsuContext,
            _: &AccountId,
            _: Option<Date>,
        ) -> BankResult<Vec<Balance>> {
            self.answer(Vec::new())
        }
        async fn transactions(
            &self,
            _: &PsuContext,
            _: &AccountId,
            _: &TransactionFilter,
        ) -> BankResult<Vec<Transaction>> {
            self.answer(Vec::new())
        }
        async fn initiate_payment(
            &self,
            _: &PsuContext,
            _: &PaymentRequest,
        ) -> BankResult<PaymentInitiation> {
            // A bank takes a while to answer, so concurrent initiations overlap (paused time).
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.answer(initiation())
        }
        async fn payment_status(
            &self,
            _: &PsuContext,
            _: &PaymentRef,
        ) -> BankResult<PaymentStatus> {
            self.answer(PaymentStatus::Received)
        }
        async fn cancel_payment(&self, _: &PsuContext, _: &PaymentRef) -> BankResult<Cancellation> {
            self.answer(Cancellation::done())
        }
        async fn upload_payment_file(
            &self,
            _: &PsuContext,
            _: &PaymentFile,
        ) -> BankResult<PaymentInitiation> {
            self.not_scripted("upload_payment_file")
        }
        async fn create_standing_order(
            &self,
            _: &PsuContext,
            _: &StandingOrderRequest,
        ) -> BankResult<PaymentInitiation> {
            self.not_scripted("create_standing_order")
        }
        async fn cancel_standing_order(
            &self,
            _: &PsuContext,
            _: &PaymentRef,
        ) -> BankResult<Cancellation> {
            self.answer(Cancellation::done())
        }
        async fn confirm_funds(
            &self,
            _: &PsuContext,
            _: &Iban,
            _: &Amount,
        ) -> BankResult<FundsConfirmation> {
            self.not_scripted("confirm_funds")
        }
        async fn create_consent(
            &self,
            _: &PsuContext,
            _: &ConsentRequest,
        ) -> BankResult<ConsentId> {
            self.not_scripted("create_consent")
        }
        async fn consent_status(&self, _: &PsuContext, _: &ConsentId) -> BankResult<ConsentStatus> {
            self.not_scripted("consent_status")
        }
        async fn start_authorisation(&self, _: &PsuContext, _: &ScaTarget) -> BankResult<ScaStep> {
            self.not_scripted("start_authorisation")
        }
        async fn authorise(
            &self,
            _: &PsuContext,
            _: &ScaTarget,
            _: &AuthorisationId,
            _: &ScaAnswer,
        ) -> BankResult<ScaStatus> {
            self.answer(ScaStatus::Finalised)
        }
        async fn find_payment(
            &self,
            _: &PsuContext,
            _: &Iban,
            _: &str,
        ) -> BankResult<Option<(PaymentRef, PaymentStatus)>> {
            self.answer(None)
        }
    }

    /// A journal that loses every update to a given state (a full disk, a lost lock), and keeps the rest.
    #[derive(Debug)]
    struct LosesUpdates {
        inner: SqliteJournal,
        lost: IntentState,
    }

    impl JournalStore for LosesUpdates {
        fn keys(&self) -> &crate::journal::JournalKeys {
            self.inner.keys()
        }
        fn record_intent(&self, intent: &Intent) -> crate::journal::JournalResult<Intent> {
            self.inner.record_intent(intent)
        }
        fn update_intent(
            &self,
            key: &str,
            state: IntentState,
            payment: Option<&PaymentRef>,
            status: Option<PaymentStatus>,
            note: &str,
        ) -> crate::journal::JournalResult<()> {
            if state == self.lost {
                return Err(JournalError::UnknownIntent {
                    key: "lost".to_owned(),
                });
            }
            self.inner.update_intent(key, state, payment, status, note)
        }
        fn intent(&self, key: &str) -> crate::journal::JournalResult<Option<Intent>> {
            self.inner.intent(key)
        }
        fn open_intents(&self) -> crate::journal::JournalResult<Vec<Intent>> {
            self.inner.open_intents()
        }
        fn record_switch(
            &self,
            event: &crate::health::SwitchEvent,
        ) -> crate::journal::JournalResult<i64> {
            self.inner.record_switch(event)
        }
        fn switches(
            &self,
            bank: &str,
            from: OffsetDateTime,
            to: OffsetDateTime,
        ) -> crate::journal::JournalResult<Vec<crate::journal::StoredSwitch>> {
            self.inner.switches(bank, from, to)
        }
        fn log_access(&self, entry: &AccessEntry) -> crate::journal::JournalResult<()> {
            self.inner.log_access(entry)
        }
        fn access_log(&self, day: Date) -> crate::journal::JournalResult<Vec<AccessEntry>> {
            self.inner.access_log(day)
        }
        fn count_unattended(
            &self,
            bank: &str,
            psu: &str,
            account: &str,
            day: Date,
            limit: u32,
        ) -> crate::journal::JournalResult<Result<u32, u32>> {
            self.inner.count_unattended(bank, psu, account, day, limit)
        }
        fn record_consent(
            &self,
            bank: &str,
            psu: &str,
            consent: &crate::model::Consent,
        ) -> crate::journal::JournalResult<()> {
            self.inner.record_consent(bank, psu, consent)
        }
        fn consent(
            &self,
            bank: &str,
            id: &str,
        ) -> crate::journal::JournalResult<Option<(String, crate::model::Consent)>> {
            self.inner.consent(bank, id)
        }
        fn set_consent_status(
            &self,
            bank: &str,
            id: &str,
            status: crate::model::ConsentStatus,
        ) -> crate::journal::JournalResult<()> {
            self.inner.set_consent_status(bank, id, status)
        }
    }

    /// A failover over two scripted channels on a journal in a temporary file (removed on drop). One
    /// failure is enough to switch, so a test sees health move after a single call.
    struct Rig {
        api: Arc<Scripted>,
        screen: Arc<Scripted>,
        failover: Failover,
        journal: Arc<SqliteJournal>,
        dir: std::path::PathBuf,
    }

    impl Rig {
        fn new(api: Script, screen: Script, exempt: Option<&str>) -> Self {
            Self::with_health(
                api,
                screen,
                HealthConfig {
                    extra_policies: vec![Policy::ConsecutiveFailures { n: 1 }],
                    dwell: Duration::from_secs(10),
                    exempt: exempt.map(str::to_owned),
                    ..HealthConfig::default()
                },
            )
        }

        fn with_health(api: Script, screen: Script, health: HealthConfig) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("psd2-fallback-failover-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let journal = Arc::new(SqliteJournal::open(&dir.join("journal.sqlite")).unwrap());
            let api = Scripted::new(Channel::Api, api);
            let screen = Scripted::new(Channel::Screen, screen);
            let health = Health::new("sandbox", health);
            let failover = Failover::new(
                FailoverConfig::new("sandbox"),
                api.clone(),
                screen.clone(),
                health,
                journal.clone(),
            );
            Self {
                api,
                screen,
                failover,
                journal,
                dir,
            }
        }

        fn script_api(&self, script: Script) {
            *self.api.script.lock().unwrap() = script;
        }

        fn switches(&self) -> Vec<String> {
            let now = OffsetDateTime::now_utc();
            self.journal
                .switches("sandbox", now - time::Duration::days(1), now)
                .unwrap()
                .into_iter()
                .map(|s| s.reason)
                .collect()
        }

        fn accesses(&self) -> Vec<AccessEntry> {
            self.journal
                .access_log(OffsetDateTime::now_utc().date())
                .unwrap()
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn psu() -> PsuContext {
        PsuContext::new(PsuId::new("1000001"))
    }

    fn request(end_to_end_id: &str, amount: Decimal) -> PaymentRequest {
        PaymentRequest {
            product: PaymentProduct::SepaCreditTransfer,
            debtor: Iban::parse("BE68539007547034").unwrap(),
            creditor_name: "Garage Vermeulen".to_owned(),
            creditor: Iban::parse("BE71096123456769").unwrap(),
            amount: Amount::eur(amount).unwrap(),
            remittance: None,
            requested_execution_date: None,
            end_to_end_id: EndToEndId::new(end_to_end_id).unwrap(),
        }
    }

    /// r5: an end-to-end id reused by the same debtor for a *different* order is refused naming the
    /// field — never answered with the earlier payment — and nothing is sent; the same order again is
    /// answered with the one payment, sent once.
    #[tokio::test(start_paused = true)]
    async fn r5_an_end_to_end_id_reused_for_another_order_is_refused_naming_the_field() {
        let rig = Rig::new(Script::Serves, Script::Serves, None);
        let first = rig
            .failover
            .initiate_payment(&psu(), &request("E2E-R5", dec!(12.50)))
            .await
            .unwrap();
        let again = rig
            .failover
            .initiate_payment(&psu(), &request("E2E-R5", dec!(12.50)))
            .await
            .unwrap();
        assert_eq!(first, again);
        let error = rig
            .failover
            .initiate_payment(&psu(), &request("E2E-R5", dec!(99.00)))
            .await
            .unwrap_err();
        match &error {
            BankError::InvalidInput(invalid) => {
                assert_eq!(invalid.field, "endToEndIdentification", "{error}")
            }
            other => panic!("expected a refusal naming the field, got {other}"),
        }
        assert_eq!(rig.api.calls(), 1, "one order sent, once");
    }

    /// r5: after a rejected order, a different order with the same end-to-end id is sent (a rejection
    /// made no payment), and is not refused as a duplicate.
    #[tokio::test(start_paused = true)]
    async fn r5_after_a_rejection_a_different_order_with_the_same_end_to_end_id_is_sent() {
        let rig = Rig::new(Script::Rejects, Script::Serves, None);
        let error = rig
            .failover
            .initiate_payment(&psu(), &request("E2E-RJ", dec!(5000.00)))
            .await
            .unwrap_err();
        assert!(error.is_rejected(), "{error}");
        *rig.api.script.lock().unwrap() = Script::Serves;
        let done = rig
            .failover
            .initiate_payment(&psu(), &request("E2E-RJ", dec!(50.00)))
            .await
            .unwrap();
        assert_eq!(done, initiation());
        assert_eq!(rig.api.calls(), 2);
    }

    /// r6: concurrent identical initiations wait for the first and all get its payment; the bank sees
    /// one.
    #[tokio::test(start_paused = true)]
    async fn r6_concurrent_identical_initiations_are_sent_once_and_all_answered() {
        let rig = Rig::new(Script::Serves, Script::Serves, None);
        let order = request("E2E-CONC", dec!(12.50));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (failover, order) = (rig.failover.clone(), order.clone());
            calls.spawn(async move { failover.initiate_payment(&psu(), &order).await });
        }
        while let Some(answer) = calls.join_next().await {
            assert_eq!(answer.unwrap().unwrap(), initiation());
        }
        assert_eq!(rig.api.calls(), 1);
    }

    /// r6: when the journal fails *after* the bank accepted, the caller hears of the payment, never
    /// "nothing was sent"; when it fails to record an in-doubt outcome, the caller hears "outcome
    /// unknown".
    #[tokio::test(start_paused = true)]
    async fn r6_a_journal_failure_after_the_send_is_never_reported_as_not_sent() {
        let dir =
            std::env::temp_dir().join(format!("psd2-fallback-failover-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = Arc::new(LosesUpdates {
            inner: SqliteJournal::open(&dir.join("journal.sqlite")).unwrap(),
            lost: IntentState::Accepted,
        });
        let api = Scripted::new(Channel::Api, Script::Serves);
        let screen = Scripted::new(Channel::Screen, Script::Serves);
        let failover = Failover::new(
            FailoverConfig::new("sandbox"),
            api.clone(),
            screen,
            Health::new("sandbox", HealthConfig::default()),
            journal.clone(),
        );
        let done = failover
            .initiate_payment(&psu(), &request("E2E-JF", dec!(12.50)))
            .await
            .expect("the bank accepted: the caller gets the payment");
        assert_eq!(done, initiation());
        assert_eq!(
            journal.open_intents().unwrap().len(),
            1,
            "the intent stays open for resume to find"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// r6: `resume` settles only intents whose customer it has a context for; another customer's
    /// open intent is left open, and no channel is asked about it with the wrong login.
    #[tokio::test(start_paused = true)]
    async fn r6_resume_leaves_another_customers_intent_for_their_own_context() {
        let rig = Rig::new(Script::Serves, Script::Serves, None);
        let open = |psu: &str, e2e: &str| Intent {
            key: format!("sandbox:{psu}:payment:BE68539007547034:{e2e}:f"),
            bank: "sandbox".to_owned(),
            psu: psu.to_owned(),
            end_to_end_id: e2e.to_owned(),
            debtor: "BE68539007547034".to_owned(),
            operation: Operation::Payment,
            fingerprint: "f".to_owned(),
            request: String::new(),
            state: IntentState::Recorded,
            payment: None,
            status: None,
            note: String::new(),
        };
        for (psu, e2e) in [("1000001", "E2E-MINE"), ("1000002", "E2E-THEIRS")] {
            let intent = rig.journal.record_intent(&open(psu, e2e)).unwrap();
            rig.journal
                .update_intent(
                    &intent.key,
                    IntentState::InDoubt(Channel::Api),
                    None,
                    None,
                    "lost",
                )
                .unwrap();
        }
        // A context provider that would (wrongly) give the current login for anyone.
        let (settled, doubtful) = rig.failover.resume(|_| Some(psu())).await.unwrap();
        assert_eq!((settled, doubtful), (1, 0));
        let left = rig.journal.open_intents().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].psu, "1000002");
        assert_eq!(
            rig.screen.calls() + rig.api.calls(),
            1,
            "only my intent was looked up"
        );
    }

    /// The read path: the API is unavailable, the website serves the same call, the API's failure
    /// reaches health, and the website access is logged with the switch it caused.
    #[tokio::test(start_paused = true)]
    async fn an_unavailable_api_is_served_by_the_website_in_the_same_call() {
        let rig = Rig::new(Script::Unavailable, Script::Serves, None);
        assert_eq!(rig.failover.accounts(&psu()).await.unwrap(), []);
        assert_eq!((rig.api.calls(), rig.screen.calls()), (1, 1));
        assert_eq!(rig.failover.health().mode(), Mode::Fallback);
        let accesses = rig.accesses();
        assert_eq!(accesses.len(), 1);
        assert_eq!(accesses[0].data, "accounts");
        assert!(
            accesses[0].switch_event.is_some(),
            "the access names the switch that justified it"
        );
        // On the fallback the website is asked first, and the API not at all.
        rig.failover
            .payment_status(&psu(), &initiation().payment)
            .await
            .unwrap();
        assert_eq!((rig.api.calls(), rig.screen.calls()), (1, 2));
        assert_eq!(rig.accesses()[1].data, "payment pmt-1");
    }

    /// Unattended reads are limited by the consent's own `frequencyPerDay`, as the journal recorded it,
    /// on whichever channel serves them.
    #[tokio::test(start_paused = true)]
    async fn a_consents_frequency_per_day_limits_unattended_reads() {
        let rig = Rig::new(Script::Unavailable, Script::Serves, None);
        let consent = Consent {
            id: ConsentId::new("c-1"),
            request: ConsentRequest {
                access: crate::model::ConsentAccess::default(),
                recurring: true,
                valid_until: OffsetDateTime::now_utc().date(),
                frequency_per_day: 1,
            },
            status: ConsentStatus::Valid,
        };
        rig.journal
            .record_consent("sandbox", "1000001", &consent)
            .unwrap();
        let under = psu().with_consent(consent.id.clone());
        let account = AccountId::new("acc-01");
        rig.failover.balances(&under, &account, None).await.unwrap();
        let error = rig
            .failover
            .balances(&under, &account, None)
            .await
            .unwrap_err();
        assert!(matches!(error, BankError::LimitReached { .. }), "{error}");
    }

    /// A rejection is the bank's answer: it is returned as it is, never sent to the other channel and
    /// never counted against the API's health.
    #[tokio::test(start_paused = true)]
    async fn a_rejection_is_an_answer_and_moves_nothing() {
        let rig = Rig::new(Script::Rejects, Script::Serves, None);
        let error = rig.failover.accounts(&psu()).await.unwrap_err();
        assert!(error.is_rejected(), "{error}");
        let error = rig
            .failover
            .cancel_payment(&psu(), &initiation().payment)
            .await
            .unwrap_err();
        assert!(error.is_rejected(), "{error}");
        assert_eq!((rig.api.calls(), rig.screen.calls()), (2, 0));
        assert_eq!(rig.failover.health().mode(), Mode::Api);
        assert!(rig.accesses().is_empty());
    }

    /// r7: one caller cannot switch a bank for everyone. Requests that fail because of what the caller
    /// sent — refused before sending, or rejected by the bank — never count against the bank, and the
    /// ones never sent do not count for it either: they cannot hide a real outage from the RTS rule.
    #[tokio::test(start_paused = true)]
    async fn r7_requests_failing_on_what_the_caller_sent_never_switch_the_bank() {
        let rig = Rig::with_health(Script::Invalid, Script::Serves, HealthConfig::default());
        for i in 0..6 {
            rig.script_api(if i % 2 == 0 {
                Script::Invalid
            } else {
                Script::Rejects
            });
            let error = rig.failover.accounts(&psu()).await.unwrap_err();
            assert!(
                matches!(
                    error,
                    BankError::InvalidInput(_) | BankError::Rejected { .. }
                ),
                "{error}"
            );
        }
        assert_eq!(rig.failover.health().mode(), Mode::Api);
        assert_eq!(rig.switches(), Vec::<String>::new(), "no switch journalled");
        assert_eq!(rig.screen.calls(), 0, "the website was never used");

        // During a real outage, the same crafted requests do not reset the count of requests not
        // answered: the fifth unanswered one still trips the RTS rule.
        for _ in 0..4 {
            rig.script_api(Script::Unavailable);
            rig.failover.accounts(&psu()).await.unwrap();
            rig.script_api(Script::Invalid);
            rig.failover.accounts(&psu()).await.unwrap_err();
        }
        assert_eq!(rig.failover.health().mode(), Mode::Api);
        rig.script_api(Script::Unavailable);
        rig.failover.accounts(&psu()).await.unwrap();
        assert_eq!(rig.failover.health().mode(), Mode::Fallback);
        assert_eq!(
            rig.switches(),
            ["policy tripped: RTS Art. 33(1): 5 consecutive requests not answered within 30s"]
        );
    }

    /// r8: an API that answers at once with one unusable field is no outage. The read is served by
    /// the website within the same call; the RTS rule never counts it, and no switch is journalled.
    #[tokio::test(start_paused = true)]
    async fn r8_an_answer_with_one_unusable_field_is_served_elsewhere_and_never_counts_toward_rts()
    {
        let rig = Rig::with_health(Script::Unusable, Script::Serves, HealthConfig::default());
        for _ in 0..6 {
            assert_eq!(rig.failover.accounts(&psu()).await.unwrap(), []);
        }
        assert_eq!((rig.api.calls(), rig.screen.calls()), (6, 6));
        assert_eq!(rig.failover.health().mode(), Mode::Api);
        assert_eq!(rig.switches(), Vec::<String>::new());
    }

    /// When every channel is unavailable the caller gets the last channel's error; an exempt bank has
    /// only its API and says why.
    #[tokio::test(start_paused = true)]
    async fn when_no_channel_serves_the_last_error_is_returned() {
        let rig = Rig::new(Script::Unavailable, Script::Unavailable, None);
        let error = rig.failover.accounts(&psu()).await.unwrap_err();
        assert!(
            matches!(
                error,
                BankError::Unavailable {
                    channel: Channel::Screen,
                    ..
                }
            ),
            "{error}"
        );

        let exempt = Rig::new(
            Script::Unavailable,
            Script::Serves,
            Some("exempt since 2026"),
        );
        let error = exempt.failover.accounts(&psu()).await.unwrap_err();
        assert!(matches!(error, BankError::FallbackExempt { .. }), "{error}");
        assert_eq!((exempt.api.calls(), exempt.screen.calls()), (1, 0));
    }

    /// A write the API did not receive moves to the website within the same call, and the journal
    /// follows each attempt to the end.
    #[tokio::test(start_paused = true)]
    async fn a_write_not_sent_moves_to_the_other_channel() {
        let rig = Rig::new(Script::Unavailable, Script::Serves, None);
        let request = PaymentRequest {
            product: PaymentProduct::SepaCreditTransfer,
            debtor: Iban::parse("BE68539007547034").unwrap(),
            creditor_name: "Garage Vermeulen".to_owned(),
            creditor: Iban::parse("BE71096123456769").unwrap(),
            amount: Amount::eur(dec!(12.50)).unwrap(),
            remittance: None,
            requested_execution_date: None,
            end_to_end_id: EndToEndId::generate(),
        };
        let done = rig
            .failover
            .initiate_payment(&psu(), &request)
            .await
            .unwrap();
        assert_eq!(done, initiation());
        assert_eq!((rig.api.calls(), rig.screen.calls()), (1, 1));
        let key = rig.journal.keys().intent(&format!(
            "sandbox:1000001:payment:BE68539007547034:{}:{}",
            request.end_to_end_id.as_str(),
            crate::fingerprint::payment(&request)
        ));
        let intent = rig.journal.intent(&key).unwrap().expect("journalled");
        assert_eq!(
            (intent.operation, intent.state, intent.payment),
            (
                Operation::Payment,
                IntentState::Accepted,
                Some(initiation().payment)
            )
        );
        assert_eq!(intent.note, "accepted through the screen channel");
        assert_eq!(
            rig.accesses()[0].data,
            format!("write {}", request.end_to_end_id.as_str())
        );
    }
}
