//! The book's contents: the records the bank keeps (accounts and their booked entries, payments,
//! consents, authorisations) and the lookups every operation shares. No time passes here: settlement
//! and the standing-order schedule move the book, `bookkeeping` decides when.

use std::collections::HashMap;

use rust_decimal::Decimal;
use time::Date;
use tokio::time::Instant;

use super::error::{LedgerError, LedgerResult};
use crate::seed::{self, CUSTOMERS};
use psd2_fallback_engine::model::{
    Account, AccountId, Amount, AuthorisationId, BookingStatus, Consent, ConsentId, Counterparty,
    Currency, EndToEndId, Iban, InvalidValue, PaymentFile, PaymentId, PaymentKind, PaymentRequest,
    PaymentStatus, ScaApproach, ScaStatus, ScaTarget, StandingOrderRequest, Transaction,
    TransactionId,
};

/// One authorisation (SCA) as the bank tracks it.
#[derive(Debug, Clone)]
pub(super) struct Authorisation {
    /// The customer who must answer.
    pub(super) customer: String,
    /// The consent or payment it signs.
    pub(super) target: ScaTarget,
    /// The challenge shown to the customer's card reader.
    pub(super) challenge: String,
    /// Where the authorisation is.
    pub(super) status: ScaStatus,
    /// How many more wrong answers it takes before it fails.
    pub(super) attempts_left: u32,
    /// How the customer authenticates: embedded (the challenge goes through the TPP), redirect (on
    /// the bank's page) or decoupled (in the bank's app).
    pub(super) approach: ScaApproach,
    /// The redirect's secret state: the bank's page serves only the URL that carries it.
    pub(super) state: Option<String>,
    /// Where the customer's browser returns after a redirect: when it succeeded, when it failed.
    pub(super) back: (Option<String>, Option<String>),
    /// When a decoupled approval lapses.
    pub(super) expires_at: Option<Instant>,
    /// What the bank says about how it ended (refused in the app, expired).
    pub(super) message: Option<String>,
}

/// A login waiting in the customer's app.
#[derive(Debug, Clone)]
pub(super) struct LoginApproval {
    /// The customer who logs in.
    pub(super) customer: String,
    /// `started` while it waits; `finalised` approved, `failed` refused or lapsed.
    pub(super) status: ScaStatus,
    /// When it lapses.
    pub(super) expires_at: Instant,
    /// What the bank says about how it ended (refused in the app, expired).
    pub(super) message: Option<String>,
    /// For a login that continues at the bank's own page: the secret state its address carries and
    /// the card reader's challenge shown there.
    pub(super) redirect: Option<(String, String)>,
}

/// One account and its booked history.
#[derive(Debug, Clone)]
pub(super) struct AccountRecord {
    /// The resource id the API and the website use.
    pub(super) id: AccountId,
    /// The customer number of the holder.
    pub(super) owner: String,
    /// The account's IBAN.
    pub(super) iban: Iban,
    /// The account's name, as the customer sees it.
    pub(super) name: String,
    /// The bank's product.
    pub(super) product: String,
    /// How far the account may go below zero.
    pub(super) credit_limit: Decimal,
    /// The booked balance at the end of the day before `opened`.
    pub(super) opening_balance: Decimal,
    /// The first day of history: the opening balance is the balance at the end of the day before.
    pub(super) opened: Date,
    /// The booked entries, oldest first.
    pub(super) entries: Vec<Entry>,
}

/// One booked entry of an account.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The transaction id.
    pub(super) id: TransactionId,
    /// The day it was booked.
    pub(super) booking_date: Date,
    /// The day it counts from for interest.
    pub(super) value_date: Date,
    /// Positive for a credit, negative for a debit.
    pub(super) amount: Decimal,
    /// The other party, if known.
    pub(super) counterparty: Option<Counterparty>,
    /// The communication.
    pub(super) remittance: Option<String>,
    /// The bank transaction code (`PMNT-ICDT-ESCT`, …).
    pub(super) code: &'static str,
    /// The end-to-end id of the payment that made it.
    pub(super) end_to_end_id: Option<EndToEndId>,
    /// The standing order that made it.
    pub(super) standing_order: Option<PaymentId>,
}

/// What a payment resource pays, with what its execution needs to remember.
#[derive(Debug, Clone)]
pub(super) enum PaymentState {
    /// A single credit transfer.
    Single {
        /// The payment as initiated.
        request: PaymentRequest,
    },
    /// A standing order.
    Periodic {
        /// The order as initiated.
        request: StandingOrderRequest,
        /// How many nominal execution dates have been dealt with (executed or skipped).
        executions: u32,
    },
    /// A payment file.
    File {
        /// The validated file.
        file: PaymentFile,
        /// Each payment's own status, in the file's order.
        statuses: Vec<PaymentStatus>,
    },
}

/// One payment, standing order or payment file.
#[derive(Debug, Clone)]
pub(super) struct PaymentEntry {
    /// The customer it belongs to.
    pub(super) customer: String,
    /// Single, periodic or file, and the product.
    pub(super) kind: PaymentKind,
    /// Its ISO 20022 status.
    pub(super) status: PaymentStatus,
    /// What it pays.
    pub(super) state: PaymentState,
    /// When it was signed; settlement waits a while from then.
    pub(super) authorised_at: Option<Instant>,
    /// Why the bank refused it or what happened, for the customer.
    pub(super) reason: Option<String>,
    /// Newest first in lists.
    pub(super) sequence: u64,
    /// Whether a cancellation waits for its authorisation (`--cancel-sca`).
    pub(super) cancel_requested: bool,
}

