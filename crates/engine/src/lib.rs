//! psd2-fallback keeps open-banking apps working when a bank's PSD2 API goes down.
//!
//! When a bank's dedicated interface (its Berlin Group NextGenPSD2 API) is unavailable, RTS 2018/389
//! Art. 33 lets a third-party provider use the bank's customer interface — its online-banking website —
//! instead. This crate is the engine that does it: one trait, [`Bank`], in front of two ways of reaching
//! a bank — [`ApiBank`] over its API, [`ScreenBank`] through its website driven by WebDriver — and
//! [`Failover`], itself a `Bank`, which serves every call through whichever channel works, switches on
//! measured [`Health`], journals every payment intent before the first attempt and every switch as an
//! event ([`SwitchEvent`]).
//!
//! # Embedding it
//!
//! A caller that already speaks to a bank through [`ApiBank`] swaps it for a [`Failover`] built by
//! [`FailoverBuilder`] and keeps its code: both are `Bank`s.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use psd2_fallback_engine::model::{
//!     ConsentAccess, ConsentRequest, Iban, PsuId, ScaAnswer, ScaStep, ScaTarget,
//! };
//! use psd2_fallback_engine::{
//!     ApiBankConfig, Bank, FailoverBuilder, JournalStore, PsuContext, ScreenBankConfig,
//!     ScreenChannel, SqliteJournal,
//! };
//!
//! # async fn embed() -> Result<(), Box<dyn std::error::Error>> {
//! // The journal keeps the engine's promises across crashes: payment intents, switches, the
//! // fallback access log (Art. 33(5)) and the unattended-read counters (Art. 36(5)).
//! let journal: Arc<dyn JournalStore> =
//!     Arc::new(SqliteJournal::open("psd2-fallback.db".as_ref())?);
//!
//! // One bank: its API, and its website read through a screen map (`selectors/<bank>.toml`).
//! let engine = FailoverBuilder::new(
//!     "my-bank",
//!     ApiBankConfig::new("https://api.my-bank.example/psd2"),
//!     ScreenChannel::config(
//!         ScreenBankConfig::new("selectors/my-bank.toml", "https://www.my-bank.example"),
//!         None, // challenges go back to the caller as `BankError::ScaRequired`
//!     ),
//! )
//! .build(journal)
//! .await?;
//! let bank: &dyn Bank = &engine.failover;
//!
//! // Every switch between the channels is an event to watch.
//! let mut switches = engine.failover.health().events();
//! tokio::spawn(async move {
//!     while let Ok(switch) = switches.recv().await {
//!         println!("{}: {} -> {}: {}", switch.bank, switch.from, switch.to, switch.reason);
//!     }
//! });
//!
//! // The customer signs a consent: the bank's challenge out, the customer's answer back.
//! let psu = PsuContext::new(PsuId::new("1000001"))
//!     .with_password(std::env::var("CUSTOMER_PASSWORD")?.into());
//! let accounts = vec![Iban::parse("BE68539007547034")?];
//! let request = ConsentRequest {
//!     access: ConsentAccess::full(accounts),
//!     recurring: true,
//!     valid_until: time::macros::date!(2027 - 05 - 31),
//!     frequency_per_day: 4,
//! };
//! let consent = bank.create_consent(&psu, &request).await?;
//! let target = ScaTarget::Consent(consent.clone());
//! // The bank says what it asks of the customer: here a challenge (embedded SCA); a redirect, an
//! // approval in the bank's app (decoupled) or a choice of methods are the other `ScaStep`s.
//! match bank.start_authorisation(&psu, &target).await? {
//!     ScaStep::Challenge(challenge) => {
//!         let answer = ScaAnswer::new(ask_the_customer(&challenge.data));
//!         bank.authorise(&psu, &target, &challenge.authorisation_id, &answer).await?;
//!     }
//!     other => println!("the customer acts at the bank: {other:?}"),
//! }
//!
//! // Reads go through whichever channel works; an error says what it means for the caller
//! // (`is_outcome_unknown()`, `triggers_switch()`, …).
//! let psu = psu.with_consent(consent);
//! for account in bank.accounts(&psu).await? {
//!     for balance in bank.balances(&psu, &account.id, None).await? {
//!         println!("{}: {:?} {}", account.iban, balance.kind, balance.amount);
//!     }
//! }
//! engine.shutdown().await;
//! # Ok(()) }
//! # fn ask_the_customer(_challenge: &str) -> String { String::new() }
//! ```
//!
//! The same engine runs as an HTTP service with Berlin-Group-shaped routes (the `psd2-fallback-service`
//! crate) and is exercised against a complete sandbox bank (`psd2-fallback-sandbox`); neither is a
//! dependency of this crate.
//!
//! # Layout
//! - [`model`]: the domain — IBANs, amounts, accounts, balances, transactions, payments, standing orders,
//!   payment files (pain.001), consents, SCA. No IO, no wire formats.
//! - [`bank`]: the [`Bank`] trait every channel implements, [`PsuContext`], and [`BankError`], which says
//!   what a failure means for switching (unavailable, service unavailable, unusable, outcome unknown,
//!   rejected, SCA required, screen changed, …).
//! - [`api`]: [`ApiBank`], the API channel — a Berlin Group NextGenPSD2 client for every operation, whose
//!   errors say whether anything reached the bank.
//! - [`screen`]: [`ScreenBank`], the website channel — the bank's website driven through WebDriver, read
//!   through a screen map ([`screen::map::ScreenMap`], which map authors can also use to read a saved
//!   page: [`screen::map::ScreenMap::read`]).
//! - [`health`]: [`Health`], one state machine per bank (`Api` / `Fallback` / `Probing`), the RTS
//!   Art. 33(1) policy (requests not answered only) and faster ones confirmed by a probe, overrides,
//!   exemption, [`SwitchEvent`]s with literal reasons, the API [`health::Probe`].
//! - [`journal`]: the durable record — payment intents, switch events, the fallback access log and the
//!   unattended-access counters ([`SqliteJournal`] behind [`JournalStore`]; `PostgresJournal` with the
//!   feature `postgres`, for replicas sharing one database), keyed by [`JournalKeys`] so no consent id,
//!   IBAN or PSU id is a key in clear.
//! - [`fingerprint`]: what a write says, as one stable id — part of its journal key and of the
//!   `X-Request-ID` sent for it.
//! - [`failover`]: [`Failover`], a `Bank` over the two channels that keeps "one intent, at most one
//!   payment", and [`FailoverBuilder`], the one way to put a bank's engine together.
//! - [`report`]: daily availability the EBA way.
//! - [`identity`]: the TPP's eIDAS certificates (QWAC, QSeal) — loaded from PEM or the environment,
//!   their PSD2 QC statement read, refused at start naming file and field — and Berlin Group request
//!   signing and verification.
//! - `egress` (feature `egress`): the website channel's loopback forward proxy — the browser's only road to the bank
//!   (allow-listed hosts, the QWAC towards the bank, the Art. 33(5) access log).
//!
//! # Features
//! - `pain001-schema` (default): validates pain.001 payment files against the ISO 20022 schemas with
//!   libxml2, whose bindings need libclang at build time. Without it, files are still checked for a DTD,
//!   their shape, every element the engine reads, counts, sums and IBANs.
//! - `test-pki`: `identity::test_pki`, a CA and TPP certificates made at run time (tests, benchmarks).
//! - `egress`: the `egress` module, the loopback forward proxy for the browser (a small HTTP server). Off by
//!   default: an embedder compiles no server stack.
//!
//! The README's "Architecture" section is the longer version of this map.

pub mod api;
pub mod bank;
#[cfg(feature = "egress")]
pub mod egress;
pub mod failover;
pub mod fingerprint;
#[cfg(test)]
mod fuzz;
pub mod health;
pub mod identity;
pub mod journal;
pub mod mask;
pub mod model;
pub mod report;
pub mod screen;

pub use api::{ApiBank, ApiBankConfig};
pub use bank::{Bank, BankError, BankResult, Channel, PsuContext, ScaRelay};
pub use failover::{BuiltFailover, Failover, FailoverBuilder, ScreenChannel};
pub use health::{Health, HealthConfig, Mode, SwitchEvent};
pub use journal::{JournalKeys, JournalStore, SqliteJournal};
pub use screen::{ScreenBank, ScreenBankConfig};

/// A boxed, sendable future: how the engine passes async closures (flows, channel calls) around.
pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
