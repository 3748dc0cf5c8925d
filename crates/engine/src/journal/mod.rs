//! The journal: the one place the engine's promises are kept across crashes.
//!
//! It holds payment intents and their states (recorded *before* the first attempt, so a crash at any
//! point leaves a trace to reconcile), switch events, the fallback data-access log (RTS Art. 33(5):
//! which data, for which customer, when, under which switch event) and the unattended-access counters
//! (Art. 36(5)). [`JournalStore`] is the small trait a store implements; [`SqliteJournal`] is the
//! embedded default (one SQLite file, WAL, every commit durable); `PostgresJournal` (feature
//! `postgres`) is the same trait on a PostgreSQL database that several replicas share.
//!
//! No customer identifier is a key in clear: consent ids, IBANs and PSU ids are keyed by
//! [`JournalKeys`] (a keyed hash), which every store calls; an intent's key is hashed by the failover
//! before any store sees it. Data the engine reads back (an intent's customer and debtor, to settle it
//! in that customer's context; a consent's accounts, to enforce it; the access log's customer, for the
//! regulator) is kept as it is.
//!
//! The journal knows nothing of the resilience service's callers: who made which consent or payment
//! through the service is kept by the service, in its own store.
//!
//! The journal has its own row shapes: only this module and its stores know them.

mod keys;
#[cfg(feature = "postgres")]
mod leases;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_tls;
mod sqlite;

use std::fmt;
use std::path::PathBuf;

use time::{Date, OffsetDateTime};

pub use keys::JournalKeys;
#[cfg(feature = "postgres")]
pub use leases::HealthShare;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresJournal, replica_name};
pub use sqlite::{SqliteJournal, owner_only};

use crate::bank::Channel;
use crate::health::{Mode, SwitchCause, SwitchEvent};
use crate::model::{
    AccountScope, Consent, ConsentAccess, ConsentId, ConsentRequest, ConsentStatus, Iban,
    PaymentId, PaymentKind, PaymentProduct, PaymentRef, PaymentStatus,
};

/// A journal operation that failed, with the underlying error as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The journal file could not be opened or prepared (schema, pragmas, upgrade).
    #[error("journal: {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A read or a write of the store failed.
    #[error("journal: {source}")]
    Store {
        /// What SQLite said.
        #[from]
        source: rusqlite::Error,
    },
    /// A column holds a code this version does not know: the journal was written by a newer
    /// version, or damaged.
    #[error("journal: {column} holds an unknown value {value:?}")]
    UnknownCode {
        /// The table and column, e.g. `intents.state`.
        column: &'static str,
        /// What it holds.
        value: String,
    },
    /// A column holds a value that does not parse (a timestamp).
    #[error("journal: {column} holds an unreadable value: {source}")]
    Unreadable {
        /// The table and column, e.g. `switches.at`.
        column: &'static str,
        /// Why it does not parse.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An update named an intent the journal does not hold.
    #[error("journal: no intent with key {key:?}")]
    UnknownIntent {
        /// The idempotency key.
        key: String,
    },
    /// The journal's keys (the secret of its keyed hashes) could not be read, made or used.
    #[error("journal key: {what}")]
    Key {
        /// What went wrong, naming the file or setting (never the secret).
        what: String,
    },
    /// The journal's keys are missing for a journal whose keys are hashed: without the same secret
    /// no row could be found again, so the journal is refused rather than silently started afresh.
    #[error("journal: {}: its key file {} is missing; restore it (a journal's keys cannot be read without it)", journal.display(), key_file.display())]
    KeyMissing {
        /// The journal.
        journal: PathBuf,
        /// The key file it needs.
        key_file: PathBuf,
    },
    /// The PostgreSQL journal failed: connecting, migrating, or a statement (the database URL and
    /// its password are never part of it).
    #[error("journal: PostgreSQL: {what}: {message}")]
    Postgres {
        /// What was being done.
        what: &'static str,
        /// What the database or the driver said (the database's message, naming a constraint that
        /// refused a write; never the values of the row).
        message: String,
        /// What the driver or the pool said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[cfg(feature = "postgres")]
impl JournalError {
    /// A PostgreSQL failure that is not the driver's own error (a pool, a TLS setting, a row the
    /// journal cannot read): `what` was being done, `message` what went wrong.
    pub(crate) fn postgres(what: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        JournalError::Postgres {
            what,
            source: message.clone().into(),
            message,
        }
    }
}

/// What the journal returns.
pub type JournalResult<T> = Result<T, JournalError>;

/// Where an intent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentState {
    /// Recorded; no attempt yet.
    Recorded,
    /// Sent (or being sent) on a channel; no answer yet.
    Attempting(Channel),
    /// Known not to have reached the bank on any channel tried.
    NotSent,
    /// The bank holds it (a payment id is known); it may wait for a signature.
    Accepted,
    /// The outcome on a channel is unknown: it may have been executed. Must be reconciled.
    InDoubt(Channel),
    /// The bank refused it.
    Rejected,
}

impl IntentState {
    fn to_row(self) -> (&'static str, Option<&'static str>) {
        match self {
            IntentState::Recorded => ("recorded", None),
            IntentState::Attempting(c) => ("attempting", Some(channel_code(c))),
            IntentState::NotSent => ("not-sent", None),
            IntentState::Accepted => ("accepted", None),
            IntentState::InDoubt(c) => ("in-doubt", Some(channel_code(c))),
            IntentState::Rejected => ("rejected", None),
        }
    }

    fn from_row(state: &str, channel: Option<&str>) -> JournalResult<Self> {
        let channel = || match channel {
            Some(code) => channel_of(code),
            None => Err(unknown("intents.channel", "NULL")),
        };
        Ok(match state {
            "recorded" => IntentState::Recorded,
            "attempting" => IntentState::Attempting(channel()?),
            "not-sent" => IntentState::NotSent,
            "accepted" => IntentState::Accepted,
            "in-doubt" => IntentState::InDoubt(channel()?),
            "rejected" => IntentState::Rejected,
            other => return Err(unknown("intents.state", other)),
        })
    }

    /// Whether the intent still needs the engine: it was (maybe) sent and its outcome is not settled.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            IntentState::Recorded | IntentState::Attempting(_) | IntentState::InDoubt(_)
        )
    }
}

