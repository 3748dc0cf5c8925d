//! What the service serves and who may use it: [`ServiceState`] (cheap to clone, shared by every
//! handler), built from a [`BankSetup`] per bank, the journal, the owner store, the callers and the
//! [`ServiceLimits`].

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use psd2_fallback_xs2a::ApiError;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use psd2_fallback_engine::bank::{Bank, Channel};
use psd2_fallback_engine::egress::Egress;
use psd2_fallback_engine::failover::{Failover, FailoverConfig, WarmStandbyConfig};
use psd2_fallback_engine::health::Health;
use psd2_fallback_engine::identity::CertificateFacts;
use psd2_fallback_engine::journal::JournalStore;
use psd2_fallback_engine::model::ScaApproach;
use psd2_fallback_engine::screen::ScreenBank;

use crate::auth::{Caller, Callers, TokenHash};
use crate::metrics::{Metered, Metrics};
use crate::outbox::{Outbox, Webhook, Webhooks};
use crate::owners::OwnerStore;
use crate::pages::PageCache;
use crate::replay::Replays;

/// One bank the service serves: its two channels and its health. The service wraps them in a
/// `Failover`.
#[derive(Debug, Clone)]
pub struct BankSetup {
    /// The bank's name (in paths, events, metrics and the journal).
    pub name: String,
    /// The API channel (an `ApiBank`).
    pub api: Arc<dyn Bank>,
    /// The website channel (a `ScreenBank`), or any `Bank` standing in for it.
    pub screen: Arc<dyn Bank>,
    /// The bank's health.
    pub health: Arc<Health>,
    /// Unattended reads of one account per day (RTS Art. 36(5)).
    pub unattended_reads_per_day: u32,
    /// The website channel when it is a `ScreenBank`: `/metrics` shows its reads over HTTP.
    pub screen_bank: Option<ScreenBank>,
    /// The TPP's certificates for this bank (`qwac`, `qseal`) and what a bank reads in them (no
    /// secret), for `/health`, the status page, the expiry gauge and `certificate.expiring`.
    pub certificates: Vec<(String, CertificateFacts)>,
    /// The website channel's egress, when its browsers go through one: kept as long as the service,
    /// its justification following the bank's health.
    pub egress: Option<Arc<Egress>>,
    /// The warm standby of that `ScreenBank` (see `Failover::with_warm_standby`); `None`, off.
    pub warm_standby: Option<WarmStandbyConfig>,
    /// When a caller is asked for the customer's password (`fallback_password`).
    pub fallback_password: FallbackPassword,
}

/// When the service asks a caller for the customer's password (configuration key
/// `fallback_password`). A consent authorised without it (the bank redirected, or pushed to the
/// customer's app) cannot be served by the website unattended later: its reads then answer that the
/// customer must authenticate again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackPassword {
    /// Only when the bank asks for it (embedded SCA, or a bank that announced no approach): a bank
    /// that redirects or pushes to the app is never given the password. The default.
    #[default]
    WhenTheBankAsks,
    /// Always, whatever the bank's approach, and kept for the website fallback as an embedded one
    /// is — for an operator whose customers agreed to it.
    Always,
}

impl FallbackPassword {
    /// The approach a created resource's answer announces (and so which start link it carries), from
    /// the one the bank announced: none when the password is always asked.
    pub(crate) fn announce(self, announced: Option<ScaApproach>) -> Option<ScaApproach> {
        match self {
            FallbackPassword::WhenTheBankAsks => announced,
            FallbackPassword::Always => None,
        }
    }
}

impl BankSetup {
    /// A bank with the regulation's unattended-read limit (4 a day).
    pub fn new(
        name: impl Into<String>,
        api: Arc<dyn Bank>,
        screen: Arc<dyn Bank>,
        health: Arc<Health>,
    ) -> Self {
        Self {
            name: name.into(),
            api,
            screen,
            health,
            unattended_reads_per_day: 4,
            screen_bank: None,
            warm_standby: None,
            certificates: Vec::new(),
            egress: None,
            fallback_password: FallbackPassword::default(),
        }
    }
}

