//! The sandbox bank's ledger: one book of accounts behind both the API and the website, so the two
//! faces always agree.
//!
//! Everything is in memory behind one mutex; every operation first brings the book up to date
//! (settles payments whose time has come, runs due standing orders, expires consents), so statuses
//! move over time without a background task.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use rust_decimal::Decimal;
use time::{Date, Duration, Month, Weekday};
use tokio::time::Instant;

use super::card_reader_response;
use super::seed::{self, BANK_CODE, CUSTOMERS, belgian_iban};
use psd2_fallback_engine::model::{
    Account, AccountId, Amount, AuthorisationId, Balance, BalanceType, BookingStatus, Consent,
    ConsentId, ConsentRequest, ConsentStatus, Counterparty, Currency, EndToEndId, ExecutionRule,
    FilePayment, Iban, InvalidValue, PaymentFile, PaymentId, PaymentInitiation, PaymentKind,
    PaymentRef, PaymentRequest, PaymentStatus, ScaChallenge, ScaStatus, ScaTarget, StandingOrder,
    StandingOrderRequest, Transaction, TransactionFilter, TransactionId,
};

/// How many wrong answers to a challenge the bank accepts before the authorisation fails.
pub const SCA_ATTEMPTS: u32 = 3;

/// Why the bank said no. Each maps to one Berlin Group `tppMessages` code and one website message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// No such resource, or not this customer's.
    #[error("{what} {id} is unknown")]
    NotFound {
        /// What was looked for (`account`, `payment`, `consent`, `authorisation`).
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A field of the request is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    /// The customer number or password is wrong.
    #[error("customer number or password is wrong")]
    CredentialsInvalid,
    /// The answer to the challenge is wrong.
    #[error("the answer to the challenge is wrong ({attempts_left} attempts left)")]
    ScaInvalid {
        /// How many more tries are allowed.
        attempts_left: u32,
    },
    /// The authorisation failed or is already done.
    #[error("authorisation {id} is {status}, it cannot take an answer")]
    ScaClosed {
        /// The authorisation.
        id: String,
        /// Its status code.
        status: &'static str,
    },
    /// Not enough money on the account (ISO 20022 reason AM04).
    #[error("insufficient funds on {account} (AM04)")]
    InsufficientFunds {
        /// The account, masked.
        account: String,
    },
    /// The payment was already executed, rejected or cancelled.
    #[error("payment {id} is {status} and can no longer be cancelled")]
    NotCancellable {
        /// The payment.
        id: String,
        /// Its status code.
        status: &'static str,
    },
    /// The payment is in a state that does not allow this (e.g. signing a cancelled payment).
    #[error("payment {id} is {status}: {reason}")]
    WrongStatus {
        /// The payment.
        id: String,
        /// Its status code.
        status: &'static str,
        /// What was refused.
        reason: &'static str,
    },
    /// The consent does not allow this access.
    #[error("consent {id} does not allow this: {reason}")]
    ConsentInvalid {
        /// The consent.
        id: String,
        /// Why.
        reason: String,
    },
    /// The consent is past its `validUntil`.
    #[error("consent {id} expired")]
    ConsentExpired {
        /// The consent.
        id: String,
    },
    /// Unattended access beyond the consent's `frequencyPerDay` (RTS Art. 36(5)).
    #[error(
        "account {account} was read {count} times today without the customer present; the consent allows {limit}"
    )]
    AccessExceeded {
        /// The account, masked.
        account: String,
        /// Reads so far today.
        count: u32,
        /// The consent's `frequencyPerDay`.
        limit: u32,
    },
}

/// What an operation on the book returns.
pub type LedgerResult<T> = Result<T, LedgerError>;

/// What a consent is asked to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentUse {
    /// Listing accounts or reading an account's details.
    Accounts,
    /// Reading balances.
    Balances,
    /// Reading transactions.
    Transactions,
}

/// A payment, standing order or payment file as the bank's own screens list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// The resource.
    pub payment: PaymentRef,
    /// Its status now.
    pub status: PaymentStatus,
    /// What it pays: the single payment, the standing order's payment, or the file's payments.
    pub detail: PaymentDetail,
    /// Where the bank answered "no" or what happened, for the customer.
    pub reason: Option<String>,
    /// Whether it can still be cancelled.
    pub cancellable: bool,
}

/// The content of a payment resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentDetail {
    /// A single credit transfer.
    Single(PaymentRequest),
    /// A standing order.
    Periodic(StandingOrderRequest),
    /// A payment file: message id and its payments with each one's status.
    File {
        /// `GrpHdr/MsgId`.
        message_id: String,
        /// Each payment with its own status.
        payments: Vec<(FilePayment, PaymentStatus)>,
    },
}

/// One authorisation (SCA) as the bank tracks it.
#[derive(Debug, Clone)]
struct Authorisation {
    customer: String,
    target: ScaTarget,
    challenge: String,
    status: ScaStatus,
    attempts_left: u32,
}

#[derive(Debug, Clone)]
struct AccountRecord {
    id: AccountId,
    owner: String,
    iban: Iban,
    name: String,
    product: String,
    credit_limit: Decimal,
    opening_balance: Decimal,
    /// The first day of history: the opening balance is the balance at the end of the day before.
    opened: Date,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    id: TransactionId,
    booking_date: Date,
    value_date: Date,
    amount: Decimal,
    counterparty: Option<Counterparty>,
    remittance: Option<String>,
    code: &'static str,
    end_to_end_id: Option<EndToEndId>,
    standing_order: Option<PaymentId>,
}

#[derive(Debug, Clone)]
enum PaymentState {
    Single {
        request: PaymentRequest,
    },
    Periodic {
        request: StandingOrderRequest,
        /// How many nominal execution dates have been dealt with (executed or skipped).
        executions: u32,
    },
    File {
        file: PaymentFile,
        statuses: Vec<PaymentStatus>,
    },
}

#[derive(Debug, Clone)]
struct PaymentEntry {
    customer: String,
    kind: PaymentKind,
    status: PaymentStatus,
    state: PaymentState,
    authorised_at: Option<Instant>,
    reason: Option<String>,
    /// Newest first in lists.
    sequence: u64,
}

#[derive(Debug, Clone)]
struct ConsentEntry {
    customer: String,
    consent: Consent,
    /// Unattended reads per account on one day: (day, account) → count.
    unattended: HashMap<(Date, Iban), u32>,
}

#[derive(Debug)]
struct Book {
    today: Date,
    accounts: Vec<AccountRecord>,
    payments: HashMap<PaymentId, PaymentEntry>,
    consents: HashMap<ConsentId, ConsentEntry>,
    authorisations: HashMap<AuthorisationId, Authorisation>,
    /// `X-Request-ID`s of initiations already served, so a repeated request gets the same resource.
    request_ids: HashMap<(String, String), PaymentId>,
    next_id: u64,
    rng: seed::SplitMix,
}

/// The sandbox bank's book of accounts.
#[derive(Debug)]
pub struct Ledger {
    book: Mutex<Book>,
    /// How long an accepted payment waits before it settles (`ACTC` → `ACSC`).
    settle_after: StdDuration,
}