fn unknown(column: &'static str, value: &str) -> JournalError {
    JournalError::UnknownCode {
        column,
        value: value.to_owned(),
    }
}

fn channel_code(channel: Channel) -> &'static str {
    match channel {
        Channel::Api => "api",
        Channel::Screen => "screen",
    }
}

fn channel_of(code: &str) -> JournalResult<Channel> {
    match code {
        "api" => Ok(Channel::Api),
        "screen" => Ok(Channel::Screen),
        other => Err(unknown("intents.channel", other)),
    }
}

fn mode_code(mode: Mode) -> &'static str {
    match mode {
        Mode::Api => "api",
        Mode::Fallback => "fallback",
        Mode::Probing => "probing",
    }
}

fn mode_of(column: &'static str, code: &str) -> JournalResult<Mode> {
    match code {
        "api" => Ok(Mode::Api),
        "fallback" => Ok(Mode::Fallback),
        "probing" => Ok(Mode::Probing),
        other => Err(unknown(column, other)),
    }
}

fn cause_code(cause: SwitchCause) -> &'static str {
    match cause {
        SwitchCause::Measured => "measured",
        SwitchCause::Override => "override",
    }
}

fn cause_of(code: &str) -> JournalResult<SwitchCause> {
    match code {
        "measured" => Ok(SwitchCause::Measured),
        "override" => Ok(SwitchCause::Override),
        other => Err(unknown("switches.cause", other)),
    }
}

/// What kind of write an intent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A single payment.
    Payment,
    /// A standing order (a periodic payment).
    StandingOrder,
    /// A payment file (pain.001).
    File,
}