/// The service's limits.
#[derive(Debug, Clone)]
pub struct ServiceLimits {
    /// Requests per second one caller may make, sustained.
    pub requests_per_second: NonZeroU32,
    /// Requests one caller may make at once above the sustained rate.
    pub burst: NonZeroU32,
    /// The first wait before a failed webhook delivery is tried again; it doubles per attempt.
    pub webhook_retry: Duration,
    /// The longest wait between two attempts of a webhook delivery.
    pub webhook_retry_max: Duration,
    /// How many days before a consent's `validUntil` its `consent.expiring` event is sent.
    pub consent_notice_days: u32,
    /// How often consents are looked at for their expiry events.
    pub consent_scan: Duration,
    /// How often the writes left in doubt are reconciled again (not only at start).
    pub in_doubt_sweep: Duration,
    /// `budget.low` is sent when an unattended read leaves this many unattended reads of the account
    /// for the day, or fewer (RTS Art. 36(5)).
    pub budget_low_remaining: u32,
    /// The largest pain.001 file accepted, in bytes.
    pub max_file_bytes: usize,
    /// Transactions per page.
    pub transactions_page_size: usize,
    /// How long the pages of one transactions read are kept for `_links.next`.
    pub page_cache_ttl: Duration,
    /// How many past switch events `/events` sends on connect.
    pub events_on_connect: usize,
    /// The most transactions reads the page cache keeps at once.
    pub page_cache_reads: usize,
    /// The most bytes the page cache keeps at once (a single larger read is kept alone).
    pub page_cache_bytes: usize,
    /// How long a client may take to send a request's headers before its connection is closed.
    pub header_read_timeout: Duration,
    /// How long one request may take, body and bank included (longer than the bank's own timeout, so
    /// a bank's answer is never cut off by the service); `/events` streams are exempt.
    pub request_timeout: Duration,
    /// Requests served at once, all callers together; above it the service answers 503 with
    /// `Retry-After` at once instead of queueing (operators' `/health` and `/metrics` are exempt).
    pub max_in_flight: usize,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            requests_per_second: NonZeroU32::new(50).expect("not zero"),
            burst: NonZeroU32::new(100).expect("not zero"),
            webhook_retry: Duration::from_secs(1),
            webhook_retry_max: Duration::from_secs(600),
            consent_notice_days: 7,
            consent_scan: Duration::from_secs(3600),
            in_doubt_sweep: Duration::from_secs(60),
            budget_low_remaining: 1,
            max_file_bytes: 1024 * 1024,
            transactions_page_size: 100,
            page_cache_ttl: Duration::from_secs(120),
            events_on_connect: 20,
            page_cache_reads: 1000,
            page_cache_bytes: 64 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(90),
            max_in_flight: 256,
        }
    }
}

/// The shared count of requests in flight.
#[derive(Debug, Clone)]
pub(crate) struct InFlight(Arc<tokio::sync::Semaphore>);

impl InFlight {
    /// Room for `max` requests at once.
    pub(crate) fn new(max: usize) -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(max)))
    }

    /// A place for one more request, held until dropped; `None` when all are taken.
    pub(crate) fn try_enter(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// What the service serves and who may use it. Cheap to clone.
#[derive(Clone)]
pub struct ServiceState {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceState")
            .field(
                "banks",
                &self.inner.banks.iter().map(|b| &b.name).collect::<Vec<_>>(),
            )
            .field("callers", &self.inner.callers.len())
            .finish_non_exhaustive()
    }
}

/// A bank as served: its failover and health.
#[derive(Debug)]
pub(crate) struct ServedBank {
    /// The bank's name, in paths, events and metrics.
    pub(crate) name: String,
    /// Its two channels behind one `Bank`.
    pub(crate) failover: Failover,
    /// Its health, for `/health`, the override and the switch events.
    pub(crate) health: Arc<Health>,
    /// Unattended reads of one account a day (RTS Art. 36(5)), as its failover enforces them.
    pub(crate) unattended_reads_per_day: u32,
    /// The website channel when it is a `ScreenBank`, for its HTTP-read counters.
    pub(crate) screen_bank: Option<ScreenBank>,
    /// The TPP's certificates for this bank (`qwac`, `qseal`): whose, which roles, expiring when.
    pub(crate) certificates: Vec<(String, CertificateFacts)>,
    /// The website channel's egress, if any.
    pub(crate) egress: Option<Arc<Egress>>,
    /// When a caller is asked for the customer's password.
    pub(crate) fallback_password: FallbackPassword,
}