impl Ledger {
    /// A ledger seeded with the sandbox's customers and thirteen months of history up to `today`.
    pub fn new(today: Date, settle_after: StdDuration) -> Self {
        let opened = today - Duration::days(seed::HISTORY_DAYS);
        let openings = seed::opening_balances();
        let accounts: Vec<AccountRecord> = seed::accounts()
            .into_iter()
            .zip(openings)
            .enumerate()
            .map(|(i, (a, opening))| AccountRecord {
                id: AccountId::new(format!("acc-{:02}", i + 1)),
                owner: a.owner.to_owned(),
                iban: belgian_iban(BANK_CODE, a.number),
                name: a.name.to_owned(),
                product: a.product.to_owned(),
                credit_limit: a.credit_limit,
                opening_balance: opening,
                opened,
                entries: Vec::new(),
            })
            .collect();
        let mut book = Book {
            today: opened,
            accounts,
            payments: HashMap::new(),
            consents: HashMap::new(),
            authorisations: HashMap::new(),
            request_ids: HashMap::new(),
            next_id: 1,
            rng: seed::SplitMix::new(0xCA4D_2EAD),
        };
        let mut history = seed::one_off_history(today);
        history.sort_by_key(|e| e.date);
        for e in history {
            let id = book.fresh_id("tx");
            let iban = e.counterparty_iban;
            book.accounts[e.account].entries.push(Entry {
                id: TransactionId::new(id),
                booking_date: e.date,
                value_date: e.date,
                amount: e.amount,
                counterparty: Some(Counterparty {
                    name: e.counterparty.to_owned(),
                    iban,
                }),
                remittance: Some(e.remittance),
                code: e.code,
                end_to_end_id: None,
                standing_order: None,
            });
        }
        for order in seed::standing_orders() {
            let owner = book.accounts[order.account].owner.clone();
            let debtor = book.accounts[order.account].iban.clone();
            let request = StandingOrderRequest {
                payment: PaymentRequest {
                    product: psd2_fallback_engine::model::PaymentProduct::SepaCreditTransfer,
                    debtor,
                    creditor_name: order.creditor_name.to_owned(),
                    creditor: order.creditor,
                    amount: Amount::eur(order.amount).expect("seed amounts have cents"),
                    remittance: Some(order.remittance.to_owned()),
                    requested_execution_date: None,
                    end_to_end_id: EndToEndId::new(format!("SO-{}", book.next_id))
                        .expect("a valid id"),
                },
                start_date: opened,
                end_date: None,
                frequency: order.frequency,
                day_of_execution: Some(order.day_of_execution),
                execution_rule: order.execution_rule,
            };
            let id = PaymentId::new(book.fresh_id("so"));
            let sequence = book.next_id;
            book.payments.insert(
                id,
                PaymentEntry {
                    customer: owner,
                    kind: PaymentKind::Periodic(request.payment.product),
                    status: PaymentStatus::AcceptedTechnical,
                    state: PaymentState::Periodic {
                        request,
                        executions: 0,
                    },
                    authorised_at: Some(Instant::now()),
                    reason: None,
                    sequence,
                },
            );
        }
        // Run the seeded standing orders day by day up to today, interleaved with the one-off history.
        for account in &mut book.accounts {
            account.entries.sort_by_key(|e| e.booking_date);
        }
        book.today = today;
        book.run_standing_orders(Instant::now(), StdDuration::ZERO);
        for account in &mut book.accounts {
            account
                .entries
                .sort_by(|a, b| a.booking_date.cmp(&b.booking_date).then(a.id.cmp(&b.id)));
        }
        Self {
            book: Mutex::new(book),
            settle_after,
        }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        let mut book = self
            .book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        book.advance(Instant::now(), self.settle_after);
        book
    }

    /// The bank's business day.
    pub fn today(&self) -> Date {
        self.book().today
    }

    /// Moves the bank's business day forward: due payments and standing orders execute.
    pub fn set_today(&self, today: Date) -> LedgerResult<()> {
        let mut book = self.book();
        if today < book.today {
            return Err(InvalidValue::new("today", "the bank's day only moves forward").into());
        }
        book.today = today;
        book.advance(Instant::now(), self.settle_after);
        Ok(())
    }

