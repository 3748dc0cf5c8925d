//! psd2-fallback keeps open-banking apps working when a bank's PSD2 API goes down.
//!
//! When the bank's dedicated interface (its Berlin Group NextGenPSD2 API) is unavailable, the engine
//! drives the bank's customer interface (its online-banking website) through WebDriver and serves the
//! same operations with the same types, as RTS 2018/389 Art. 33 allows.
//!
//! # Layout
//! - [`model`]: the domain — IBANs, amounts, accounts, balances, transactions, payments, standing orders,
//!   payment files (pain.001), consents, SCA. No IO, no wire formats.
//! - [`bank`]: the [`Bank`] trait every channel implements, and [`BankError`], which says what a failure
//!   means for switching (unavailable, outcome unknown, rejected, SCA required, screen changed, …).
//! - [`api`]: [`api::ApiBank`], the API channel — a Berlin Group NextGenPSD2 client for every operation,
//!   whose errors say whether anything reached the bank.
//! - [`screen`]: [`screen::ScreenBank`], the screen channel — the bank's website driven through
//!   WebDriver, read through a screen map (`selectors/<bank>.toml`).
//! - [`health`]: [`health::Health`], one state machine per bank (`Api` / `Fallback` / `Probing`), the RTS
//!   Art. 33(1) policy and faster ones, overrides, exemption, [`health::SwitchEvent`]s.
//! - [`journal`]: the durable record — payment intents, switch events, the fallback access log and the
//!   unattended-access counters ([`journal::SqliteJournal`]).
//! - [`failover`]: [`failover::Failover`], a `Bank` over the two channels that keeps "one intent, at most
//!   one payment", and [`failover::FailoverBuilder`], the one way to put a bank's engine together.
//! - [`report`]: daily availability the EBA way.
//! - [`service`]: the resilience service — a Berlin-Group-shaped HTTP server (axum) over a `Failover` per
//!   bank, with caller authentication, rate limits, `/health`, `/metrics`, `/events` and its config file.
//!   `xs2a` (private) is the server side of the NextGenPSD2 JSON, shared with the sandbox bank's API.
//! - [`sandbox`] (feature `sandbox`, on by default): a small but complete bank — one ledger behind a
//!   Berlin-Group-shaped API and an online-banking website — with fault injection, for the demo and tests.
//!
//! The README's "Architecture" section is the longer version of this map.

pub mod api;
pub mod bank;
pub mod failover;
pub mod health;
pub mod journal;
mod mask;
pub mod model;
pub mod report;
pub mod screen;

pub use bank::{Bank, BankError, BankResult, Channel, PsuContext, ScaRelay};

/// A boxed, sendable future: how the engine passes async closures (flows, channel calls) around.
pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