/// The state behind a [`ServiceState`].
pub(crate) struct Inner {
    /// The banks, in configuration order; the first answers `/v1/…` without a prefix.
    pub(crate) banks: Vec<ServedBank>,
    /// The engine's journal: intents, switch events, the access log, the counters.
    pub(crate) journal: Arc<dyn JournalStore>,
    /// Who made which consent and payment, so a caller reaches only its own.
    pub(crate) owners: Arc<dyn OwnerStore>,
    /// The callers let in, and their rate limits.
    pub(crate) callers: Arc<Callers>,
    /// The admin token's hash for the override route; none: the route is closed.
    pub(crate) admin: Option<TokenHash>,
    /// The operator (viewer) token's hash for `/metrics` and `/events` (the admin token opens them too).
    pub(crate) operator: Mutex<Option<TokenHash>>,
    /// The viewer token's hash: it opens the status page only (the operator and admin tokens open it
    /// too).
    pub(crate) viewer: Mutex<Option<TokenHash>>,
    /// The status page's login sessions: the hash of each session cookie, and when it expires.
    pub(crate) status_sessions: Mutex<HashMap<TokenHash, tokio::time::Instant>>,
    /// The events for applications until they are delivered (none: no events for applications).
    pub(crate) outbox: std::sync::OnceLock<Arc<Outbox>>,
    /// Each caller's webhook.
    pub(crate) webhooks: Mutex<Webhooks>,
    /// Told when the outbox has something new, for the deliverer and the callers' `/events`.
    pub(crate) outbox_changed: tokio::sync::Notify,
    /// The limits the service was given.
    pub(crate) limits: ServiceLimits,
    /// PSU passwords, kept per consent (or payment) of one caller, only once an authorisation with them
    /// succeeded, for at most [`PASSWORD_KEPT_AT_MOST`] and never past the consent's `validUntil`, so
    /// the website channel can log in again for that consent. Secret: never logged.
    pub(crate) passwords: Mutex<Passwords>,
    /// Transactions reads kept for their later pages.
    pub(crate) pages: PageCache,
    /// The final answers to writes, by caller and `X-Request-ID`, so a retry is answered, not re-made.
    pub(crate) replays: Replays,
    /// The Prometheus registry.
    pub(crate) metrics: Metrics,
    /// Switch events of every bank, as JSON, for `/events`.
    pub(crate) events: broadcast::Sender<Value>,
    /// Becomes `true` when the service shuts down, so open event streams end.
    pub(crate) closing: watch::Sender<bool>,
    /// The requests being served, bounded by `limits.max_in_flight`.
    pub(crate) in_flight: InFlight,
}

/// The longest a PSU password is kept after the authorisation that proved it (a consent's
/// `validUntil` may end it sooner).
pub(crate) const PASSWORD_KEPT_AT_MOST: Duration = Duration::from_secs(24 * 60 * 60);

/// What a kept password belongs to: one resource of one caller at one bank, or that caller's
/// customer (for the calls a caller makes without a consent: payments).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PasswordFor {
    /// A consent, by id.
    Consent(String),
    /// A payment resource, by id.
    Payment(String),
    /// The caller's calls for this customer that name no consent.
    Customer(String),
}

/// The key of a kept password: (bank, caller, what it is for).
pub(crate) type PasswordKey = (String, String, PasswordFor);

/// A password given to start an authorisation, and the passwords proven by one.
#[derive(Default)]
pub(crate) struct Passwords {
    /// Given with an authorisation that has not succeeded yet: used for that authorisation only.
    pub(crate) pending: HashMap<PasswordKey, SecretString>,
    /// Proven by a successful authorisation, each kept until its instant.
    pub(crate) kept: HashMap<PasswordKey, (SecretString, tokio::time::Instant)>,
}

impl Passwords {
    /// A kept password, unless its time is over (then it is forgotten).
    pub(crate) fn kept(
        &mut self,
        key: &PasswordKey,
        now: tokio::time::Instant,
    ) -> Option<SecretString> {
        match self.kept.get(key) {
            Some((secret, until)) if now < *until => Some(secret.clone()),
            Some(_) => {
                self.kept.remove(key);
                None
            }
            None => None,
        }
    }

    /// A password given to start an authorisation: pending, a kept one untouched.
    pub(crate) fn given(&mut self, key: PasswordKey, secret: SecretString) {
        self.pending.insert(key, secret);
    }

    /// The password for an authorisation under way: the one given for it, else the kept one.
    pub(crate) fn for_authorisation(
        &mut self,
        key: &PasswordKey,
        now: tokio::time::Instant,
    ) -> Option<SecretString> {
        match self.pending.get(key) {
            Some(secret) => Some(secret.clone()),
            None => self.kept(key, now),
        }
    }