    /// Checks a customer's password; returns the customer's name.
    pub fn log_in(&self, customer: &str, password: &str) -> LedgerResult<&'static str> {
        CUSTOMERS
            .iter()
            .find(|c| {
                c.number == customer
                    && seed::password_hash(c.number, c.password)
                        == seed::password_hash(customer, password)
            })
            .map(|c| c.name)
            .ok_or(LedgerError::CredentialsInvalid)
    }

    /// The name of a customer.
    pub fn customer_name(&self, customer: &str) -> Option<&'static str> {
        CUSTOMERS
            .iter()
            .find(|c| c.number == customer)
            .map(|c| c.name)
    }

    /// The customer a payment, standing order or file belongs to.
    pub fn owner_of_payment(&self, id: &PaymentId) -> Option<String> {
        self.book().payments.get(id).map(|p| p.customer.clone())
    }

    /// The customer an account belongs to.
    pub fn owner_of_account(&self, iban: &Iban) -> Option<String> {
        self.book()
            .accounts
            .iter()
            .find(|a| &a.iban == iban)
            .map(|a| a.owner.clone())
    }

    /// A fresh eight-digit challenge for a card reader.
    pub fn new_challenge(&self) -> String {
        let mut book = self.book();
        let n = book.rng.next() % 100_000_000;
        format!("{n:08}")
    }

    /// A customer's accounts.
    pub fn accounts(&self, customer: &str) -> Vec<Account> {
        let book = self.book();
        book.accounts
            .iter()
            .filter(|a| a.owner == customer)
            .map(AccountRecord::to_account)
            .collect()
    }

    /// One of a customer's accounts.
    pub fn account(&self, customer: &str, id: &AccountId) -> LedgerResult<Account> {
        let book = self.book();
        book.account(customer, id).map(AccountRecord::to_account)
    }

    /// The account with this IBAN, if it is the customer's.
    pub fn account_by_iban(&self, customer: &str, iban: &Iban) -> LedgerResult<Account> {
        let book = self.book();
        book.accounts
            .iter()
            .find(|a| a.owner == customer && &a.iban == iban)
            .map(AccountRecord::to_account)
            .ok_or_else(|| LedgerError::NotFound {
                what: "account",
                id: iban.masked(),
            })
    }

    /// An account's balances now (`interimBooked`, `interimAvailable`, `expected`, `forwardAvailable` and
    /// yesterday's `closingBooked`), or only the `closingBooked` balance at the end of `at`.
    pub fn balances(
        &self,
        customer: &str,
        id: &AccountId,
        at: Option<Date>,
    ) -> LedgerResult<Vec<Balance>> {
        let book = self.book();
        let account = book.account(customer, id)?;
        let eur = |v: Decimal| Amount::eur(v).expect("ledger amounts have cents");
        let closing = |day: Date| Balance {
            kind: BalanceType::ClosingBooked,
            amount: eur(account.booked_at(day)),
            reference_date: Some(day),
        };
        if let Some(day) = at {
            if day >= book.today {
                return Err(
                    InvalidValue::new("referenceDate", "must be a day before today").into(),
                );
            }
            if day < account.opened - Duration::days(1) {
                return Err(InvalidValue::new(
                    "referenceDate",
                    format!(
                        "the history starts on {}",
                        psd2_fallback_engine::model::belgian::format_iso_date(account.opened)
                    ),
                )
                .into());
            }
            return Ok(vec![closing(day)]);
        }
        let today = book.today;
        let booked = account.booked_at(today);
        let pending = book.pending_of(account);
        let pending_sum: Decimal = pending.iter().map(|p| p.amount.value()).sum();
        let reserved: Decimal = pending
            .iter()
            .filter(|p| p.value_date <= today)
            .map(|p| p.amount.value())
            .sum();
        Ok(vec![
            closing(today - Duration::days(1)),
            Balance {
                kind: BalanceType::InterimBooked,
                amount: eur(booked),
                reference_date: Some(today),
            },
            Balance {
                kind: BalanceType::InterimAvailable,
                amount: eur(booked + reserved + account.credit_limit),
                reference_date: Some(today),
            },
            Balance {
                kind: BalanceType::Expected,
                amount: eur(booked + pending_sum),
                reference_date: Some(today),
            },
            Balance {
                kind: BalanceType::ForwardAvailable,
                amount: eur(booked + pending_sum + account.credit_limit),
                reference_date: None,
            },
        ])
    }

    /// An account's booked and pending transactions that pass the filter, newest first.
    pub fn transactions(
        &self,
        customer: &str,
        id: &AccountId,
        filter: &TransactionFilter,
    ) -> LedgerResult<Vec<Transaction>> {
        let book = self.book();
        let account = book.account(customer, id)?;
        let mut out: Vec<Transaction> = book.pending_of(account);
        out.extend(account.entries.iter().rev().map(|e| e.to_transaction()));
        out.retain(|t| filter.matches(t));
        Ok(out)
    }

    /// The standing orders paying from an account that are active.
    pub fn standing_orders(&self, customer: &str) -> Vec<StandingOrder> {
        let book = self.book();
        let mut orders: Vec<(&PaymentId, &PaymentEntry)> = book
            .payments
            .iter()
            .filter(|(_, p)| {
                p.customer == customer && matches!(p.state, PaymentState::Periodic { .. })
            })
            .collect();
        orders.sort_by_key(|(_, p)| std::cmp::Reverse(p.sequence));
        orders
            .into_iter()
            .filter_map(|(id, p)| match &p.state {
                PaymentState::Periodic { request, .. } => Some(StandingOrder {
                    id: id.clone(),
                    request: request.clone(),
                    status: p.status,
                }),
                _ => None,
            })
            .collect()
    }

    /// Whether an amount is available on an account now (`interimAvailable` covers it).
    pub fn funds_available(
        &self,
        customer: &str,
        iban: &Iban,
        amount: &Amount,
    ) -> LedgerResult<bool> {
        let book = self.book();
        let account = book
            .accounts
            .iter()
            .find(|a| a.owner == customer && &a.iban == iban)
            .ok_or_else(|| LedgerError::NotFound {
                what: "account",
                id: iban.masked(),
            })?;
        if amount.currency() != Currency::EUR {
            return Ok(false);
        }
        Ok(book.available(account) >= amount.value())
    }

    /// Records a single payment; it waits for the customer's signature. A repeated `request_id` returns
    /// the payment the first request made.
    pub fn initiate_payment(
        &self,
        customer: &str,
        request: PaymentRequest,
        request_id: Option<&str>,
    ) -> LedgerResult<PaymentInitiation> {
        request.validate()?;
        let mut book = self.book();
        if let Some(done) = book.replay(customer, request_id) {
            return Ok(done);
        }
        let account = book.owned_iban(customer, &request.debtor, "debtorAccount")?;
        let due_now = request
            .requested_execution_date
            .is_none_or(|d| d <= book.today);
        if let Some(date) = request.requested_execution_date
            && date < book.today
        {
            return Err(InvalidValue::new("requestedExecutionDate", "is in the past").into());
        }
        if due_now && book.available(&book.accounts[account]) < request.amount.value() {
            return Err(LedgerError::InsufficientFunds {
                account: request.debtor.masked(),
            });
        }
        let kind = PaymentKind::Single(request.product);
        Ok(book.record(customer, kind, PaymentState::Single { request }, request_id))
    }

    /// Records a standing order; it waits for the customer's signature.
    pub fn create_standing_order(
        &self,
        customer: &str,
        request: StandingOrderRequest,
        request_id: Option<&str>,
    ) -> LedgerResult<PaymentInitiation> {
        request.validate()?;
        let mut book = self.book();
        if let Some(done) = book.replay(customer, request_id) {
            return Ok(done);
        }
        book.owned_iban(customer, &request.payment.debtor, "debtorAccount")?;
        if request.start_date < book.today {
            return Err(InvalidValue::new("startDate", "is in the past").into());
        }
        let kind = PaymentKind::Periodic(request.payment.product);
        Ok(book.record(
            customer,
            kind,
            PaymentState::Periodic {
                request,
                executions: 0,
            },
            request_id,
        ))
    }

    /// Records a validated payment file; it waits for the customer's signature. Every debtor account in
    /// the file must be the customer's.
    pub fn upload_file(
        &self,
        customer: &str,
        file: PaymentFile,
        request_id: Option<&str>,
    ) -> LedgerResult<PaymentInitiation> {
        let mut book = self.book();
        if let Some(done) = book.replay(customer, request_id) {
            return Ok(done);
        }
        for (i, p) in file.payments.iter().enumerate() {
            book.owned_iban(customer, &p.debtor, "DbtrAcct")
                .map_err(|_| {
                    InvalidValue::new(
                        "DbtrAcct",
                        format!(
                            "payment {} pays from an account that is not the customer's",
                            i + 1
                        ),
                    )
                })?;
        }
        let statuses = vec![PaymentStatus::Received; file.payments.len()];
        Ok(book.record(
            customer,
            PaymentKind::File,
            PaymentState::File { file, statuses },
            request_id,
        ))
    }

    /// A customer's payment, standing order or file.
    pub fn payment(&self, customer: &str, id: &PaymentId) -> LedgerResult<PaymentRecord> {
        let book = self.book();
        book.payment(customer, id)
            .map(|p| p.to_record(id, book.today))
    }

    /// Every payment, standing order and file of a customer, newest first.
    pub fn payments(&self, customer: &str) -> Vec<PaymentRecord> {
        let book = self.book();
        let mut list: Vec<(&PaymentId, &PaymentEntry)> = book
            .payments
            .iter()
            .filter(|(_, p)| p.customer == customer)
            .collect();
        list.sort_by_key(|(_, p)| std::cmp::Reverse(p.sequence));
        list.into_iter()
            .map(|(id, p)| p.to_record(id, book.today))
            .collect()
    }

    /// Finds a customer's payment by its end-to-end id (how a payment of unknown outcome is found again).
    pub fn find_by_end_to_end_id(&self, customer: &str, e2e: &str) -> Option<PaymentRecord> {
        self.payments(customer)
            .into_iter()
            .find(|r| match &r.detail {
                PaymentDetail::Single(p) => p.end_to_end_id.as_str() == e2e,
                PaymentDetail::Periodic(s) => s.payment.end_to_end_id.as_str() == e2e,
                PaymentDetail::File { payments, .. } => {
                    payments.iter().any(|(p, _)| p.end_to_end_id == e2e)
                }
            })
    }

    /// Cancels a payment or standing order: a payment only before it executes, a standing order any time
    /// (no further executions).
    pub fn cancel(&self, customer: &str, id: &PaymentId) -> LedgerResult<PaymentStatus> {
        let mut book = self.book();
        let today = book.today;
        let entry = book.payment_mut(customer, id)?;
        if !entry.cancellable(today) {
            return Err(LedgerError::NotCancellable {
                id: id.to_string(),
                status: entry.status.code(),
            });
        }
        entry.status = PaymentStatus::Cancelled;
        entry.reason = Some("cancelled by the customer".to_owned());
        if let PaymentState::File { statuses, .. } = &mut entry.state {
            statuses.fill(PaymentStatus::Cancelled);
        }
        Ok(PaymentStatus::Cancelled)
    }

    /// Records a consent; it waits for the customer's signature. Every account must be the customer's.
    pub fn create_consent(
        &self,
        customer: &str,
        request: ConsentRequest,
    ) -> LedgerResult<ConsentId> {
        let mut book = self.book();
        let all = request
            .access
            .accounts
            .iter()
            .chain(&request.access.balances)
            .chain(&request.access.transactions);
        for iban in all {
            book.owned_iban(customer, iban, "access")?;
        }
        if request.valid_until < book.today {
            return Err(InvalidValue::new("validUntil", "is in the past").into());
        }
        if request.valid_until > book.today + Duration::days(180) {
            return Err(InvalidValue::new(
                "validUntil",
                "is more than 180 days ahead (RTS Art. 10a)",
            )
            .into());
        }
        if request.frequency_per_day == 0 {
            return Err(InvalidValue::new("frequencyPerDay", "must be at least 1").into());
        }
        if !request.recurring && request.frequency_per_day != 1 {
            return Err(
                InvalidValue::new("frequencyPerDay", "must be 1 for a one-off consent").into(),
            );
        }
        let id = ConsentId::new(book.fresh_id("cns"));
        book.consents.insert(
            id.clone(),
            ConsentEntry {
                customer: customer.to_owned(),
                consent: Consent {
                    id: id.clone(),
                    request,
                    status: ConsentStatus::Received,
                },
                unattended: HashMap::new(),
            },
        );
        Ok(id)
    }

    /// A consent and the customer it belongs to.
    pub fn consent(&self, id: &ConsentId) -> LedgerResult<(String, Consent)> {
        let book = self.book();
        let entry = book.consents.get(id).ok_or_else(|| LedgerError::NotFound {
            what: "consent",
            id: id.to_string(),
        })?;
        Ok((entry.customer.clone(), entry.consent.clone()))
    }

    /// Ends a consent at the third party's request.
    pub fn terminate_consent(&self, id: &ConsentId) -> LedgerResult<()> {
        let mut book = self.book();
        let entry = book
            .consents
            .get_mut(id)
            .ok_or_else(|| LedgerError::NotFound {
                what: "consent",
                id: id.to_string(),
            })?;
        entry.consent.status = ConsentStatus::TerminatedByTpp;
        Ok(())
    }

    /// Checks that a consent allows a use of an account (or, for `account = None`, listing accounts),
    /// and counts the access when the customer is not present (RTS Art. 36(5)): beyond the consent's
    /// `frequencyPerDay` reads of one account in one day, access is refused. Returns the customer.
    pub fn use_consent(
        &self,
        id: &ConsentId,
        what: ConsentUse,
        account: Option<&AccountId>,
        present: bool,
    ) -> LedgerResult<String> {
        let mut book = self.book();
        let today = book.today;
        let iban = match account {
            Some(account_id) => {
                let entry = book.consents.get(id).ok_or_else(|| LedgerError::NotFound {
                    what: "consent",
                    id: id.to_string(),
                })?;
                let customer = entry.customer.clone();
                Some(book.account(&customer, account_id)?.iban.clone())
            }
            None => None,
        };
        let entry = book
            .consents
            .get_mut(id)
            .ok_or_else(|| LedgerError::NotFound {
                what: "consent",
                id: id.to_string(),
            })?;
        let consent = &entry.consent;
        match consent.status {
            ConsentStatus::Valid => {}
            ConsentStatus::Expired => {
                return Err(LedgerError::ConsentExpired { id: id.to_string() });
            }
            other => {
                return Err(LedgerError::ConsentInvalid {
                    id: id.to_string(),
                    reason: format!("its status is {}", other.code()),
                });
            }
        }
        let access = &consent.request.access;
        if let Some(iban) = &iban {
            let list = match what {
                ConsentUse::Accounts => &access.accounts,
                ConsentUse::Balances => &access.balances,
                ConsentUse::Transactions => &access.transactions,
            };
            let listed = list.contains(iban)
                || (what == ConsentUse::Accounts
                    && (access.balances.contains(iban) || access.transactions.contains(iban)));
            if !listed {
                return Err(LedgerError::ConsentInvalid {
                    id: id.to_string(),
                    reason: format!("it gives no {what:?} access to {}", iban.masked())
                        .to_lowercase(),
                });
            }
            if !present {
                let limit = consent.request.frequency_per_day;
                let count = entry.unattended.entry((today, iban.clone())).or_insert(0);
                if *count >= limit {
                    return Err(LedgerError::AccessExceeded {
                        account: iban.masked(),
                        count: *count,
                        limit,
                    });
                }
                *count += 1;
            }
        }
        Ok(entry.customer.clone())
    }

    /// The accounts a consent opens, with the customer they belong to.
    pub fn consent_accounts(&self, id: &ConsentId) -> LedgerResult<Vec<Account>> {
        let customer = self.use_consent(id, ConsentUse::Accounts, None, true)?;
        let (_, consent) = self.consent(id)?;
        let access = &consent.request.access;
        Ok(self
            .accounts(&customer)
            .into_iter()
            .filter(|a| {
                access.accounts.contains(&a.iban)
                    || access.balances.contains(&a.iban)
                    || access.transactions.contains(&a.iban)
            })
            .collect())
    }

    /// Starts an authorisation of a consent or payment: checks the password, returns the challenge.
    pub fn start_authorisation(
        &self,
        customer: &str,
        target: ScaTarget,
        password: &str,
    ) -> LedgerResult<ScaChallenge> {
        self.log_in(customer, password)?;
        self.issue_challenge(customer, target)
    }

    /// A challenge for a consent or payment that is waiting for its signature.
    fn issue_challenge(&self, customer: &str, target: ScaTarget) -> LedgerResult<ScaChallenge> {
        let mut book = self.book();
        match &target {
            ScaTarget::Consent(id) => {
                let entry = book
                    .consents
                    .get(id)
                    .filter(|c| c.customer == customer)
                    .ok_or_else(|| LedgerError::NotFound {
                        what: "consent",
                        id: id.to_string(),
                    })?;
                if entry.consent.status != ConsentStatus::Received {
                    return Err(LedgerError::ConsentInvalid {
                        id: id.to_string(),
                        reason: format!("its status is {}", entry.consent.status.code()),
                    });
                }
            }
            ScaTarget::Payment(payment) => {
                let entry = book.payment(customer, &payment.id)?;
                if entry.status != PaymentStatus::Received {
                    return Err(LedgerError::WrongStatus {
                        id: payment.id.to_string(),
                        status: entry.status.code(),
                        reason: "only a received payment can be signed",
                    });
                }
            }
        }
        let id = AuthorisationId::new(book.fresh_id("auth"));
        let challenge = format!("{:08}", book.rng.next() % 100_000_000);
        book.authorisations.insert(
            id.clone(),
            Authorisation {
                customer: customer.to_owned(),
                target,
                challenge: challenge.clone(),
                status: ScaStatus::ScaMethodSelected,
                attempts_left: SCA_ATTEMPTS,
            },
        );
        Ok(ScaChallenge {
            authorisation_id: id,
            method: "CHIP_OTP".to_owned(),
            data: challenge,
            instructions: "Insert your card in the card reader, press SIGN, type the challenge and then the response shown".to_owned(),
        })
    }

    /// The status of an authorisation, if it signs `target`.
    pub fn authorisation_status(
        &self,
        target: &ScaTarget,
        id: &AuthorisationId,
    ) -> LedgerResult<ScaStatus> {
        let book = self.book();
        book.authorisations
            .get(id)
            .filter(|a| &a.target == target)
            .map(|a| a.status)
            .ok_or_else(|| LedgerError::NotFound {
                what: "authorisation",
                id: id.to_string(),
            })
    }

    /// The authorisations of a consent or payment.
    pub fn authorisations(&self, target: &ScaTarget) -> Vec<AuthorisationId> {
        let book = self.book();
        let mut ids: Vec<AuthorisationId> = book
            .authorisations
            .iter()
            .filter(|(_, a)| &a.target == target)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Checks the customer's answer. When it is right the consent becomes valid, or the payment is
    /// accepted (`ACTC`; an instant payment settles at once, or is `RJCT` without funds).
    pub fn authorise(
        &self,
        customer: &str,
        target: &ScaTarget,
        id: &AuthorisationId,
        answer: &str,
    ) -> LedgerResult<ScaStatus> {
        let mut book = self.book();
        let auth = book
            .authorisations
            .get_mut(id)
            .filter(|a| a.customer == customer && &a.target == target)
            .ok_or_else(|| LedgerError::NotFound {
                what: "authorisation",
                id: id.to_string(),
            })?;
        if auth.status != ScaStatus::ScaMethodSelected {
            return Err(LedgerError::ScaClosed {
                id: id.to_string(),
                status: auth.status.code(),
            });
        }
        if card_reader_response(customer, &auth.challenge) != answer.trim() {
            auth.attempts_left -= 1;
            let attempts_left = auth.attempts_left;
            if attempts_left == 0 {
                auth.status = ScaStatus::Failed;
                let target = auth.target.clone();
                book.fail_target(&target);
            }
            return Err(LedgerError::ScaInvalid { attempts_left });
        }
        auth.status = ScaStatus::Finalised;
        let target = auth.target.clone();
        let now = Instant::now();
        match &target {
            ScaTarget::Consent(cid) => {
                if let Some(entry) = book.consents.get_mut(cid) {
                    entry.consent.status = ConsentStatus::Valid;
                }
            }
            ScaTarget::Payment(payment) => {
                let entry = book.payment_mut(customer, &payment.id)?;
                if entry.status != PaymentStatus::Received {
                    return Err(LedgerError::WrongStatus {
                        id: payment.id.to_string(),
                        status: entry.status.code(),
                        reason: "only a received payment can be signed",
                    });
                }
                entry.status = PaymentStatus::AcceptedTechnical;
                entry.authorised_at = Some(now);
                if let PaymentState::File { statuses, .. } = &mut entry.state {
                    statuses.fill(PaymentStatus::AcceptedTechnical);
                }
                let instant = matches!(
                    entry.kind,
                    PaymentKind::Single(
                        psd2_fallback_engine::model::PaymentProduct::InstantSepaCreditTransfer
                    )
                );
                // Instant payments settle at once; the rest wait for the settlement delay.
                book.advance(
                    now,
                    if instant {
                        StdDuration::ZERO
                    } else {
                        self.settle_after
                    },
                );
                if instant {
                    book.settle_now(&payment.id);
                }
            }
        }
        Ok(ScaStatus::Finalised)
    }

    /// Starts the signing of a payment, standing order or file by a customer already logged in to the
    /// website (so no password is asked again): checks the payment waits for a signature and returns
    /// the challenge for the card reader.
    pub fn start_signing(
        &self,
        customer: &str,
        payment: &PaymentRef,
    ) -> LedgerResult<ScaChallenge> {
        self.issue_challenge(customer, ScaTarget::Payment(payment.clone()))
    }

    /// Every customer's booked entries on every account, for consistency checks: the number per account.
    pub fn history_sizes(&self) -> Vec<(Iban, usize)> {
        let book = self.book();
        book.accounts
            .iter()
            .map(|a| (a.iban.clone(), a.entries.len()))
            .collect()
    }
}

