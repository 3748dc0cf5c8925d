//! The service's one configuration file (`psd2-fallback.toml`), loaded with `deny_unknown_fields`;
//! every error names the file and the key. Secrets can come from the environment instead of the file:
//! `PSD2_FALLBACK_ADMIN_TOKEN` (the admin token) and `PSD2_FALLBACK_CALLER_<NAME>_TOKEN` (a caller's
//! token; the name upper-cased, `-` as `_`), hashed when loaded.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{Caller, TokenHash};
use crate::identity::{BankIdentity, CertificateSource, ServiceName, all_services};
use crate::no_website::NoScreenChannel;
use crate::outbox::{Outbox, SqliteOutbox, Webhook};
use crate::outbox_postgres::PostgresOutbox;
use crate::state::{BankSetup, FallbackPassword, ServiceLimits, ServiceState};
use crate::storage::JournalLocation;
use crate::website_egress::WebsiteEgressConfig;
use psd2_fallback_engine::api::{ApiBank, ApiBankConfig, ApiConfigError};
use psd2_fallback_engine::bank::ScaRelay;
use psd2_fallback_engine::failover::{
    BuildError, FailoverBuilder, ScreenChannel, WarmStandbyConfig,
};
use psd2_fallback_engine::health::{HealthConfig, Policy, Probe};
use psd2_fallback_engine::screen::WebDriverTarget;
use psd2_fallback_engine::screen::{BrowserPool, PoolBound, ScreenBankConfig, lightest_chromium};
use secrecy::SecretString;

