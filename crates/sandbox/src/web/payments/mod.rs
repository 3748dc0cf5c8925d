//! Payments on the website, one file per job: the transfer form and its read-back, the list of
//! payments with a payment's page and cancelling, signing with the card reader (or in the banking app) and the result
//! (shared by standing orders and files), and the parts those screens share.
//!
//! This file only declares; the screens import each other's parts directly.

pub(super) mod app_signing;
pub(super) mod describe;
pub(super) mod fields;
pub(super) mod list;
pub(super) mod signing;
pub(super) mod transfer;
