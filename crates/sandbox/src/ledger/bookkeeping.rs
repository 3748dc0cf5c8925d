//! The `Ledger` itself: the book behind its one lock, opened with thirteen months of seeded history,
//! and brought up to date each time the lock is taken (consents expire, due payments settle, due
//! standing orders run); the bank's business day.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use time::{Date, Duration};
use tokio::time::Instant;

use super::book::{AccountRecord, Book, Entry, PaymentEntry, PaymentState};
use super::error::LedgerResult;
use crate::seed::{self, BANK_CODE, belgian_iban};
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentStatus, Counterparty, EndToEndId, InvalidValue, PaymentId,
    PaymentKind, PaymentRequest, PaymentStatus, StandingOrderRequest, TransactionId,
};

/// The sandbox bank's book of accounts.
#[derive(Debug)]
pub struct Ledger {
    /// Everything the bank knows; every operation takes this lock and brings the book up to date.
    book: Mutex<Book>,
    /// How long an accepted payment waits before it settles (`ACTC` → `ACSC`).
    pub(super) settle_after: StdDuration,
    /// Website logins that passed the password step, per customer (what a test counts to see
    /// whether a read needed a new login).
    pub(super) website_logins: Mutex<HashMap<String, u64>>,
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
            login_approvals: HashMap::new(),
            request_ids: HashMap::new(),
            offer_choices: HashMap::new(),
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
                    cancel_requested: false,
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
            website_logins: Mutex::default(),
        }
    }

    /// The book, brought up to date, behind the lock.
    pub(super) fn book(&self) -> MutexGuard<'_, Book> {
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
}

impl Book {
    /// Brings the book up to date: settles due payments, runs due standing orders, expires consents.
    pub(super) fn advance(&mut self, now: Instant, settle_after: StdDuration) {
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
}