impl AccountRecord {
    fn to_account(&self) -> Account {
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
    fn booked_at(&self, day: Date) -> Decimal {
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
    fn to_transaction(&self) -> Transaction {
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

impl PaymentEntry {
    fn cancellable(&self, today: Date) -> bool {
        match (&self.state, self.status) {
            (
                PaymentState::Periodic { .. },
                PaymentStatus::Received | PaymentStatus::AcceptedTechnical,
            ) => true,
            (PaymentState::Single { .. }, PaymentStatus::Received) => true,
            (PaymentState::Single { request }, PaymentStatus::AcceptedTechnical) => {
                request.requested_execution_date.is_some_and(|d| d > today)
            }
            (PaymentState::File { .. }, PaymentStatus::Received) => true,
            _ => false,
        }
    }

    fn to_record(&self, id: &PaymentId, today: Date) -> PaymentRecord {
        PaymentRecord {
            payment: PaymentRef {
                kind: self.kind,
                id: id.clone(),
            },
            status: self.status,
            detail: match &self.state {
                PaymentState::Single { request } => PaymentDetail::Single(request.clone()),
                PaymentState::Periodic { request, .. } => PaymentDetail::Periodic(request.clone()),
                PaymentState::File { file, statuses } => PaymentDetail::File {
                    message_id: file.message_id.clone(),
                    payments: file
                        .payments
                        .iter()
                        .cloned()
                        .zip(statuses.iter().copied())
                        .collect(),
                },
            },
            reason: self.reason.clone(),
            cancellable: self.cancellable(today),
        }
    }
}

impl Book {
    fn fresh_id(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}-{:06}", self.next_id);
        self.next_id += 1;
        id
    }

    fn account(&self, customer: &str, id: &AccountId) -> LedgerResult<&AccountRecord> {
        self.accounts
            .iter()
            .find(|a| a.owner == customer && &a.id == id)
            .ok_or_else(|| LedgerError::NotFound {
                what: "account",
                id: id.to_string(),
            })
    }

    fn owned_iban(&self, customer: &str, iban: &Iban, field: &'static str) -> LedgerResult<usize> {
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

    fn payment(&self, customer: &str, id: &PaymentId) -> LedgerResult<&PaymentEntry> {
        self.payments
            .get(id)
            .filter(|p| p.customer == customer)
            .ok_or_else(|| LedgerError::NotFound {
                what: "payment",
                id: id.to_string(),
            })
    }

    fn payment_mut(&mut self, customer: &str, id: &PaymentId) -> LedgerResult<&mut PaymentEntry> {
        self.payments
            .get_mut(id)
            .filter(|p| p.customer == customer)
            .ok_or_else(|| LedgerError::NotFound {
                what: "payment",
                id: id.to_string(),
            })
    }

    fn replay(&self, customer: &str, request_id: Option<&str>) -> Option<PaymentInitiation> {
        let id = self
            .request_ids
            .get(&(customer.to_owned(), request_id?.to_owned()))?;
        let entry = self.payments.get(id)?;
        Some(PaymentInitiation {
            payment: PaymentRef {
                kind: entry.kind,
                id: id.clone(),
            },
            status: entry.status,
        })
    }

    fn record(
        &mut self,
        customer: &str,
        kind: PaymentKind,
        state: PaymentState,
        request_id: Option<&str>,
    ) -> PaymentInitiation {
        let prefix = match kind {
            PaymentKind::Single(_) => "pmt",
            PaymentKind::Periodic(_) => "so",
            PaymentKind::File => "blk",
        };
        let id = PaymentId::new(self.fresh_id(prefix));
        let sequence = self.next_id;
        self.payments.insert(
            id.clone(),
            PaymentEntry {
                customer: customer.to_owned(),
                kind,
                status: PaymentStatus::Received,
                state,
                authorised_at: None,
                reason: None,
                sequence,
            },
        );
        if let Some(request_id) = request_id {
            self.request_ids
                .insert((customer.to_owned(), request_id.to_owned()), id.clone());
        }
        PaymentInitiation {
            payment: PaymentRef { kind, id },
            status: PaymentStatus::Received,
        }
    }

    /// What may be spent from an account now: booked, minus accepted debits due today, plus credit.
    fn available(&self, account: &AccountRecord) -> Decimal {
        let reserved: Decimal = self
            .pending_of(account)
            .iter()
            .filter(|p| p.value_date <= self.today)
            .map(|p| p.amount.value())
            .sum();
        account.booked_at(self.today) + reserved + account.credit_limit
    }

    /// Accepted payments not executed yet, as pending debits of the account.
    fn pending_of(&self, account: &AccountRecord) -> Vec<Transaction> {
        let mut out = Vec::new();
        let mut ids: Vec<&PaymentId> = self.payments.keys().collect();
        ids.sort();
        for id in ids {
            let entry = &self.payments[id];
            let pending = |creditor_name: &str,
                           creditor: &Iban,
                           amount: &Amount,
                           remittance: &Option<String>,
                           date: Option<Date>,
                           e2e: Option<EndToEndId>,
                           n: usize| Transaction {
                id: TransactionId::new(format!("{id}-{n}")),
                status: BookingStatus::Pending,
                booking_date: None,
                value_date: date.unwrap_or(self.today).max(self.today),
                amount: amount.negated(),
                counterparty: Some(Counterparty {
                    name: creditor_name.to_owned(),
                    iban: Some(creditor.clone()),
                }),
                remittance: remittance.clone(),
                bank_transaction_code: Some("PMNT-ICDT-ESCT".to_owned()),
                end_to_end_id: e2e,
                standing_order: None,
            };
            match &entry.state {
                PaymentState::Single { request }
                    if entry.status == PaymentStatus::AcceptedTechnical
                        && request.debtor == account.iban =>
                {
                    out.push(pending(
                        &request.creditor_name,
                        &request.creditor,
                        &request.amount,
                        &request.remittance,
                        request.requested_execution_date,
                        Some(request.end_to_end_id.clone()),
                        1,
                    ));
                }
                PaymentState::File { file, statuses } => {
                    for (n, (p, status)) in file.payments.iter().zip(statuses).enumerate() {
                        if *status == PaymentStatus::AcceptedTechnical && p.debtor == account.iban {
                            let e2e = EndToEndId::new(p.end_to_end_id.clone()).ok();
                            out.push(pending(
                                &p.creditor_name,
                                &p.creditor,
                                &p.amount,
                                &p.remittance,
                                Some(p.requested_execution_date),
                                e2e,
                                n + 1,
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        out.sort_by(|a, b| b.value_date.cmp(&a.value_date).then(a.id.cmp(&b.id)));
        out
    }

    /// Brings the book up to date: settles due payments, runs due standing orders, expires consents.
    fn advance(&mut self, now: Instant, settle_after: StdDuration) {
        let today = self.today;
        for entry in self.consents.values_mut() {
            if entry.consent.status == ConsentStatus::Valid
                && entry.consent.request.valid_until < today
            {
                entry.consent.status = ConsentStatus::Expired;
            }
        }
        let mut due: Vec<PaymentId> = self
            .payments
            .iter()
            .filter(|(_, p)| {
                p.status == PaymentStatus::AcceptedTechnical
                    && p.authorised_at
                        .is_some_and(|at| now.duration_since(at) >= settle_after)
            })
            .filter(|(_, p)| !matches!(p.state, PaymentState::Periodic { .. }))
            .map(|(id, _)| id.clone())
            .collect();
        due.sort();
        for id in due {
            self.settle_now(&id);
        }
        self.run_standing_orders(now, settle_after);
    }

    /// Executes what is due today or earlier of an accepted single payment or file.
    fn settle_now(&mut self, id: &PaymentId) {
        let today = self.today;
        let Some(entry) = self.payments.get(id).cloned() else {
            return;
        };
        match entry.state {
            PaymentState::Single { request } => {
                if request.requested_execution_date.is_some_and(|d| d > today) {
                    return;
                }
                let (status, reason) = match self.transfer(
                    &request.debtor,
                    &request.creditor_name,
                    &request.creditor,
                    request.amount.value(),
                    request.remittance.clone(),
                    Some(request.end_to_end_id.clone()),
                    None,
                    "PMNT-ICDT-ESCT",
                ) {
                    Ok(()) => (PaymentStatus::AcceptedSettlementCompleted, None),
                    Err(reason) => (PaymentStatus::Rejected, Some(reason)),
                };
                let entry = self.payments.get_mut(id).expect("present");
                entry.status = status;
                entry.reason = reason;
            }
            PaymentState::File { file, mut statuses } => {
                for (p, status) in file.payments.iter().zip(statuses.iter_mut()) {
                    if *status != PaymentStatus::AcceptedTechnical
                        || p.requested_execution_date > today
                    {
                        continue;
                    }
                    let e2e = EndToEndId::new(p.end_to_end_id.clone()).ok();
                    *status = match self.transfer(
                        &p.debtor,
                        &p.creditor_name,
                        &p.creditor,
                        p.amount.value(),
                        p.remittance.clone(),
                        e2e,
                        None,
                        "PMNT-ICDT-ESCT",
                    ) {
                        Ok(()) => PaymentStatus::AcceptedSettlementCompleted,
                        Err(_) => PaymentStatus::Rejected,
                    };
                }
                let done = statuses
                    .iter()
                    .all(|s| *s != PaymentStatus::AcceptedTechnical);
                let executed = statuses
                    .iter()
                    .filter(|s| **s == PaymentStatus::AcceptedSettlementCompleted)
                    .count();
                let status = if !done {
                    PaymentStatus::AcceptedTechnical
                } else if executed == statuses.len() {
                    PaymentStatus::AcceptedSettlementCompleted
                } else if executed == 0 {
                    PaymentStatus::Rejected
                } else {
                    PaymentStatus::PartiallyAccepted
                };
                let entry = self.payments.get_mut(id).expect("present");
                entry.status = status;
                if status == PaymentStatus::Rejected || status == PaymentStatus::PartiallyAccepted {
                    entry.reason = Some(format!(
                        "{} of {} payments rejected for insufficient funds (AM04)",
                        statuses.len() - executed,
                        statuses.len()
                    ));
                }
                entry.state = PaymentState::File { file, statuses };
            }
            PaymentState::Periodic { .. } => {}
        }
    }

    /// Runs every active standing order up to today: each due execution is booked if the funds are there
    /// and skipped otherwise, as banks do.
    fn run_standing_orders(&mut self, now: Instant, settle_after: StdDuration) {
        let today = self.today;
        let mut ids: Vec<PaymentId> = self
            .payments
            .iter()
            .filter(|(_, p)| {
                p.status == PaymentStatus::AcceptedTechnical
                    && matches!(p.state, PaymentState::Periodic { .. })
            })
            .filter(|(_, p)| {
                p.authorised_at
                    .is_some_and(|at| now.duration_since(at) >= settle_after)
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        // Executions across standing orders are interleaved by date, so balances see them in order.
        loop {
            let mut next: Option<(Date, PaymentId)> = None;
            for id in &ids {
                let PaymentState::Periodic {
                    request,
                    executions,
                } = &self.payments[id].state
                else {
                    continue;
                };
                let Some(nominal) = nominal_date(request, *executions) else {
                    continue;
                };
                if request.end_date.is_some_and(|end| nominal > end) {
                    continue;
                }
                let date = adjust(nominal, request.execution_rule);
                if date <= today && next.as_ref().is_none_or(|(d, _)| date < *d) {
                    next = Some((date, id.clone()));
                }
            }
            let Some((date, id)) = next else { break };
            let PaymentState::Periodic { request, .. } = self.payments[&id].state.clone() else {
                break;
            };
            let p = &request.payment;
            let code = "PMNT-ICDT-STDO";
            let saved_today = self.today;
            self.today = date;
            let _ = self.transfer(
                &p.debtor,
                &p.creditor_name,
                &p.creditor,
                p.amount.value(),
                p.remittance.clone(),
                Some(p.end_to_end_id.clone()),
                Some(id.clone()),
                code,
            );
            self.today = saved_today;
            if let PaymentState::Periodic { executions, .. } =
                &mut self.payments.get_mut(&id).expect("present").state
            {
                *executions += 1;
            }
        }
    }

    /// Books a transfer on the bank's day: a debit on the debtor, and a credit on the creditor when the
    /// creditor banks here too. Refused when the debtor's available funds do not cover it.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &mut self,
        debtor: &Iban,
        creditor_name: &str,
        creditor: &Iban,
        amount: Decimal,
        remittance: Option<String>,
        e2e: Option<EndToEndId>,
        standing_order: Option<PaymentId>,
        code: &'static str,
    ) -> Result<(), String> {
        let today = self.today;
        let Some(from) = self.accounts.iter().position(|a| &a.iban == debtor) else {
            return Err(format!(
                "{} is not an account of this bank",
                debtor.masked()
            ));
        };
        let balance = self.accounts[from].booked_at(today) + self.accounts[from].credit_limit;
        if balance < amount {
            return Err(format!("insufficient funds on {} (AM04)", debtor.masked()));
        }
        let debtor_name = self.accounts[from].to_account().owner_name;
        let id = TransactionId::new(self.fresh_id("tx"));
        self.accounts[from].entries.push(Entry {
            id,
            booking_date: today,
            value_date: today,
            amount: -amount,
            counterparty: Some(Counterparty {
                name: creditor_name.to_owned(),
                iban: Some(creditor.clone()),
            }),
            remittance: remittance.clone(),
            code,
            end_to_end_id: e2e.clone(),
            standing_order: standing_order.clone(),
        });
        if let Some(to) = self.accounts.iter().position(|a| &a.iban == creditor) {
            let id = TransactionId::new(self.fresh_id("tx"));
            self.accounts[to].entries.push(Entry {
                id,
                booking_date: today,
                value_date: today,
                amount,
                counterparty: Some(Counterparty {
                    name: debtor_name,
                    iban: Some(debtor.clone()),
                }),
                remittance,
                code: "PMNT-RCDT-ESCT",
                end_to_end_id: e2e,
                standing_order: None,
            });
        }
        Ok(())
    }

    /// A failed authorisation rejects what it was signing.
    fn fail_target(&mut self, target: &ScaTarget) {
        match target {
            ScaTarget::Consent(id) => {
                if let Some(entry) = self.consents.get_mut(id) {
                    entry.consent.status = ConsentStatus::Rejected;
                }
            }
            ScaTarget::Payment(payment) => {
                if let Some(entry) = self.payments.get_mut(&payment.id) {
                    entry.status = PaymentStatus::Rejected;
                    entry.reason = Some("signing failed: too many wrong answers".to_owned());
                }
            }
        }
    }
}

/// The `k`-th nominal execution date of a standing order (before the weekend rule), if it exists.
fn nominal_date(request: &StandingOrderRequest, k: u32) -> Option<Date> {
    let start = request.start_date;
    if let Some(days) = request.frequency.days() {
        return start.checked_add(Duration::days(days * i64::from(k)));
    }
    let months = i64::from(request.frequency.months().expect("a month-based frequency"));
    let day = request.day_of_execution.unwrap_or(start.day());
    // The first execution is the first such day on or after the start date.
    let base = i64::from(start.year()) * 12 + i64::from(u8::from(start.month())) - 1;
    let mut first = base;
    let in_month = |m: i64| -> Option<Date> {
        let year = i32::try_from(m.div_euclid(12)).ok()?;
        let month = Month::try_from(u8::try_from(m.rem_euclid(12) + 1).ok()?).ok()?;
        let last = time::util::days_in_month(month, year);
        Date::from_calendar_date(year, month, day.min(last)).ok()
    };
    if in_month(first)? < start {
        first += 1;
    }
    in_month(first + months * i64::from(k))
}

/// Moves a weekend date to a business day by the execution rule.
fn adjust(date: Date, rule: ExecutionRule) -> Date {
    let step = match rule {
        ExecutionRule::Following => Duration::days(1),
        ExecutionRule::Preceding => Duration::days(-1),
    };
    let mut d = date;
    while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
        d += step;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use psd2_fallback_engine::model::{ConsentAccess, Direction, Recurrence};
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 23);

    fn ledger() -> Ledger {
        Ledger::new(TODAY, StdDuration::ZERO)
    }

    #[test]
    fn the_seed_is_a_plausible_bank() {
        let ledger = ledger();
        for customer in CUSTOMERS {
            let accounts = ledger.accounts(customer.number);
            assert!(
                accounts.len() >= 2,
                "{} has {} accounts",
                customer.name,
                accounts.len()
            );
            for account in accounts {
                let balances = ledger.balances(customer.number, &account.id, None).unwrap();
                let booked = balances
                    .iter()
                    .find(|b| b.kind == BalanceType::InterimBooked)
                    .unwrap();
                assert!(
                    booked.amount.is_positive(),
                    "{} {} is overdrawn: {:?}",
                    customer.name,
                    account.name,
                    booked.amount
                );
            }
        }
        let busy = ledger
            .transactions(
                "1000001",
                &AccountId::new("acc-01"),
                &TransactionFilter::default(),
            )
            .unwrap();
        assert!(busy.len() >= 1200, "only {} transactions", busy.len());
        let oldest = busy.iter().map(Transaction::date).min().unwrap();
        assert!(
            oldest <= TODAY - Duration::days(390),
            "history starts {oldest}"
        );
        let recurring = TransactionFilter {
            recurrence: Some(Recurrence::Recurring),
            ..Default::default()
        };
        let from_orders = ledger
            .transactions("1000001", &AccountId::new("acc-01"), &recurring)
            .unwrap();
        assert!(
            from_orders.len() >= 13 * 3,
            "only {} recurring",
            from_orders.len()
        );
        assert!(
            from_orders
                .iter()
                .all(|t| t.bank_transaction_code.as_deref() == Some("PMNT-ICDT-STDO"))
        );
    }

    #[test]
    fn the_seed_is_deterministic() {
        let a = ledger()
            .transactions(
                "1000001",
                &AccountId::new("acc-01"),
                &TransactionFilter::default(),
            )
            .unwrap();
        let b = ledger()
            .transactions(
                "1000001",
                &AccountId::new("acc-01"),
                &TransactionFilter::default(),
            )
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn balances_are_the_sum_of_the_history() {
        let ledger = ledger();
        let id = AccountId::new("acc-01");
        let now = ledger.balances("1000001", &id, None).unwrap();
        let booked = now
            .iter()
            .find(|b| b.kind == BalanceType::InterimBooked)
            .unwrap()
            .amount
            .value();
        let earlier = date!(2026 - 06 - 30);
        let then = ledger.balances("1000001", &id, Some(earlier)).unwrap()[0]
            .amount
            .value();
        let after: Decimal = ledger
            .transactions(
                "1000001",
                &id,
                &TransactionFilter {
                    date_from: Some(earlier + Duration::days(1)),
                    ..Default::default()
                },
            )
            .unwrap()
            .iter()
            .map(|t| t.amount.value())
            .sum();
        assert_eq!(then + after, booked);
        assert!(ledger.balances("1000001", &id, Some(TODAY)).is_err());
    }

    fn payment(amount: Decimal, date: Option<Date>) -> PaymentRequest {
        PaymentRequest {
            product: psd2_fallback_engine::model::PaymentProduct::SepaCreditTransfer,
            debtor: belgian_iban(BANK_CODE, 2_345_678),
            creditor_name: "Anna Peeters".to_owned(),
            creditor: belgian_iban(BANK_CODE, 1_234_567),
            amount: Amount::eur(amount).unwrap(),
            remittance: Some("Etentje".to_owned()),
            requested_execution_date: date,
            end_to_end_id: EndToEndId::generate(),
        }
    }

    fn sign(ledger: &Ledger, customer: &str, payment: &PaymentRef) -> LedgerResult<ScaStatus> {
        let seeded = CUSTOMERS.iter().find(|c| c.number == customer).unwrap();
        let target = ScaTarget::Payment(payment.clone());
        let challenge = ledger.start_authorisation(customer, target.clone(), seeded.password)?;
        ledger.authorise(
            customer,
            &target,
            &challenge.authorisation_id,
            &card_reader_response(customer, &challenge.data),
        )
    }

    #[test]
    fn a_signed_payment_settles_on_both_sides() {
        let ledger = ledger();
        let luc = AccountId::new("acc-03");
        let anna = AccountId::new("acc-01");
        let before = |c, id| ledger.balances(c, id, None).unwrap()[1].amount.value();
        let (luc_before, anna_before) = (before("1000002", &luc), before("1000001", &anna));
        let request = payment(Decimal::new(4_250, 2), None);
        let e2e = request.end_to_end_id.clone();
        let started = ledger
            .initiate_payment("1000002", request, Some("r-1"))
            .unwrap();
        assert_eq!(started.status, PaymentStatus::Received);
        // The same request id gives the same payment, not a second one.
        let again = ledger
            .initiate_payment(
                "1000002",
                payment(Decimal::new(4_250, 2), None),
                Some("r-1"),
            )
            .unwrap();
        assert_eq!(again.payment, started.payment);
        assert_eq!(
            sign(&ledger, "1000002", &started.payment).unwrap(),
            ScaStatus::Finalised
        );
        let record = ledger.payment("1000002", &started.payment.id).unwrap();
        assert_eq!(record.status, PaymentStatus::AcceptedSettlementCompleted);
        assert_eq!(before("1000002", &luc), luc_before - Decimal::new(4_250, 2));
        assert_eq!(
            before("1000001", &anna),
            anna_before + Decimal::new(4_250, 2)
        );
        let found = ledger
            .find_by_end_to_end_id("1000002", e2e.as_str())
            .unwrap();
        assert_eq!(found.payment, started.payment);
        let credit = ledger
            .transactions(
                "1000001",
                &anna,
                &TransactionFilter {
                    direction: Some(Direction::Credit),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(credit[0].end_to_end_id.as_ref(), Some(&e2e));
        assert!(ledger.cancel("1000002", &started.payment.id).is_err());
    }

    #[test]
    fn wrong_answers_fail_the_authorisation_and_reject_the_payment() {
        let ledger = ledger();
        let started = ledger
            .initiate_payment("1000002", payment(Decimal::ONE, None), None)
            .unwrap();
        let target = ScaTarget::Payment(started.payment.clone());
        let challenge = ledger
            .start_authorisation("1000002", target.clone(), "luc-sandbox")
            .unwrap();
        for left in (0..SCA_ATTEMPTS).rev() {
            let error = ledger
                .authorise("1000002", &target, &challenge.authorisation_id, "00000000")
                .unwrap_err();
            assert_eq!(
                error,
                LedgerError::ScaInvalid {
                    attempts_left: left
                }
            );
        }
        assert_eq!(
            ledger.payment_status_for_test("1000002", &started.payment.id),
            PaymentStatus::Rejected
        );
        assert_eq!(
            ledger
                .start_authorisation("1000002", target, "wrong")
                .unwrap_err(),
            LedgerError::CredentialsInvalid
        );
    }

    #[test]
    fn insufficient_funds_are_refused_and_future_payments_can_be_cancelled() {
        let ledger = ledger();
        let error = ledger
            .initiate_payment("1000002", payment(Decimal::from(1_000_000), None), None)
            .unwrap_err();
        assert!(
            matches!(error, LedgerError::InsufficientFunds { .. }),
            "{error:?}"
        );
        let later = ledger
            .initiate_payment(
                "1000002",
                payment(Decimal::TEN, Some(TODAY + Duration::days(7))),
                None,
            )
            .unwrap();
        sign(&ledger, "1000002", &later.payment).unwrap();
        assert_eq!(
            ledger.payment_status_for_test("1000002", &later.payment.id),
            PaymentStatus::AcceptedTechnical
        );
        let pending = TransactionFilter {
            status: Some(BookingStatus::Pending),
            ..Default::default()
        };
        assert_eq!(
            ledger
                .transactions("1000002", &AccountId::new("acc-03"), &pending)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            ledger.cancel("1000002", &later.payment.id).unwrap(),
            PaymentStatus::Cancelled
        );
        assert!(
            ledger
                .transactions("1000002", &AccountId::new("acc-03"), &pending)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_future_payment_executes_when_its_day_comes_or_is_rejected_without_funds() {
        let ledger = ledger();
        let day = TODAY + Duration::days(3);
        let small = ledger
            .initiate_payment("1000002", payment(Decimal::TEN, Some(day)), None)
            .unwrap();
        let big = ledger
            .initiate_payment("1000002", payment(Decimal::from(900_000), Some(day)), None)
            .unwrap();
        sign(&ledger, "1000002", &small.payment).unwrap();
        sign(&ledger, "1000002", &big.payment).unwrap();
        ledger.set_today(day).unwrap();
        assert_eq!(
            ledger.payment_status_for_test("1000002", &small.payment.id),
            PaymentStatus::AcceptedSettlementCompleted
        );
        assert_eq!(
            ledger.payment_status_for_test("1000002", &big.payment.id),
            PaymentStatus::Rejected
        );
    }

    #[test]
    fn standing_orders_execute_on_schedule_until_cancelled() {
        let ledger = ledger();
        let request = StandingOrderRequest {
            payment: payment(Decimal::from(25), None),
            start_date: TODAY + Duration::days(1),
            end_date: None,
            frequency: psd2_fallback_engine::model::Frequency::Weekly,
            day_of_execution: None,
            execution_rule: ExecutionRule::Following,
        };
        let order = ledger
            .create_standing_order("1000002", request, None)
            .unwrap();
        sign(&ledger, "1000002", &order.payment).unwrap();
        ledger.set_today(TODAY + Duration::days(22)).unwrap();
        let recurring = TransactionFilter {
            recurrence: Some(Recurrence::Recurring),
            date_from: Some(TODAY),
            ..Default::default()
        };
        let made: Vec<_> = ledger
            .transactions("1000002", &AccountId::new("acc-03"), &recurring)
            .unwrap()
            .into_iter()
            .filter(|t| t.standing_order.as_ref() == Some(&order.payment.id))
            .collect();
        assert_eq!(
            made.len(),
            4,
            "weekly from {} to {}",
            TODAY + Duration::days(1),
            TODAY + Duration::days(22)
        );
        assert_eq!(
            ledger.cancel("1000002", &order.payment.id).unwrap(),
            PaymentStatus::Cancelled
        );
        ledger.set_today(TODAY + Duration::days(40)).unwrap();
        let after = ledger
            .transactions("1000002", &AccountId::new("acc-03"), &recurring)
            .unwrap();
        assert_eq!(
            after
                .iter()
                .filter(|t| t.standing_order.as_ref() == Some(&order.payment.id))
                .count(),
            4
        );
    }

    #[test]
    fn unattended_access_is_limited_per_account_and_day() {
        let ledger = ledger();
        let iban = belgian_iban(BANK_CODE, 1_234_567);
        let request = ConsentRequest {
            access: ConsentAccess::full(vec![iban]),
            recurring: true,
            valid_until: TODAY + Duration::days(90),
            frequency_per_day: 4,
        };
        let id = ledger.create_consent("1000001", request).unwrap();
        let account = AccountId::new("acc-01");
        assert!(matches!(
            ledger.use_consent(&id, ConsentUse::Balances, Some(&account), false),
            Err(LedgerError::ConsentInvalid { .. })
        ));
        let challenge = ledger
            .start_authorisation("1000001", ScaTarget::Consent(id.clone()), "anna-sandbox")
            .unwrap();
        ledger
            .authorise(
                "1000001",
                &ScaTarget::Consent(id.clone()),
                &challenge.authorisation_id,
                &card_reader_response("1000001", &challenge.data),
            )
            .unwrap();
        for _ in 0..4 {
            ledger
                .use_consent(&id, ConsentUse::Balances, Some(&account), false)
                .unwrap();
        }
        let error = ledger
            .use_consent(&id, ConsentUse::Transactions, Some(&account), false)
            .unwrap_err();
        assert!(
            matches!(
                error,
                LedgerError::AccessExceeded {
                    count: 4,
                    limit: 4,
                    ..
                }
            ),
            "{error:?}"
        );
        // With the customer present there is no limit; the next day the count starts again.
        ledger
            .use_consent(&id, ConsentUse::Balances, Some(&account), true)
            .unwrap();
        ledger.set_today(TODAY + Duration::days(1)).unwrap();
        ledger
            .use_consent(&id, ConsentUse::Balances, Some(&account), false)
            .unwrap();
        // Another customer's account is not covered.
        let other = AccountId::new("acc-03");
        assert!(
            ledger
                .use_consent(&id, ConsentUse::Balances, Some(&other), true)
                .is_err()
        );
        ledger.set_today(TODAY + Duration::days(91)).unwrap();
        assert!(matches!(
            ledger.use_consent(&id, ConsentUse::Balances, Some(&account), true),
            Err(LedgerError::ConsentExpired { .. })
        ));
    }

    impl Ledger {
        fn payment_status_for_test(&self, customer: &str, id: &PaymentId) -> PaymentStatus {
            self.payment(customer, id).unwrap().status
        }
    }
}