impl Operation {
    /// The operation's code: `payment`, `standing-order`, `file`. Stable: it is stored in the journal
    /// and is part of every idempotency key.
    pub fn code(self) -> &'static str {
        match self {
            Operation::Payment => "payment",
            Operation::StandingOrder => "standing-order",
            Operation::File => "file",
        }
    }

    fn from_code(code: &str) -> JournalResult<Self> {
        match code {
            "payment" => Ok(Operation::Payment),
            "standing-order" => Ok(Operation::StandingOrder),
            "file" => Ok(Operation::File),
            other => Err(unknown("intents.operation", other)),
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A write the engine was asked to make, as journalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The idempotency key, hashed ([`JournalKeys::intent`]): one key, at most one payment.
    pub key: String,
    /// The bank.
    pub bank: String,
    /// The customer.
    pub psu: String,
    /// The end-to-end id by which the payment is found again.
    pub end_to_end_id: String,
    /// The debtor account (electronic IBAN).
    pub debtor: String,
    /// What kind of write.
    pub operation: Operation,
    /// The fingerprint of the write's content ([`crate::fingerprint`]): two intents with one end-to-end
    /// id and one debtor are the same write only when their fingerprints agree. Empty for intents an
    /// earlier version journalled.
    pub fingerprint: String,
    /// The request, in the journal's own serialised form (no secrets).
    pub request: String,
    /// Where it stands.
    pub state: IntentState,
    /// The bank's resource, once known.
    pub payment: Option<PaymentRef>,
    /// The last status the bank gave.
    pub status: Option<PaymentStatus>,
    /// What happened last, in words.
    pub note: String,
}

/// One entry of the fallback data-access log (RTS Art. 33(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// When.
    pub at: OffsetDateTime,
    /// The bank.
    pub bank: String,
    /// The customer.
    pub psu: String,
    /// The data accessed: `accounts`, `balances acc-01`, `transactions acc-01 2026-01-01..`, `payment pmt-1`.
    pub data: String,
    /// The switch event that justified using the fallback, if the journal holds it.
    pub switch_event: Option<i64>,
}

/// A switch event as stored, with its durable id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSwitch {
    /// The journal's id.
    pub id: i64,
    /// The bank.
    pub bank: String,
    /// The mode before: measured health for a measured switch, the mode in force for an override.
    pub from: Mode,
    /// The mode after, in the same sense.
    pub to: Mode,
    /// Whether measured health or an operator's override made the switch.
    pub cause: SwitchCause,
    /// Why, in words.
    pub reason: String,
    /// What was measured.
    pub evidence: String,
    /// When.
    pub at: OffsetDateTime,
    /// Where the downtime began, for a switch to the fallback.
    pub downtime_started: Option<OffsetDateTime>,
}

/// What a journal store does. Implementations must make each call durable before returning.
pub trait JournalStore: Send + Sync + fmt::Debug {
    /// The keyed hashes this store keys rows on; the failover hashes an intent's key with them.
    fn keys(&self) -> &JournalKeys;
    /// Records an intent before its first attempt, atomically with two checks. When the key is known
    /// already, nothing is written and the stored intent is returned (so a repeated request never makes
    /// a second payment). When another intent of the same bank, operation and debtor holds the same
    /// end-to-end id with another fingerprint and was not rejected, nothing is written and *that*
    /// intent is returned: its key differs from the one asked for, and the caller refuses the write.
    fn record_intent(&self, intent: &Intent) -> JournalResult<Intent>;
    /// Moves an intent to a new state, with what is known of its payment.
    fn update_intent(
        &self,
        key: &str,
        state: IntentState,
        payment: Option<&PaymentRef>,
        status: Option<PaymentStatus>,
        note: &str,
    ) -> JournalResult<()>;
    /// An intent by key.
    fn intent(&self, key: &str) -> JournalResult<Option<Intent>>;
    /// Every intent still open (recorded, attempting or in doubt), oldest first.
    fn open_intents(&self) -> JournalResult<Vec<Intent>>;
    /// Claims an open intent for this process for at most `hold`, so that of the processes sharing
    /// the journal one at a time reconciles it: `false` when another process holds a live claim on
    /// it. A journal that one process alone writes needs no claim (the default: always `true`; the
    /// failover's own lock keeps its calls apart).
    fn claim_intent(&self, key: &str, hold: std::time::Duration) -> JournalResult<bool> {
        let _ = (key, hold);
        Ok(true)
    }
    /// Gives up this process's claim on an intent (none: nothing happens).
    fn release_intent(&self, key: &str) -> JournalResult<()> {
        let _ = key;
        Ok(())
    }
    /// Stores a switch event; returns its durable id.
    fn record_switch(&self, event: &SwitchEvent) -> JournalResult<i64>;
    /// The switch events of a bank between two instants, oldest first.
    fn switches(
        &self,
        bank: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> JournalResult<Vec<StoredSwitch>>;
    /// Logs one access to data through the fallback.
    fn log_access(&self, entry: &AccessEntry) -> JournalResult<()>;
    /// The access log of one day (UTC).
    fn access_log(&self, day: Date) -> JournalResult<Vec<AccessEntry>>;
    /// Counts one unattended read of an account on a day, unless `limit` reads were counted already:
    /// `Ok(count)` after counting, `Err(count)` when refused.
    fn count_unattended(
        &self,
        bank: &str,
        psu: &str,
        account: &str,
        day: Date,
        limit: u32,
    ) -> JournalResult<Result<u32, u32>>;
    /// Records a consent made through the engine (what it gives access to, until when, how often, its
    /// status) for `psu`, so the website channel can enforce it as the bank's API would, whichever
    /// channel made it. A consent recorded again is replaced.
    fn record_consent(&self, bank: &str, psu: &str, consent: &Consent) -> JournalResult<()>;
    /// A recorded consent of a bank, with the customer it was made for.
    fn consent(&self, bank: &str, id: &str) -> JournalResult<Option<(String, Consent)>>;
    /// Sets a recorded consent's status (after its SCA, or as the bank's API reported it); a consent
    /// not recorded is left alone.
    fn set_consent_status(&self, bank: &str, id: &str, status: ConsentStatus) -> JournalResult<()>;
}
fn timestamp(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats as RFC 3339")
}

fn parse_timestamp(column: &'static str, text: &str) -> JournalResult<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
        JournalError::Unreadable {
            column,
            source: Box::new(e),
        }
    })
}
/// An `intents` row as a store holds it: text codes, turned into types by [`IntentRow::into_intent`].
struct IntentRow {
    key: String,
    bank: String,
    psu: String,
    end_to_end_id: String,
    debtor: String,
    operation: String,
    fingerprint: String,
    request: String,
    state: String,
    channel: Option<String>,
    payment_kind: Option<String>,
    payment_id: Option<String>,
    status: Option<String>,
    note: String,
}

