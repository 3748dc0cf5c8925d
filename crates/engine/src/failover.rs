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

use std::sync::Arc;

use async_trait::async_trait;
use time::{Date, OffsetDateTime};
use tokio::time::Instant;

use crate::bank::{Bank, BankError, BankResult, Channel, PsuContext};
use crate::health::{CallOutcome, Health, Mode};
use crate::journal::{AccessEntry, Intent, IntentState, JournalError, JournalStore, Operation};
use crate::model::belgian::format_iso_date;
use crate::model::{
    Account, AccountId, Amount, AuthorisationId, Balance, ConsentId, ConsentRequest, ConsentStatus,
    FundsConfirmation, Iban, PaymentFile, PaymentInitiation, PaymentRef, PaymentRequest,
    PaymentStatus, ScaAnswer, ScaChallenge, ScaStatus, ScaTarget, StandingOrderRequest,
    Transaction, TransactionFilter,
};

/// A boxed future, as the `Bank` trait's methods return.
use crate::BoxFuture;

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
    /// before they are announced.
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
        }
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

    /// Feeds the outcome of an API call to health. Only the absence of an answer counts against it.
    fn observe<T>(&self, channel: Channel, started: Instant, result: &BankResult<T>) {
        if channel != Channel::Api {
            return;
        }
        let elapsed = started.elapsed();
        match result {
            Err(e @ (BankError::Unavailable { .. } | BankError::OutcomeUnknown { .. })) => {
                self.health
                    .record(CallOutcome::Failed(elapsed), Some(&e.to_string()));
            }
            _ => self.health.record(CallOutcome::Answered(elapsed), None),
        }
    }

    /// Logs an access through the website with the switch that justified it (RTS Art. 33(5)).
    fn log_access(&self, psu: &PsuContext, data: &str) {
        let entry = AccessEntry {
            at: OffsetDateTime::now_utc(),
            bank: self.config.bank.clone(),
            psu: psu.psu_id.as_str().to_owned(),
            data: data.to_owned(),
            switch_event: self.health.justification(),
        };
        if let Err(error) = self.journal.log_access(&entry) {
            tracing::error!(%error, "a fallback access could not be logged");
        }
    }

    /// Counts an unattended read of an account's data (RTS Art. 36(5)), whatever channel serves it.
    fn count_unattended(&self, psu: &PsuContext, account: &AccountId) -> BankResult<()> {
        if psu.ip_address.is_some() {
            return Ok(());
        }
        let today: Date = OffsetDateTime::now_utc().date();
        let limit = self.config.unattended_reads_per_day;
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
            Ok(_) => Ok(()),
            Err(count) => Err(BankError::LimitReached {
                limit: format!(
                    "account {account} was read {count} times today without the customer present; RTS Art. 36(5) allows {limit}"
                ),
                retry_after: None,
            }),
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

/// Serves a read through the route: the first channel, and on *unavailable* the next, in the same call.
macro_rules! read {
    ($self:ident, $psu:expr, $data:expr, |$bank:ident| $call:expr) => {{
        let mut last = None;
        let data: &str = &$data;
        for channel in $self.route() {
            if channel == Channel::Screen {
                $self.log_access($psu, data);
            }
            let started = Instant::now();
            let $bank = $self.bank(channel);
            let result = $call.await;
            $self.observe(channel, started, &result);
            match result {
                Err(error) if error.triggers_switch() => {
                    tracing::info!(bank = %$self.config.bank, %channel, %error, "unavailable; trying the other channel");
                    last = Some(error);
                }
                other => return other,
            }
        }
        Err($self.exempt_error(last.expect("a route has at least one channel")))
    }};
}

/// What a write is, for the journal.
struct WriteIntent<'a> {
    operation: Operation,
    debtor: &'a Iban,
    /// The end-to-end id (a file's message id) by which it is found again.
    reference: &'a str,
    request: String,
}

