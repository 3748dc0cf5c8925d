//! Customers and their accounts: logging in, the account list, balances (now and at the end of an
//! earlier day), the history with pending debits, and whether funds are available.

use rust_decimal::Decimal;
use time::{Date, Duration};

use super::book::{AccountRecord, Book, PaymentState};
use super::bookkeeping::Ledger;
use super::error::{LedgerError, LedgerResult};
use crate::seed::{self, CUSTOMERS};
use psd2_fallback_engine::model::{
    Account, AccountId, Amount, Balance, BalanceType, BookingStatus, Counterparty, Currency,
    EndToEndId, Iban, InvalidValue, PaymentId, PaymentStatus, Transaction, TransactionFilter,
    TransactionId,
};

impl Ledger {
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

    /// Checks a customer's password on a website's login form, counting the login when it passes.
    pub fn log_in_on_website(&self, customer: &str, password: &str) -> LedgerResult<&'static str> {
        let name = self.log_in(customer, password)?;
        *self
            .website_logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(customer.to_owned())
            .or_default() += 1;
        Ok(name)
    }

    /// How many times `customer` passed a website's password step since the sandbox started.
    pub fn website_logins(&self, customer: &str) -> u64 {
        self.website_logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(customer)
            .copied()
            .unwrap_or(0)
    }

    /// The name of a customer.
    pub fn customer_name(&self, customer: &str) -> Option<&'static str> {
        CUSTOMERS
            .iter()
            .find(|c| c.number == customer)
            .map(|c| c.name)
    }

    /// The customer an account belongs to.
    pub fn owner_of_account(&self, iban: &Iban) -> Option<String> {
        self.book()
            .accounts
            .iter()
            .find(|a| &a.iban == iban)
            .map(|a| a.owner.clone())
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

    /// Every customer's booked entries on every account, for consistency checks: the number per account.
    pub fn history_sizes(&self) -> Vec<(Iban, usize)> {
        let book = self.book();
        book.accounts
            .iter()
            .map(|a| (a.iban.clone(), a.entries.len()))
            .collect()
    }
}

impl Book {
    /// What may be spent from an account now: booked, minus accepted debits due today, plus credit.
    pub(super) fn available(&self, account: &AccountRecord) -> Decimal {
        let reserved: Decimal = self
            .pending_of(account)
            .iter()
            .filter(|p| p.value_date <= self.today)
            .map(|p| p.amount.value())
            .sum();
        account.booked_at(self.today) + reserved + account.credit_limit
    }

    /// Accepted payments not executed yet, as pending debits of the account.
    pub(super) fn pending_of(&self, account: &AccountRecord) -> Vec<Transaction> {
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
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use time::Duration;
    use time::macros::date;

    use crate::ledger::testing::{TODAY, ledger};
    use crate::seed::CUSTOMERS;
    use psd2_fallback_engine::model::{
        AccountId, BalanceType, Recurrence, Transaction, TransactionFilter,
    };

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
}