/// A configuration that cannot be used: the file, the key and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {reason}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not valid TOML for the configuration (unknown key, wrong type, missing key).
    #[error("{file}: {reason}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// What the parser said, with the key and line.
        reason: String,
    },
    /// A value is well-formed but unusable.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key, e.g. `banks[0].api_base_url`.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Where the service listens.
    pub listen: SocketAddr,
    /// The journal: a SQLite file (the embedded default; the service keeps who made which consent
    /// and payment in a file beside it, `psd2-fallback.db` → `psd2-fallback.owners.db`), or
    /// `postgres://user:password@host:port/database`, a database several replicas share (the owner
    /// records in it too). `PSD2_FALLBACK_JOURNAL_URL` wins, so a password need not be in the file.
    pub journal: JournalLocation,
    /// The PostgreSQL journal's key file (64 hexadecimal digits; every replica the same): the secret
    /// of its keyed hashes. A SQLite journal keeps its key beside its file instead.
    #[serde(default)]
    pub journal_key_file: Option<PathBuf>,
    /// The events for applications until delivered, with a SQLite journal: a SQLite file of this
    /// process, by default beside the journal (`psd2-fallback.db` → `psd2-fallback.outbox.db`). With a
    /// PostgreSQL journal they are in its database, shared by the replicas (each event made once and
    /// delivered by one replica at a time), and this setting is refused.
    #[serde(default)]
    pub outbox_file: Option<PathBuf>,
    /// With a PostgreSQL journal: how long a replica's lease on a bank's health lasts unrenewed (it
    /// renews it every fifth of this), in milliseconds. The replica holding a bank's lease decides
    /// its switches; when it dies another takes over within this time plus one renewal.
    #[serde(default = "default_health_lease_ms")]
    pub health_lease_ms: u64,
    /// Browser flows at once across every bank's website channel (one shared pool, fair between
    /// banks and their customers); default: from the machine's cores and memory.
    #[serde(default)]
    pub pool_browsers: Option<usize>,
    /// Website calls waiting for the shared pool at most, across banks (default 16 per flow).
    #[serde(default)]
    pub pool_queue: Option<usize>,
    /// The SHA-256 (hex) of the admin token for the override route; `PSD2_FALLBACK_ADMIN_TOKEN` wins.
    #[serde(default)]
    pub admin_token_sha256: Option<String>,
    /// The SHA-256 (hex) of the operator token for `/metrics` and `/events` (the admin token opens them
    /// too; with neither they are closed); `PSD2_FALLBACK_OPERATOR_TOKEN` wins.
    #[serde(default)]
    pub operator_token_sha256: Option<String>,
    /// The SHA-256 (hex) of the viewer token, which opens the status page (`/status`) and nothing
    /// else; `PSD2_FALLBACK_VIEWER_TOKEN` wins.
    #[serde(default)]
    pub viewer_token_sha256: Option<String>,
    /// Per-caller rate and size limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The banks served; the first also answers `/v1/…` without a prefix.
    pub banks: Vec<BankConfig>,
    /// The callers allowed in.
    #[serde(default)]
    pub callers: Vec<CallerConfig>,
    /// Where the file was read from, for errors.
    #[serde(skip)]
    pub file: PathBuf,
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per second per caller, sustained.
    pub requests_per_second: u32,
    /// Burst above it.
    pub burst: u32,
    /// The largest pain.001 file accepted, in bytes.
    pub max_file_bytes: usize,
    /// Transactions per page.
    pub transactions_page_size: usize,
    /// How long transaction pages are kept for `_links.next`, in seconds.
    pub page_cache_secs: u64,
    /// Past switch events sent on `/events` connect.
    pub events_on_connect: usize,
    /// The most transactions reads the page cache keeps at once.
    pub page_cache_reads: usize,
    /// The most bytes the page cache keeps at once.
    pub page_cache_bytes: usize,
    /// How long a client may take to send a request's headers, in milliseconds.
    pub header_read_timeout_ms: u64,
    /// How long one request may take, in milliseconds.
    pub request_timeout_ms: u64,
    /// Requests served at once, all callers together.
    pub max_in_flight: usize,
    /// The first wait before a failed webhook delivery is tried again (doubling), in milliseconds.
    pub webhook_retry_ms: u64,
    /// The longest wait between two attempts of a webhook delivery, in milliseconds.
    pub webhook_retry_max_ms: u64,
    /// Days before a consent's `validUntil` that its `consent.expiring` event is sent.
    pub consent_notice_days: u32,
    /// How often consents are looked at for their expiry events, in seconds.
    pub consent_scan_secs: u64,
    /// How often the writes left in doubt are reconciled again, in milliseconds (each claimed, so
    /// one replica at a time works on it).
    pub in_doubt_sweep_ms: u64,
    /// Unattended reads left of an account for the day at which `budget.low` is sent.
    pub budget_low_remaining: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = ServiceLimits::default();
        Self {
            requests_per_second: d.requests_per_second.get(),
            burst: d.burst.get(),
            max_file_bytes: d.max_file_bytes,
            transactions_page_size: d.transactions_page_size,
            page_cache_secs: d.page_cache_ttl.as_secs(),
            events_on_connect: d.events_on_connect,
            page_cache_reads: d.page_cache_reads,
            page_cache_bytes: d.page_cache_bytes,
            header_read_timeout_ms: millis(d.header_read_timeout),
            request_timeout_ms: millis(d.request_timeout),
            max_in_flight: d.max_in_flight,
            webhook_retry_ms: millis(d.webhook_retry),
            webhook_retry_max_ms: millis(d.webhook_retry_max),
            consent_notice_days: d.consent_notice_days,
            consent_scan_secs: d.consent_scan.as_secs(),
            in_doubt_sweep_ms: d.in_doubt_sweep.as_millis() as u64,
            budget_low_remaining: d.budget_low_remaining,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `[[callers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerConfig {
    /// The caller's name.
    pub name: String,
    /// The SHA-256 (hex) of its bearer token; `PSD2_FALLBACK_CALLER_<NAME>_TOKEN` wins.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// Where the caller's events for applications are POSTed, signed with the key in
    /// `PSD2_FALLBACK_CALLER_<NAME>_WEBHOOK_KEY` (required with it; never in the file).
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// `[[banks]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankConfig {
    /// The bank's name (in paths `/banks/{name}/v1/…`, events, metrics, the journal).
    pub name: String,
    /// The root of the bank's Berlin Group API (`/v1/…` is appended).
    pub api_base_url: String,
    /// How long an API answer may take, in milliseconds (RTS: 30 000).
    #[serde(default = "default_api_timeout_ms")]
    pub api_timeout_ms: u64,
    /// The bank's online-banking website, for the screen channel.
    #[serde(default)]
    pub website_url: Option<String>,
    /// The screen map file (`selectors/<bank>.toml`).
    #[serde(default)]
    pub screen_map: Option<PathBuf>,
    /// A remote WebDriver (Selenium Grid, a running chromedriver) for the screen channel.
    #[serde(default)]
    pub webdriver_url: Option<String>,
    /// Or a chromedriver binary to start.
    #[serde(default)]
    pub chromedriver: Option<PathBuf>,
    /// Browsers the website channel keeps open at most (one per consent in use; default 8).
    #[serde(default)]
    pub max_browsers: Option<usize>,
    /// Browser flows the website channel runs at once (default: the machine's cores).
    #[serde(default)]
    pub active_browsers: Option<usize>,
    /// Website calls waiting for a browser at most; over it the service answers 503 with
    /// `Retry-After` at once (default 64).
    #[serde(default)]
    pub browser_queue: Option<usize>,
    /// The longest a website call whose session must log in first waits for the logins ahead of
    /// it, in milliseconds; over it the service answers 503 at once with `Retry-After` set to when
    /// its turn would come, and makes the login meanwhile, so the retry is served on the logged-in
    /// session. Absent: such calls wait (within `browser_queue`).
    #[serde(default)]
    pub browser_max_wait_ms: Option<u64>,
    /// Whether the website channel keeps a blank browser launched for the next new customer (default
    /// yes; it counts as an open browser).
    #[serde(default = "default_true")]
    pub spare_browser: bool,
    /// How many blank browsers `spare_browser` keeps launched, in the channel's idle time (default
    /// 1): each costs its memory (≈ 80 MiB PSS with the headless shell), and an outage's first
    /// reads then log in without waiting for launches.
    #[serde(default)]
    pub spare_browsers: Option<usize>,
    /// Where the website channel writes a trace bundle (page source and screenshot, secrets masked,
    /// files 0600) when a screen no longer matches its map; none when absent.
    #[serde(default)]
    pub trace_dir: Option<PathBuf>,
    /// Answer the website's login challenges with the sandbox bank's card-reader simulation (for the
    /// sandbox only; a real bank's challenges go to the customer).
    #[serde(default)]
    pub sandbox_card_reader: bool,
    /// Lets `api_base_url` be plain `http://` to another machine (off: https, or plain HTTP on
    /// loopback only).
    #[serde(default)]
    pub allow_plain_http: bool,
    /// Unattended reads of one account per day (RTS Art. 36(5)).
    #[serde(default = "default_unattended")]
    pub unattended_reads_per_day: u32,
    /// Warm standby: when the API starts to fail, log in ahead of a switch the customers (per
    /// consent) who read in the last this many minutes (0 or absent: off).
    #[serde(default)]
    pub warm_standby_minutes: u64,
    /// Why the bank is exempt from the fallback (RTS Art. 33(6)); absent when it is not.
    #[serde(default)]
    pub exempt: Option<String>,
    /// When a caller is asked for the customer's password: `"when_the_bank_asks"` (default: never
    /// when the bank's API redirects or pushes to the app) or `"always"` (kept for the website
    /// fallback whatever the approach, where the customers agreed to it).
    #[serde(default)]
    pub fallback_password: FallbackPassword,
    /// When to switch and when to come back.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// The TPP's QWAC for this bank (mutual TLS): `{ file = "…" }` or `{ env = "VAR" }`.
    #[serde(default)]
    pub qwac: Option<CertificateSource>,
    /// The TPP's QSeal for this bank (signed requests), as `qwac`.
    #[serde(default)]
    pub qseal: Option<CertificateSource>,
    /// The bank wants every API request signed with the QSeal (Berlin Group `Signature`).
    #[serde(default)]
    pub sign_requests: bool,
    /// The bank's server CA (a PEM file), trusted instead of the system's for its API.
    #[serde(default)]
    pub server_ca: Option<PathBuf>,
    /// The services the bank is used for; each needs its role in the certificates (default: all).
    #[serde(default = "all_services")]
    pub services: Vec<ServiceName>,
    /// The website channel's egress: its browsers reach the bank only through it (`hosts`,
    /// `present_qwac`, `server_ca`); absent: the browsers go straight to the website.
    #[serde(default)]
    pub website_egress: Option<WebsiteEgressConfig>,
}

impl BankConfig {
    /// The bank's certificates, loaded and checked now; an error is (key, reason).
    pub(crate) fn identity(&self) -> Result<BankIdentity, (&'static str, String)> {
        BankIdentity::load(
            self.qwac.as_ref(),
            self.qseal.as_ref(),
            self.sign_requests,
            self.server_ca.as_ref(),
            &self.services,
        )
    }
}

fn default_health_lease_ms() -> u64 {
    5000
}

fn default_true() -> bool {
    true
}

fn default_api_timeout_ms() -> u64 {
    30_000
}

fn default_unattended() -> u32 {
    4
}

/// `[banks.policy]`: the RTS rule (always on), optional faster rules, dwell and probes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// RTS Art. 33(1): this many consecutive requests not answered in time (5).
    pub rts_consecutive: u32,
    /// … within this many milliseconds (30 000).
    pub rts_within_ms: u64,
    /// Also switch after this many consecutive failed calls (not answered, or answered that the
    /// service is unavailable), once the API probe fails too.
    pub consecutive_failures: Option<u32>,
    /// Also switch on a failure rate: `{ window_ms, min_calls, percent }`.
    pub failure_rate: Option<RateConfig>,
    /// Also switch on a slow-call rate: `{ window_ms, min_calls, percent, slow_ms }`.
    pub slow_call_rate: Option<RateConfig>,
    /// Also switch after this many consecutive unusable answers (a malformed body, a field failing
    /// validation), once the API probe fails too. Never part of the RTS rule.
    pub unusable_answers: Option<u32>,
    /// How long to stay on the fallback before probing, in milliseconds.
    pub dwell_ms: u64,
    /// Good probes in a row that bring the API back.
    pub probes_to_recover: u32,
    /// How often to probe, in milliseconds.
    pub probe_interval_ms: u64,
    /// Random extra per interval, in milliseconds.
    pub probe_jitter_ms: u64,
    /// How long a probe may take, in milliseconds.
    pub probe_timeout_ms: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let d = HealthConfig::default();
        Self {
            rts_consecutive: 5,
            rts_within_ms: 30_000,
            consecutive_failures: None,
            failure_rate: None,
            slow_call_rate: None,
            unusable_answers: None,
            dwell_ms: d.dwell.as_millis() as u64,
            probes_to_recover: d.probes_to_recover,
            probe_interval_ms: d.probe_interval.as_millis() as u64,
            probe_jitter_ms: d.probe_jitter.as_millis() as u64,
            probe_timeout_ms: d.probe_timeout.as_millis() as u64,
        }
    }
}

