//! The sandbox bank: a small but complete bank, part of the product.
//!
//! One in-memory [`Ledger`] sits behind faces that always agree: a Berlin-Group-shaped API ([`api`]),
//! a server-rendered online-banking website ([`web`]) and a second one unlike it, in Dutch ([`web2`]). Both faces can be made to fail on
//! purpose ([`ApiFault`], [`WebsiteFault`]), from Rust or from the admin route on the website's port, so
//! the engine's failover can be shown and tested against a bank that misbehaves the way real ones do.
//!
//! The customers' card readers are simulated by [`card_reader_response`]: given a customer and the
//! challenge the bank shows, it computes the answer the customer's card reader would display, so tests
//! and the demo answer challenges honestly instead of the bank skipping SCA.
//!
//! # Layout
//!
//! Dependencies point one way, down this list; nothing imports a module above it, and nothing imports
//! this file or a folder's `mod.rs` from inside (they only declare, re-export and compose):
//!
//! - `server` — [`Sandbox`]: the two listeners, the admin routes, the connection handling. It builds the
//!   shared state and composes the two faces over it.
//! - [`api`], [`web`], [`web2`] — the three faces: the API and two websites unlike each other over the
//!   same bank. None knows another or `server`; the websites share `markup` (escaping, cookies) and `visit`
//!   (the session store: sessions, drafts and signings in progress).
//! - `sca_web` — the bank's SCA screens beyond embedded: the redirect page (`/sca/redirect/{id}`,
//!   its URL carrying a secret state) and the simulated banking app of the decoupled approach (its page
//!   `/app/{customer}`, and `PUT /_sandbox/app/{customer}/{approve|refuse}`). Which approach the API
//!   uses is [`SandboxSca`].
//! - `tpp` — [`TppChecks`]: the API port over TLS, identifying the TPP by its QWAC (roles) and, when
//!   asked, its QSeal signature, as a bank does; `server` puts it in front of the API, and, with
//!   [`Sandbox::start_identified_with_website`], the website behind the same TLS, open only to a
//!   client presenting its QWAC.
//! - `state` — what both faces share: the ledger handle, the faults in force, [`SandboxConfig`], and the
//!   marker that lets a fault drop a connection.
//! - [`ledger`] — the book; `seed` — its customers and history; `faults` — the faults;
//!   `card_reader` — the customers' card readers.

pub mod api;
mod card_reader;
mod faults;
pub mod ledger;
mod markup;
mod oauth;
mod sca_web;
mod seed;
mod server;
mod state;
mod tpp;
mod visit;
pub mod web;
pub mod web2;

pub use card_reader::{CardReaderRelay, card_reader_response};
pub use faults::{ApiFault, WebsiteFault};
pub use ledger::{Ledger, LedgerError};
pub use seed::{CUSTOMERS, SandboxCustomer};
pub use server::Sandbox;
pub use state::{SandboxConfig, SandboxSca};
pub use tpp::{IDENTIFY_PATH, SESSION_HEADER, TlsSetupError, TppChecks};