impl Failover {
    fn intent_key(&self, psu: &PsuContext, write: &WriteIntent<'_>) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.config.bank,
            psu.psu_id,
            write.operation.code(),
            write.debtor,
            write.reference
        )
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
        let key = self.intent_key(psu, &write);
        let stored = self
            .journal
            .record_intent(&Intent {
                key: key.clone(),
                bank: self.config.bank.clone(),
                psu: psu.psu_id.as_str().to_owned(),
                end_to_end_id: write.reference.to_owned(),
                debtor: write.debtor.as_str().to_owned(),
                operation: write.operation,
                request: write.request.clone(),
                state: IntentState::Recorded,
                payment: None,
                status: None,
                note: "recorded before the first attempt".to_owned(),
            })
            .map_err(journal_error)?;
        match stored.state {
            IntentState::Accepted => {
                if let Some(payment) = stored.payment {
                    return Ok(PaymentInitiation {
                        payment,
                        status: stored.status.unwrap_or(PaymentStatus::Received),
                    });
                }
            }
            IntentState::Rejected => {
                return Err(BankError::Rejected {
                    code: "DUPLICATE".to_owned(),
                    message: format!("intent {key} was rejected before: {}", stored.note),
                });
            }
            IntentState::InDoubt(_) | IntentState::Attempting(_) => {
                // A previous attempt may have reached the bank: find it before anything is sent.
                if let Some(found) = self
                    .reconcile(psu, &key, write.debtor, write.reference)
                    .await?
                {
                    return Ok(found);
                }
            }
            IntentState::Recorded | IntentState::NotSent => {}
        }
        self.attempt(psu, &key, write.debtor, write.reference, &send)
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
        let mut last = None;
        for channel in self.route() {
            self.update(
                key,
                IntentState::Attempting(channel),
                None,
                None,
                &format!("sending through the {channel} channel"),
            )?;
            if channel == Channel::Screen {
                self.log_access(psu, &format!("write {reference}"));
            }
            let started = Instant::now();
            let result = send(self.bank(channel)).await;
            self.observe(channel, started, &result);
            match result {
                Ok(done) => {
                    self.update(
                        key,
                        IntentState::Accepted,
                        Some(&done.payment),
                        Some(done.status),
                        &format!("accepted through the {channel} channel"),
                    )?;
                    return Ok(done);
                }
                Err(error) if error.triggers_switch() => {
                    self.update(
                        key,
                        IntentState::NotSent,
                        None,
                        None,
                        &format!("{channel}: {error}"),
                    )?;
                    last = Some(error);
                }
                Err(error) if error.is_outcome_unknown() => {
                    self.update(
                        key,
                        IntentState::InDoubt(channel),
                        None,
                        None,
                        &format!("{channel}: {error}"),
                    )?;
                    return match self.reconcile(psu, key, debtor, reference).await? {
                        Some(found) => Ok(found),
                        None => {
                            // Proven absent: the write never took effect, so it may be sent once more.
                            Box::pin(self.attempt(psu, key, debtor, reference, send)).await
                        }
                    };
                }
                Err(error) => {
                    let note = error.to_string();
                    self.update(key, IntentState::Rejected, None, None, &note)?;
                    return Err(error);
                }
            }
        }
        Err(self.exempt_error(last.expect("a route has at least one channel")))
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
                self.log_access(psu, &format!("lookup {reference}"));
            }
            match self
                .bank(channel)
                .find_payment(psu, debtor, reference)
                .await
            {
                Ok(Some((payment, status))) => {
                    self.update(
                        key,
                        IntentState::Accepted,
                        Some(&payment),
                        Some(status),
                        &format!("found through the {channel} channel"),
                    )?;
                    return Ok(Some(PaymentInitiation { payment, status }));
                }
                Ok(None) => {
                    self.update(
                        key,
                        IntentState::NotSent,
                        None,
                        None,
                        &format!("proven absent through the {channel} channel"),
                    )?;
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
    /// same request, which then sends them. `contexts` gives the customer context of an intent's PSU.
    /// Returns how many were settled and how many remain in doubt.
    pub async fn resume(
        &self,
        contexts: impl Fn(&str) -> PsuContext,
    ) -> BankResult<(usize, usize)> {
        let open = self.journal.open_intents().map_err(journal_error)?;
        let (mut settled, mut doubtful) = (0, 0);
        for intent in open.into_iter().filter(|i| i.bank == self.config.bank) {
            let psu = contexts(&intent.psu);
            let Ok(debtor) = Iban::parse(&intent.debtor) else {
                continue;
            };
            if intent.state == IntentState::Recorded {
                // Recorded but never attempted: nothing reached the bank.
                self.update(
                    &intent.key,
                    IntentState::NotSent,
                    None,
                    None,
                    "never attempted before a restart",
                )?;
                settled += 1;
                continue;
            }
            match self
                .reconcile(&psu, &intent.key, &debtor, &intent.end_to_end_id)
                .await
            {
                Ok(_) => settled += 1,
                Err(_) => doubtful += 1,
            }
        }
        Ok((settled, doubtful))
    }
}

fn accounts_data(account: &AccountId, what: &str) -> String {
    format!("{what} {account}")
}

#[async_trait]
impl Bank for Failover {
    async fn accounts(&self, psu: &PsuContext) -> BankResult<Vec<Account>> {
        read!(self, psu, "accounts", |bank| bank.accounts(psu))
    }

    async fn balances(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        at: Option<Date>,
    ) -> BankResult<Vec<Balance>> {
        self.count_unattended(psu, account)?;
        let data = match at {
            Some(day) => accounts_data(account, &format!("balance at {}", format_iso_date(day))),
            None => accounts_data(account, "balances"),
        };
        read!(self, psu, data, |bank| bank.balances(psu, account, at))
    }

    async fn transactions(
        &self,
        psu: &PsuContext,
        account: &AccountId,
        filter: &TransactionFilter,
    ) -> BankResult<Vec<Transaction>> {
        self.count_unattended(psu, account)?;
        let range = format!(
            "{}..{}",
            filter.date_from.map(format_iso_date).unwrap_or_default(),
            filter.date_to.map(format_iso_date).unwrap_or_default()
        );
        read!(
            self,
            psu,
            accounts_data(account, &format!("transactions {range}")),
            |bank| bank.transactions(psu, account, filter)
        )
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
        read!(self, psu, format!("payment {}", payment.id), |bank| bank
            .payment_status(psu, payment))
    }

    async fn cancel_payment(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
    ) -> BankResult<PaymentStatus> {
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
    ) -> BankResult<PaymentStatus> {
        self.cancel(psu, order, true).await
    }

    async fn confirm_funds(
        &self,
        psu: &PsuContext,
        account: &Iban,
        amount: &Amount,
    ) -> BankResult<FundsConfirmation> {
        read!(self, psu, format!("funds {}", account.masked()), |bank| {
            bank.confirm_funds(psu, account, amount)
        })
    }

    async fn create_consent(
        &self,
        psu: &PsuContext,
        request: &ConsentRequest,
    ) -> BankResult<ConsentId> {
        read!(self, psu, "consent", |bank| bank
            .create_consent(psu, request))
    }

    async fn consent_status(
        &self,
        psu: &PsuContext,
        consent: &ConsentId,
    ) -> BankResult<ConsentStatus> {
        read!(self, psu, "consent status", |bank| bank
            .consent_status(psu, consent))
    }

    async fn start_authorisation(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
    ) -> BankResult<ScaChallenge> {
        read!(self, psu, "authorisation", |bank| bank
            .start_authorisation(psu, target))
    }

    async fn authorise(
        &self,
        psu: &PsuContext,
        target: &ScaTarget,
        authorisation: &AuthorisationId,
        answer: &ScaAnswer,
    ) -> BankResult<ScaStatus> {
        let ScaTarget::Payment(payment) = target else {
            return read!(self, psu, "consent authorisation", |bank| bank.authorise(
                psu,
                target,
                authorisation,
                answer
            ));
        };
        // Signing is what moves money: an answer lost on the way is settled by asking the payment's
        // status, never by signing again.
        let mut last = None;
        for channel in self.route() {
            if channel == Channel::Screen {
                self.log_access(psu, &format!("sign {}", payment.id));
            }
            let started = Instant::now();
            let result = self
                .bank(channel)
                .authorise(psu, target, authorisation, answer)
                .await;
            self.observe(channel, started, &result);
            match result {
                Err(error) if error.triggers_switch() => last = Some(error),
                Err(error) if error.is_outcome_unknown() => {
                    return match self.payment_status(psu, payment).await {
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
                    };
                }
                other => return other,
            }
        }
        Err(self.exempt_error(last.expect("a route has at least one channel")))
    }

    async fn find_payment(
        &self,
        psu: &PsuContext,
        debtor: &Iban,
        end_to_end_id: &str,
    ) -> BankResult<Option<(PaymentRef, PaymentStatus)>> {
        read!(self, psu, format!("lookup {end_to_end_id}"), |bank| bank
            .find_payment(psu, debtor, end_to_end_id))
    }
}

impl Failover {
    /// Cancels through the route; a cancellation of unknown outcome is settled by the payment's status.
    async fn cancel(
        &self,
        psu: &PsuContext,
        payment: &PaymentRef,
        standing_order: bool,
    ) -> BankResult<PaymentStatus> {
        let mut last = None;
        for channel in self.route() {
            if channel == Channel::Screen {
                self.log_access(psu, &format!("cancel {}", payment.id));
            }
            let started = Instant::now();
            let bank = self.bank(channel);
            let result = if standing_order {
                bank.cancel_standing_order(psu, payment).await
            } else {
                bank.cancel_payment(psu, payment).await
            };
            self.observe(channel, started, &result);
            match result {
                Err(error) if error.triggers_switch() => last = Some(error),
                Err(error) if error.is_outcome_unknown() => {
                    return self.payment_status(psu, payment).await.or(Err(error));
                }
                other => return other,
            }
        }
        Err(self.exempt_error(last.expect("a route has at least one channel")))
    }
}