/// A rate policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// The sliding window, in milliseconds.
    pub window_ms: u64,
    /// Calls needed before the rate counts.
    pub min_calls: u32,
    /// The rate that trips, in percent.
    pub percent: u8,
    /// For the slow-call rate: what counts as slow, in milliseconds.
    #[serde(default)]
    pub slow_ms: Option<u64>,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl PolicyConfig {
    /// The health configuration it describes.
    pub fn health_config(&self, exempt: Option<String>) -> HealthConfig {
        let mut extra = Vec::new();
        if let Some(n) = self.consecutive_failures {
            extra.push(Policy::ConsecutiveFailures { n });
        }
        if let Some(r) = &self.failure_rate {
            extra.push(Policy::FailureRate {
                window: ms(r.window_ms),
                min_calls: r.min_calls,
                percent: r.percent,
            });
        }
        if let Some(r) = &self.slow_call_rate {
            extra.push(Policy::SlowCallRate {
                window: ms(r.window_ms),
                min_calls: r.min_calls,
                slow: ms(r.slow_ms.unwrap_or(5_000)),
                percent: r.percent,
            });
        }
        if let Some(consecutive) = self.unusable_answers {
            extra.push(Policy::UnusableAnswers { consecutive });
        }
        HealthConfig {
            extra_policies: extra,
            rts: Policy::Rts {
                consecutive: self.rts_consecutive,
                within: ms(self.rts_within_ms),
            },
            dwell: ms(self.dwell_ms),
            probes_to_recover: self.probes_to_recover,
            probe_interval: ms(self.probe_interval_ms),
            probe_jitter: ms(self.probe_jitter_ms),
            probe_timeout: ms(self.probe_timeout_ms),
            exempt,
        }
    }
}