    /// The authorisation succeeded: its pending password is kept under `key` and `customer` until
    /// `until`, at most [`PASSWORD_KEPT_AT_MOST`] after `now`.
    pub(crate) fn proven(
        &mut self,
        key: PasswordKey,
        customer: PasswordKey,
        until: Option<tokio::time::Instant>,
        now: tokio::time::Instant,
    ) {
        let at_most = now + PASSWORD_KEPT_AT_MOST;
        let until = until.map_or(at_most, |u| u.min(at_most));
        if let Some(secret) = self.pending.remove(&key) {
            self.kept.insert(key, (secret.clone(), until));
            self.kept.insert(customer, (secret, until));
        }
    }

    /// The authorisation failed: its pending password is forgotten.
    pub(crate) fn refused(&mut self, key: &PasswordKey) {
        self.pending.remove(key);
    }
}

/// A mutex's guard, even when a panic poisoned it (what it guards stays consistent between calls).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ServiceState {
    /// Lets `token` (its hash) read `/metrics` and `/events`, besides the admin token. Without either,
    /// those routes are closed: they show which banks are down and every switch, nobody's business but
    /// the operators'.
    pub fn set_operator_token(&self, token: Option<TokenHash>) {
        *lock(&self.inner.operator) = token;
    }

    /// Keeps the events for applications in `outbox` (once; a second outbox is refused and returned).
    pub fn set_outbox(&self, outbox: Arc<Outbox>) -> Result<(), Arc<Outbox>> {
        self.inner.outbox.set(outbox)?;
        self.inner.outbox_changed.notify_waiters();
        Ok(())
    }

    /// Sends a caller's events to `webhook` (none: no more webhooks for it).
    pub fn set_webhook(&self, caller: &str, webhook: Option<Webhook>) {
        let mut hooks = lock(&self.inner.webhooks);
        match webhook {
            Some(webhook) => hooks.insert(caller.to_owned(), webhook),
            None => hooks.remove(caller),
        };
    }

    /// The callers' webhooks.
    pub(crate) fn webhooks(&self) -> std::sync::MutexGuard<'_, Webhooks> {
        lock(&self.inner.webhooks)
    }

    /// Lets `token` (its hash) log in to the status page, and nothing else. The operator and admin
    /// tokens log in there too.
    pub fn set_viewer_token(&self, token: Option<TokenHash>) {
        *lock(&self.inner.viewer) = token;
    }

    /// Whether `token` may log in to the status page: the viewer, operator or admin token.
    pub(crate) fn is_status_viewer(&self, token: &str) -> bool {
        let hash = Some(TokenHash::of(token));
        hash == *lock(&self.inner.viewer)
            || hash == *lock(&self.inner.operator)
            || hash == self.inner.admin
    }

    /// Whether `token` opens the operators' views (`/metrics`, `/events`).
    pub(crate) fn is_operator(&self, token: Option<&str>) -> Result<(), ApiError> {
        let operator = *lock(&self.inner.operator);
        if operator.is_none() && self.inner.admin.is_none() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "TOKEN_INVALID",
                "no operator token is configured: /metrics and /events are closed",
            ));
        }
        match token.map(TokenHash::of) {
            Some(hash) if Some(hash) == operator || Some(hash) == self.inner.admin => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "TOKEN_INVALID",
                "the operator token is required (Authorization: Bearer …)",
            )),
        }
    }

    /// The service over `banks`, writing `journal`, keeping who made what in `owners`, open to
    /// `callers`; `admin` authorises the override route (none: the route is closed).
    pub fn new(
        banks: Vec<BankSetup>,
        journal: Arc<dyn JournalStore>,
        owners: Arc<dyn OwnerStore>,
        callers: Vec<Caller>,
        admin: Option<TokenHash>,
        limits: ServiceLimits,
    ) -> Self {
        let metrics = Metrics::new();
        for bank in &banks {
            for (kind, facts) in &bank.certificates {
                metrics.set_certificate_expiry(&format!("{}/{kind}", bank.name), facts.not_after);
            }
        }
        let banks = banks
            .into_iter()
            .map(|b| {
                let api = Metered::new(b.api, Channel::Api, &b.name, metrics.clone());
                let screen = Metered::new(b.screen, Channel::Screen, &b.name, metrics.clone());
                let mut failover = Failover::new(
                    FailoverConfig {
                        bank: b.name.clone(),
                        unattended_reads_per_day: b.unattended_reads_per_day,
                    },
                    Arc::new(api),
                    Arc::new(screen),
                    b.health.clone(),
                    journal.clone(),
                );
                if let (Some(warm), Some(screen)) = (b.warm_standby, &b.screen_bank) {
                    failover = failover.with_warm_standby(screen.clone(), warm);
                }
                ServedBank {
                    name: b.name,
                    failover,
                    health: b.health,
                    unattended_reads_per_day: b.unattended_reads_per_day,
                    screen_bank: b.screen_bank,
                    certificates: b.certificates,
                    egress: b.egress,
                    fallback_password: b.fallback_password,
                }
            })
            .collect();
        let in_flight = InFlight::new(limits.max_in_flight);
        let callers = Callers::new(callers, limits.requests_per_second, limits.burst);
        Self {
            inner: Arc::new(Inner {
                banks,
                journal,
                owners,
                callers: Arc::new(callers),
                admin,
                operator: Mutex::new(None),
                viewer: Mutex::new(None),
                status_sessions: Mutex::default(),
                outbox: std::sync::OnceLock::new(),
                webhooks: Mutex::default(),
                outbox_changed: tokio::sync::Notify::new(),
                pages: PageCache::new(
                    limits.page_cache_ttl,
                    limits.page_cache_reads,
                    limits.page_cache_bytes,
                ),
                limits,
                passwords: Mutex::default(),
                replays: Replays::default(),
                metrics,
                events: broadcast::channel(256).0,
                closing: watch::Sender::new(false),
                in_flight,
            }),
        }
    }

    /// The service's metrics (the screen channel sets its browser-session gauge here).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The failover of a bank, by name.
    pub fn failover(&self, bank: &str) -> Option<&Failover> {
        self.bank(bank).map(|b| &b.failover)
    }

    /// A served bank, by name.
    pub(crate) fn bank(&self, name: &str) -> Option<&ServedBank> {
        self.inner.banks.iter().find(|b| b.name == name)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;
    use tokio::time::Instant;

    use super::*;

    fn key(caller: &str, what: PasswordFor) -> PasswordKey {
        ("sandbox".to_owned(), caller.to_owned(), what)
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    /// A password is kept only once its authorisation succeeded, per caller, never replaced by a
    /// failed one, and no longer than its bound.
    #[test]
    fn passwords_are_kept_per_caller_after_success_and_for_a_bounded_time() {
        let mut passwords = Passwords::default();
        let now = Instant::now();
        let consent = key("a", PasswordFor::Consent("c-1".into()));
        let anna = key("a", PasswordFor::Customer("1000001".into()));
        passwords.given(consent.clone(), secret("right"));
        assert!(
            passwords.kept(&consent, now).is_none(),
            "not before success"
        );
        assert!(passwords.kept(&anna, now).is_none());
        passwords.proven(consent.clone(), anna.clone(), None, now);
        assert_eq!(
            passwords.kept(&consent, now).unwrap().expose_secret(),
            "right"
        );
        assert_eq!(passwords.kept(&anna, now).unwrap().expose_secret(), "right");

        // Another caller's password for the same customer, and a failed try, replace nothing.
        let other = key("b", PasswordFor::Consent("c-2".into()));
        passwords.given(other.clone(), secret("wrong"));
        passwords.refused(&other);
        passwords.proven(
            other.clone(),
            key("b", PasswordFor::Customer("1000001".into())),
            None,
            now,
        );
        assert!(passwords.kept(&other, now).is_none());
        assert!(
            passwords
                .kept(&key("b", PasswordFor::Customer("1000001".into())), now)
                .is_none()
        );
        assert_eq!(passwords.kept(&anna, now).unwrap().expose_secret(), "right");

        // Bounded: at most PASSWORD_KEPT_AT_MOST, or sooner when the consent ends sooner.
        assert!(
            passwords
                .kept(&consent, now + PASSWORD_KEPT_AT_MOST)
                .is_none()
        );
        let short = key("a", PasswordFor::Consent("c-3".into()));
        passwords.given(short.clone(), secret("right"));
        passwords.proven(
            short.clone(),
            anna.clone(),
            Some(now + Duration::from_secs(60)),
            now,
        );
        assert!(
            passwords
                .kept(&short, now + Duration::from_secs(59))
                .is_some()
        );
        assert!(
            passwords
                .kept(&short, now + Duration::from_secs(60))
                .is_none()
        );
    }
}