impl IntentRow {
    fn into_intent(self) -> JournalResult<Intent> {
        Ok(Intent {
            state: IntentState::from_row(&self.state, self.channel.as_deref())?,
            operation: Operation::from_code(&self.operation)?,
            payment: match (self.payment_kind, self.payment_id) {
                (Some(kind), Some(id)) => Some(PaymentRef {
                    kind: kind_from_row(&kind)
                        .ok_or_else(|| unknown("intents.payment_kind", &kind))?,
                    id: PaymentId::new(id),
                }),
                _ => None,
            },
            status: self
                .status
                .map(|s| PaymentStatus::from_code(&s).ok_or_else(|| unknown("intents.status", &s)))
                .transpose()?,
            key: self.key,
            bank: self.bank,
            psu: self.psu,
            end_to_end_id: self.end_to_end_id,
            debtor: self.debtor,
            fingerprint: self.fingerprint,
            request: self.request,
            note: self.note,
        })
    }
}

/// A `switches` row as a store holds it (times as RFC 3339 text).
struct SwitchRow {
    id: i64,
    bank: String,
    from: String,
    to: String,
    cause: String,
    reason: String,
    evidence: String,
    at: String,
    downtime_started: Option<String>,
}

impl SwitchRow {
    fn into_switch(self) -> JournalResult<StoredSwitch> {
        Ok(StoredSwitch {
            id: self.id,
            bank: self.bank,
            from: mode_of("switches.from_mode", &self.from)?,
            to: mode_of("switches.to_mode", &self.to)?,
            cause: cause_of(&self.cause)?,
            reason: self.reason,
            evidence: self.evidence,
            at: parse_timestamp("switches.at", &self.at)?,
            downtime_started: self
                .downtime_started
                .as_deref()
                .map(|t| parse_timestamp("switches.downtime_started", t))
                .transpose()?,
        })
    }
}

fn kind_to_row(kind: PaymentKind) -> String {
    match kind {
        PaymentKind::Single(p) => format!("payments/{}", p.code()),
        PaymentKind::Periodic(p) => format!("periodic-payments/{}", p.code()),
        PaymentKind::File => "bulk-payments".to_owned(),
    }
}