fn env_name(caller: &str) -> String {
    let name: String = caller
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PSD2_FALLBACK_CALLER_{name}_TOKEN")
}

impl ServiceConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let mut config: ServiceConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            reason: e.to_string().trim_end().to_owned(),
        })?;
        config.file = file.to_owned();
        config.check()?;
        Ok(config)
    }

    fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// Checks what the types cannot: URLs, hashes, names, the screen settings.
    fn check(&self) -> Result<(), ConfigError> {
        if self.banks.is_empty() {
            return Err(self.invalid("banks", "at least one bank is needed"));
        }
        let url = |key: String, v: &str| {
            if v.starts_with("http://") || v.starts_with("https://") {
                Ok(())
            } else {
                Err(self.invalid(key, format!("{v:?} is not an http:// or https:// URL")))
            }
        };
        for (i, bank) in self.banks.iter().enumerate() {
            let key = |k: &str| format!("banks[{i}].{k}");
            if bank.name.is_empty()
                || !bank
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.invalid(key("name"), "letters, digits, - and _ only"));
            }
            if self.banks[..i].iter().any(|b| b.name == bank.name) {
                return Err(self.invalid(key("name"), format!("{:?} is repeated", bank.name)));
            }
            url(key("api_base_url"), &bank.api_base_url)?;
            if let Some(v) = &bank.website_url {
                url(key("website_url"), v)?;
            }
            if let Some(v) = &bank.webdriver_url {
                url(key("webdriver_url"), v)?;
            }
            if bank.webdriver_url.is_some() && bank.chromedriver.is_some() {
                return Err(self.invalid(
                    key("chromedriver"),
                    "give webdriver_url or chromedriver, not both",
                ));
            }
            if let Some(path) = &bank.chromedriver
                && !path.is_file()
            {
                return Err(self.invalid(
                    key("chromedriver"),
                    format!("{} is not a file", path.display()),
                ));
            }
            if let Some(path) = &bank.screen_map {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    self.invalid(key("screen_map"), format!("{}: {e}", path.display()))
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    self.invalid(key("screen_map"), format!("{}: {e}", path.display()))
                })?;
            }
            bank.identity()
                .map_err(|(k, reason)| self.invalid(key(k), reason))?;
            if let Some(egress) = &bank.website_egress {
                let website = bank
                    .website_url
                    .as_deref()
                    .filter(|_| bank.screen_map.is_some());
                egress
                    .check(
                        website,
                        bank.qwac.is_some(),
                        bank.qseal.is_some(),
                        bank.webdriver_url.is_some(),
                    )
                    .map_err(|(k, reason)| {
                        let k = if k.is_empty() {
                            key("website_egress")
                        } else {
                            key(&format!("website_egress.{k}"))
                        };
                        self.invalid(k, reason)
                    })?;
            }
            if bank.policy.rts_consecutive == 0 || bank.policy.probes_to_recover == 0 {
                return Err(self.invalid(
                    key("policy"),
                    "rts_consecutive and probes_to_recover must be at least 1",
                ));
            }
        }
        for (i, caller) in self.callers.iter().enumerate() {
            if self.callers[..i].iter().any(|c| c.name == caller.name) {
                return Err(self.invalid(
                    format!("callers[{i}].name"),
                    format!("{:?} is repeated", caller.name),
                ));
            }
            self.caller_token(i)?;
            self.caller_webhook(i)?;
        }
        if let Some(hash) = &self.admin_token_sha256 {
            TokenHash::from_hex(hash).map_err(|e| self.invalid("admin_token_sha256", e.reason))?;
        }
        for (key, value) in [
            (
                "limits.header_read_timeout_ms",
                self.limits.header_read_timeout_ms,
            ),
            ("limits.request_timeout_ms", self.limits.request_timeout_ms),
            ("limits.max_in_flight", self.limits.max_in_flight as u64),
            ("limits.webhook_retry_ms", self.limits.webhook_retry_ms),
            ("limits.consent_scan_secs", self.limits.consent_scan_secs),
            ("limits.in_doubt_sweep_ms", self.limits.in_doubt_sweep_ms),
            (
                "limits.page_cache_reads",
                self.limits.page_cache_reads as u64,
            ),
        ] {
            if value == 0 {
                return Err(self.invalid(key, "must be above 0"));
            }
        }
        if self.limits.requests_per_second == 0 || self.limits.burst == 0 {
            return Err(self.invalid("limits", "requests_per_second and burst must be at least 1"));
        }
        Ok(())
    }

    /// A caller's webhook: its URL from the file, its key from the environment.
    fn caller_webhook(&self, i: usize) -> Result<Option<Webhook>, ConfigError> {
        let caller = &self.callers[i];
        let Some(url) = &caller.webhook_url else {
            return Ok(None);
        };
        let key_name = format!(
            "{}_WEBHOOK_KEY",
            env_name(&caller.name).trim_end_matches("_TOKEN")
        );
        let url = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                self.invalid(
                    format!("callers[{i}].webhook_url"),
                    "is not an http:// or https:// URL",
                )
            })?;
        let key = std::env::var(&key_name)
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                self.invalid(
                    format!("callers[{i}].webhook_url"),
                    format!("needs its signing key in {key_name}"),
                )
            })?;
        Ok(Some(Webhook {
            url,
            key: SecretString::from(key),
        }))
    }

    fn caller_token(&self, i: usize) -> Result<TokenHash, ConfigError> {
        let caller = &self.callers[i];
        if let Ok(token) = std::env::var(env_name(&caller.name)) {
            return Ok(TokenHash::of(&token));
        }
        let hash = caller.token_sha256.as_deref().ok_or_else(|| {
            self.invalid(
                format!("callers[{i}].token_sha256"),
                format!("missing (or set {})", env_name(&caller.name)),
            )
        })?;
        TokenHash::from_hex(hash)
            .map_err(|e| self.invalid(format!("callers[{i}].token_sha256"), e.reason))
    }

    /// The admin token's hash: `PSD2_FALLBACK_ADMIN_TOKEN` (hashed), else the file's.
    pub fn admin_token(&self) -> Result<Option<TokenHash>, ConfigError> {
        if let Ok(token) = std::env::var("PSD2_FALLBACK_ADMIN_TOKEN") {
            return Ok(Some(TokenHash::of(&token)));
        }
        self.admin_token_sha256
            .as_deref()
            .map(|h| {
                TokenHash::from_hex(h).map_err(|e| self.invalid("admin_token_sha256", e.reason))
            })
            .transpose()
    }

    /// The operator token's hash: `PSD2_FALLBACK_OPERATOR_TOKEN` (hashed), else the file's.
    pub fn operator_token(&self) -> Result<Option<TokenHash>, ConfigError> {
        if let Ok(token) = std::env::var("PSD2_FALLBACK_OPERATOR_TOKEN") {
            return Ok(Some(TokenHash::of(&token)));
        }
        self.operator_token_sha256
            .as_deref()
            .map(|h| {
                TokenHash::from_hex(h).map_err(|e| self.invalid("operator_token_sha256", e.reason))
            })
            .transpose()
    }

    /// The viewer token's hash: `PSD2_FALLBACK_VIEWER_TOKEN` (hashed), else the file's.
    pub fn viewer_token(&self) -> Result<Option<TokenHash>, ConfigError> {
        if let Ok(token) = std::env::var("PSD2_FALLBACK_VIEWER_TOKEN") {
            return Ok(Some(TokenHash::of(&token)));
        }
        self.viewer_token_sha256
            .as_deref()
            .map(|h| {
                TokenHash::from_hex(h).map_err(|e| self.invalid("viewer_token_sha256", e.reason))
            })
            .transpose()
    }

    /// The service this configuration describes: an `ApiBank` and its health per bank, the journal,
    /// the callers; and the API probers, running until their handles are aborted.
    ///
    /// A bank with `website_url` and `screen_map` gets a `ScreenBank` (a local chromedriver, or the
    /// remote WebDriver); a bank without them has no website channel, and says so when it is needed.
    /// `card_reader` answers the website's login challenges of the banks whose `sandbox_card_reader` is
    /// set (the binary passes the sandbox bank's card-reader simulation); a bank that asks for it when
    /// none is given is a configuration error.
    pub async fn build(
        &self,
        card_reader: Option<Arc<dyn ScaRelay>>,
    ) -> Result<(ServiceState, Vec<tokio::task::JoinHandle<()>>), ConfigError> {
        let (journal, owners, shared) = crate::storage::open(
            &self.journal.or_environment(),
            self.journal_key_file.as_deref(),
        )
        .await
        .map_err(|(key, reason)| self.invalid(key, reason))?;
        if self.health_lease_ms < 100 {
            return Err(self.invalid(
                "health_lease_ms",
                format!(
                    "{} ms is too short a lease (100 at least)",
                    self.health_lease_ms
                ),
            ));
        }
        let mut banks = Vec::new();
        let mut probers = Vec::new();
        let pool = {
            let machine = BrowserPool::for_machine().bound();
            BrowserPool::new(PoolBound {
                max_active: self.pool_browsers.unwrap_or(machine.max_active).max(1),
                max_queue: self.pool_queue.unwrap_or(machine.max_queue),
            })
        };
        for (i, bank) in self.banks.iter().enumerate() {
            let mut api_config = ApiBankConfig::new(bank.api_base_url.clone());
            api_config.request_timeout = ms(bank.api_timeout_ms);
            api_config.allow_plain_http = bank.allow_plain_http;
            let identity = bank
                .identity()
                .map_err(|(k, reason)| self.invalid(format!("banks[{i}].{k}"), reason))?;
            identity.apply(&mut api_config);
            for (kind, cert) in identity.certificates() {
                tracing::info!(bank = %bank.name, certificate = kind, "{}", cert.summary());
            }
            let api = ApiBank::new(api_config)
                .map_err(|e| self.invalid(format!("banks[{i}].api_base_url"), e.to_string()))?;
            let mut egress = None;
            let screen = match (&bank.website_url, &bank.screen_map) {
                (Some(website), Some(map)) => {
                    let mut config = ScreenBankConfig::new(map.clone(), website.clone());
                    config.pool = Some(pool.clone());
                    config.trace_dir = bank.trace_dir.clone();
                    config.spare = bank.spare_browser;
                    if let Some(n) = bank.spare_browsers {
                        config.spares = n.max(1);
                    }
                    if let Some(max) = bank.max_browsers {
                        config.max_sessions = max.max(1);
                    }
                    config.max_active = bank.active_browsers.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(2, usize::from)
                    });
                    if let Some(queue) = bank.browser_queue {
                        config.max_queue = queue;
                    }
                    config.max_wait = bank.browser_max_wait_ms.map(Duration::from_millis);
                    if let Some(settings) = &bank.website_egress {
                        let started = settings
                            .start(&bank.name, &identity, journal.clone())
                            .await
                            .map_err(|(k, reason)| {
                                let k = if k.is_empty() {
                                    String::new()
                                } else {
                                    format!(".{k}")
                                };
                                self.invalid(format!("banks[{i}].website_egress{k}"), reason)
                            })?;
                        config.proxy = Some(started.browser_proxy());
                        egress = Some(Arc::new(started));
                    }
                    if let Some(remote) = &bank.webdriver_url {
                        config.webdriver = WebDriverTarget::Remote(remote.clone());
                    } else if let Some(chromedriver) = &bank.chromedriver {
                        config.webdriver = WebDriverTarget::Local {
                            chromedriver: chromedriver.clone(),
                            chromium: lightest_chromium(),
                        };
                    }
                    let relay = match (bank.sandbox_card_reader, &card_reader) {
                        (false, _) => None,
                        (true, Some(relay)) => Some(Arc::clone(relay)),
                        (true, None) => {
                            return Err(self.invalid(
                                format!("banks[{i}].sandbox_card_reader"),
                                "no sandbox card reader is available to this service",
                            ));
                        }
                    };
                    ScreenChannel::config(config, relay)
                }
                _ => ScreenChannel::Other(Arc::new(NoScreenChannel {
                    reason: format!(
                        "no website channel is configured for {} (website_url, screen_map)",
                        bank.name
                    ),
                })),
            };
            // The service wraps each channel in its metrics before it makes the failover, so it
            // takes the parts; the builder has started the API prober.
            let parts = FailoverBuilder::new(bank.name.clone(), api, screen)
                .health(bank.policy.health_config(bank.exempt.clone()))
                .unattended_reads_per_day(bank.unattended_reads_per_day)
                .parts()
                .await
                .map_err(|e| {
                    let key = match e {
                        BuildError::Api(_) => "api_base_url",
                        _ => "screen_map",
                    };
                    self.invalid(format!("banks[{i}].{key}"), e.to_string())
                })?;
            probers.extend(parts.prober);
            if let Some(journal) = &shared {
                // Before the failover is made: the lease's recorder is the one its health keeps.
                let share = crate::storage::share_health(
                    journal.clone(),
                    parts.health.clone(),
                    ms(self.health_lease_ms),
                )
                .await
                .map_err(|reason| self.invalid("journal", reason))?;
                probers.push(share);
            }
            let mut setup = BankSetup::new(
                bank.name.clone(),
                Arc::new(parts.api),
                parts.screen,
                parts.health,
            );
            setup.unattended_reads_per_day = parts.config.unattended_reads_per_day;
            setup.screen_bank = parts.screen_bank;
            setup.warm_standby = (bank.warm_standby_minutes > 0).then(|| WarmStandbyConfig {
                window: Duration::from_secs(60 * bank.warm_standby_minutes),
                ..WarmStandbyConfig::default()
            });
            setup.certificates = identity
                .certificates()
                .into_iter()
                .map(|(kind, cert)| (kind.to_owned(), cert.facts().clone()))
                .collect();
            setup.egress = egress;
            setup.fallback_password = bank.fallback_password;
            banks.push(setup);
        }
        let callers = (0..self.callers.len())
            .map(|i| {
                Ok(Caller {
                    name: self.callers[i].name.clone(),
                    token: self.caller_token(i)?,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let l = &self.limits;
        let limits = ServiceLimits {
            requests_per_second: NonZeroU32::new(l.requests_per_second).expect("checked"),
            burst: NonZeroU32::new(l.burst).expect("checked"),
            max_file_bytes: l.max_file_bytes,
            transactions_page_size: l.transactions_page_size.max(1),
            page_cache_ttl: Duration::from_secs(l.page_cache_secs),
            events_on_connect: l.events_on_connect,
            page_cache_reads: l.page_cache_reads,
            page_cache_bytes: l.page_cache_bytes,
            header_read_timeout: ms(l.header_read_timeout_ms),
            request_timeout: ms(l.request_timeout_ms),
            max_in_flight: l.max_in_flight,
            webhook_retry: ms(l.webhook_retry_ms),
            webhook_retry_max: ms(l.webhook_retry_max_ms.max(l.webhook_retry_ms)),
            consent_notice_days: l.consent_notice_days,
            consent_scan: Duration::from_secs(l.consent_scan_secs),
            in_doubt_sweep: ms(l.in_doubt_sweep_ms),
            budget_low_remaining: l.budget_low_remaining,
        };
        let outbox: Arc<Outbox> = Arc::new(
            match (&self.outbox_file, self.journal.file()) {
                (Some(_), None) => {
                    return Err(self.invalid(
                        "outbox_file",
                        "with a PostgreSQL journal the events for applications are kept in its \
                     database, shared by the replicas: remove the setting",
                    ));
                }
                (Some(file), Some(_)) => SqliteOutbox::open(file).map(Outbox::from),
                (None, Some(journal)) => SqliteOutbox::beside_journal(journal).map(Outbox::from),
                (None, None) => match &shared {
                    Some(database) => PostgresOutbox::beside(database.clone()).map(Outbox::from),
                    None => {
                        SqliteOutbox::open(Path::new("psd2-fallback.outbox.db")).map(Outbox::from)
                    }
                },
            }
            .map_err(|e| self.invalid("outbox_file", e.to_string()))?,
        );
        Ok((
            {
                let state =
                    ServiceState::new(banks, journal, owners, callers, self.admin_token()?, limits);
                state.set_operator_token(self.operator_token()?);
                state.set_viewer_token(self.viewer_token()?);
                let _ = state.set_outbox(outbox);
                for i in 0..self.callers.len() {
                    state.set_webhook(&self.callers[i].name, self.caller_webhook(i)?);
                }
                state
            },
            probers,
        ))
    }
}

/// The probe of a bank's API that the service runs: the engine's one probe
/// ([`ApiBank::health_probe`]), on a client of its own that waits at most `timeout` for an answer.
/// A well-formed answer below 500 (a 400 for the missing consent included) means the API is up; no
/// answer, a 5xx or a garbled body means it is not.
pub fn api_probe(base_url: &str, timeout: Duration) -> Result<Probe, ApiConfigError> {
    let mut config = ApiBankConfig::new(base_url);
    config.request_timeout = timeout;
    Ok(ApiBank::new(config)?.health_probe())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unusable-answers policy is its own key, off unless set, and never replaces the RTS rule.
    #[test]
    fn unusable_answers_is_a_policy_of_its_own() {
        let off: PolicyConfig = toml::from_str("").unwrap();
        assert!(off.health_config(None).extra_policies.is_empty());
        let on: PolicyConfig =
            toml::from_str("unusable_answers = 5\nconsecutive_failures = 3").unwrap();
        let health = on.health_config(None);
        assert_eq!(
            health.extra_policies,
            [
                Policy::ConsecutiveFailures { n: 3 },
                Policy::UnusableAnswers { consecutive: 5 }
            ]
        );
        assert_eq!(health.rts, Policy::RTS);
        let typo = toml::from_str::<PolicyConfig>("unusable_answer = 5").unwrap_err();
        assert!(typo.to_string().contains("unusable_answer"), "{typo}");
    }

    /// r13: `fallback_password` is "when_the_bank_asks" unless set; "always" keeps asking; another
    /// value is refused naming the key and the values it takes. Only "always" hides the approach the
    /// bank announced (and with it, the password-free start link).
    #[test]
    fn fallback_password_is_per_bank_and_checked() {
        let config = |line: &str| {
            ServiceConfig::parse(
                &format!(
                    "listen = \"127.0.0.1:0\"\njournal = \"journal.db\"\n[[banks]]\nname = \"sandbox\"\napi_base_url = \"http://127.0.0.1:9/\"\n{line}"
                ),
                Path::new("psd2-fallback.toml"),
            )
        };
        let default = config("").unwrap();
        assert_eq!(
            default.banks[0].fallback_password,
            FallbackPassword::WhenTheBankAsks
        );
        let always = config("fallback_password = \"always\"").unwrap();
        assert_eq!(always.banks[0].fallback_password, FallbackPassword::Always);
        let wrong = config("fallback_password = \"sometimes\"")
            .unwrap_err()
            .to_string();
        for words in [
            "psd2-fallback.toml",
            "fallback_password",
            "when_the_bank_asks",
            "always",
        ] {
            assert!(wrong.contains(words), "{words}: {wrong}");
        }
        use psd2_fallback_engine::model::ScaApproach::{Embedded, Redirect};
        assert_eq!(
            FallbackPassword::WhenTheBankAsks.announce(Some(Redirect)),
            Some(Redirect)
        );
        assert_eq!(
            FallbackPassword::WhenTheBankAsks.announce(Some(Embedded)),
            Some(Embedded)
        );
        assert_eq!(FallbackPassword::Always.announce(Some(Redirect)), None);
        assert_eq!(FallbackPassword::WhenTheBankAsks.announce(None), None);
    }
}