/// One consent and how it has been used.
#[derive(Debug, Clone)]
pub(super) struct ConsentEntry {
    /// The customer who gave it.
    pub(super) customer: String,
    /// The consent as the API shows it.
    pub(super) consent: Consent,
    /// Unattended reads per account on one day: (day, account) → count.
    pub(super) unattended: HashMap<(Date, Iban), u32>,
}

/// Everything the bank knows, kept behind the ledger's one lock.
#[derive(Debug)]
pub(super) struct Book {
    /// The bank's business day.
    pub(super) today: Date,
    /// Every customer's accounts.
    pub(super) accounts: Vec<AccountRecord>,
    /// Every payment, standing order and file, by id.
    pub(super) payments: HashMap<PaymentId, PaymentEntry>,
    /// Every consent, by id.
    pub(super) consents: HashMap<ConsentId, ConsentEntry>,
    /// Every authorisation, by id.
    pub(super) authorisations: HashMap<AuthorisationId, Authorisation>,
    /// Website logins waiting for the customer's approval in the banking app, by id.
    pub(super) login_approvals: HashMap<AuthorisationId, LoginApproval>,
    /// `X-Request-ID`s of initiations already served, so a repeated request gets the same resource.
    pub(super) request_ids: HashMap<(String, String), PaymentId>,
    /// The number in the next id handed out; it also orders payments in lists.
    pub(super) next_id: u64,
    /// Where challenges come from (seeded, so runs are reproducible).
    pub(super) rng: seed::SplitMix,
    /// The accounts each customer ticks when the bank offers them at a bank-offered consent's SCA;
    /// a customer not here ticks every account of theirs.
    pub(super) offer_choices: HashMap<String, Vec<Iban>>,
}

impl AccountRecord {
    /// The account as both faces show it.
    pub(super) fn to_account(&self) -> Account {
        Account {
            id: self.id.clone(),
            iban: self.iban.clone(),
            currency: Currency::EUR,
            name: self.name.clone(),
            product: self.product.clone(),
            owner_name: CUSTOMERS
                .iter()
                .find(|c| c.number == self.owner)
                .map(|c| c.name)
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// The booked balance at the end of `day`.
    pub(super) fn booked_at(&self, day: Date) -> Decimal {
        self.opening_balance
            + self
                .entries
                .iter()
                .filter(|e| e.booking_date <= day)
                .map(|e| e.amount)
                .sum::<Decimal>()
    }
}

impl Entry {
    /// The entry as a booked transaction.
    pub(super) fn to_transaction(&self) -> Transaction {
        Transaction {
            id: self.id.clone(),
            status: BookingStatus::Booked,
            booking_date: Some(self.booking_date),
            value_date: self.value_date,
            amount: Amount::eur(self.amount).expect("ledger amounts have cents"),
            counterparty: self.counterparty.clone(),
            remittance: self.remittance.clone(),
            bank_transaction_code: Some(self.code.to_owned()),
            end_to_end_id: self.end_to_end_id.clone(),
            standing_order: self.standing_order.clone(),
        }
    }
}

impl Book {
    /// A new id with a prefix that says what it names (`tx`, `pmt`, `cns`, …).
    pub(super) fn fresh_id(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}-{:06}", self.next_id);
        self.next_id += 1;
        id
    }

    /// One of a customer's accounts, by resource id.
    pub(super) fn account(&self, customer: &str, id: &AccountId) -> LedgerResult<&AccountRecord> {
        self.accounts
            .iter()
            .find(|a| a.owner == customer && &a.id == id)
            .ok_or_else(|| LedgerError::NotFound {
                what: "account",
                id: id.to_string(),
            })
    }

    /// The index of the customer's account with this IBAN; the error names the request's `field`.
    pub(super) fn owned_iban(
        &self,
        customer: &str,
        iban: &Iban,
        field: &'static str,
    ) -> LedgerResult<usize> {
        self.accounts
            .iter()
            .position(|a| a.owner == customer && &a.iban == iban)
            .ok_or_else(|| {
                InvalidValue::new(
                    field,
                    format!("{} is not one of the customer's accounts", iban.masked()),
                )
                .into()
            })
    }

    /// One of a customer's payments.
    pub(super) fn payment(&self, customer: &str, id: &PaymentId) -> LedgerResult<&PaymentEntry> {
        self.payments
            .get(id)
            .filter(|p| p.customer == customer)
            .ok_or_else(|| LedgerError::NotFound {
                what: "payment",
                id: id.to_string(),
            })
    }

    /// One of a customer's payments, to change it.
    pub(super) fn payment_mut(
        &mut self,
        customer: &str,
        id: &PaymentId,
    ) -> LedgerResult<&mut PaymentEntry> {
        self.payments
            .get_mut(id)
            .filter(|p| p.customer == customer)
            .ok_or_else(|| LedgerError::NotFound {
                what: "payment",
                id: id.to_string(),
            })
    }
}