fn kind_from_row(text: &str) -> Option<PaymentKind> {
    if text == "bulk-payments" {
        return Some(PaymentKind::File);
    }
    let (service, product) = text.split_once('/')?;
    let product = PaymentProduct::from_code(product)?;
    match service {
        "payments" => Some(PaymentKind::Single(product)),
        "periodic-payments" => Some(PaymentKind::Periodic(product)),
        _ => None,
    }
}
/// The `accounts` column of a stored consent: its IBANs separated by spaces, after the word of its
/// scope ([`AccountScope::code`]) when it reaches accounts beyond its lists (`allPsd2`,
/// `bankOffered BE68…`). Rows written before consents had scopes hold IBANs only: `Listed`. The
/// owner store of the resilience service keeps its copy the same way.
pub fn accounts_column(access: &ConsentAccess) -> String {
    let scope = (access.scope != AccountScope::Listed).then(|| access.scope.code());
    scope
        .into_iter()
        .chain(access.accounts.iter().map(Iban::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An `accounts` column ([`accounts_column`]) split into the consent's scope and its IBAN words.
pub fn split_accounts_column(text: &str) -> (AccountScope, &str) {
    let text = text.trim_start();
    let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
    match AccountScope::from_code(first) {
        Some(scope) => (scope, rest),
        None => (AccountScope::Listed, text),
    }
}

/// A `consents` row as a store holds it (the IBAN lists space-separated), turned into a [`Consent`] by
/// [`ConsentRow::into_consent`].
struct ConsentRow {
    psu: String,
    accounts: String,
    balances: String,
    transactions: String,
    recurring: bool,
    valid_until: String,
    frequency_per_day: u32,
    status: String,
}

impl ConsentRow {
    /// The row of a consent (its id is the key, kept apart).
    fn of(psu: &str, consent: &Consent) -> Self {
        let list = |ibans: &[Iban]| {
            ibans
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let request = &consent.request;
        Self {
            psu: psu.to_owned(),
            accounts: accounts_column(&request.access),
            balances: list(&request.access.balances),
            transactions: list(&request.access.transactions),
            recurring: request.recurring,
            valid_until: request.valid_until.to_string(),
            frequency_per_day: request.frequency_per_day,
            status: consent.status.code().to_owned(),
        }
    }

    fn into_consent(self, id: &str) -> JournalResult<(String, Consent)> {
        let list = |column: &'static str, text: &str| -> JournalResult<Vec<Iban>> {
            text.split_whitespace()
                .map(|i| {
                    Iban::parse(i).map_err(|e| JournalError::Unreadable {
                        column,
                        source: Box::new(e),
                    })
                })
                .collect()
        };
        let valid_until =
            crate::model::belgian::parse_iso_date(&self.valid_until).map_err(|e| {
                JournalError::Unreadable {
                    column: "consents.valid_until",
                    source: Box::new(e),
                }
            })?;
        let status = ConsentStatus::from_code(&self.status)
            .ok_or_else(|| unknown("consents.status", &self.status))?;
        let (scope, accounts) = split_accounts_column(&self.accounts);
        Ok((
            self.psu,
            Consent {
                id: ConsentId::new(id),
                request: ConsentRequest {
                    access: ConsentAccess {
                        accounts: list("consents.accounts", accounts)?,
                        balances: list("consents.balances", &self.balances)?,
                        transactions: list("consents.transactions", &self.transactions)?,
                        scope,
                    },
                    recurring: self.recurring,
                    valid_until,
                    frequency_per_day: self.frequency_per_day,
                },
                status,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{accounts_column, split_accounts_column};
    use crate::model::{AccountScope, ConsentAccess, Iban};

    #[test]
    fn a_scope_is_kept_ahead_of_the_ibans_and_old_rows_read_as_listed() {
        let iban = Iban::parse("BE68539007547034").unwrap();
        let picked = ConsentAccess {
            scope: AccountScope::BankOffered,
            ..ConsentAccess::full(vec![iban.clone()])
        };
        assert_eq!(accounts_column(&picked), "bankOffered BE68539007547034");
        assert_eq!(
            split_accounts_column("bankOffered BE68539007547034"),
            (AccountScope::BankOffered, "BE68539007547034")
        );
        assert_eq!(
            accounts_column(&ConsentAccess::scoped(AccountScope::AllPsd2)),
            "allPsd2"
        );
        assert_eq!(
            split_accounts_column("allPsd2"),
            (AccountScope::AllPsd2, "")
        );
        assert_eq!(
            split_accounts_column("BE68539007547034"),
            (AccountScope::Listed, "BE68539007547034")
        );
        assert_eq!(split_accounts_column(""), (AccountScope::Listed, ""));
    }
}
