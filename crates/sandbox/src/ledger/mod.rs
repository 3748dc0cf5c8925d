//! The sandbox bank's ledger: one book of accounts behind both the API and the website, so the two
//! faces always agree.
//!
//! Everything is in memory behind one mutex; every operation first brings the book up to date
//! (settles payments whose time has come, runs due standing orders, expires consents), so statuses
//! move over time without a background task.
//!
//! - [`Ledger`] (`bookkeeping`): the lock, the seeding, bringing the book up to date, the business day.
//! - `book`: the records the bank keeps and the lookups every operation shares.
//! - `accounts`: logging in, accounts, balances, history, available funds.
//! - `payments`: initiating, reading and cancelling payments, standing orders and payment files.
//! - `settlement`: booking transfers and executing accepted payments (`ACTC` → `ACSC` or `RJCT`).
//! - `schedule`: when standing orders execute.
//! - `consents`: consents, their validity and the Art. 36(5) counter.
//! - `sca`: challenges and authorisations.
//! - `approaches`: redirect (the bank's page, a secret state) and decoupled (the bank's app) SCA.
//!
//! This file only declares and re-exports: the ledger's files import each other, never this one.

mod accounts;
mod approaches;
mod book;
mod bookkeeping;
mod consents;
mod error;
mod logins;
mod payments;
mod sca;
mod schedule;
mod settlement;
#[cfg(test)]
mod testing;

pub use approaches::{
    APP, CANCELLED, CARD_READER, EXPIRED, LOGIN_APPROVAL, METHODS, MethodChosen, PendingApproval,
    REFUSED_IN_APP, RedirectEnd,
};
pub use bookkeeping::Ledger;
pub use consents::ConsentUse;
pub use error::{LedgerError, LedgerResult};
pub use payments::{PaymentDetail, PaymentRecord, Pays};
pub use sca::SCA_ATTEMPTS;
