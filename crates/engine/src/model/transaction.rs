//! Transactions (account history) and the filter a caller reads them with.

use time::Date;

use super::{Amount, EndToEndId, Iban, PaymentId, TransactionId};

/// Whether a transaction is booked or still pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookingStatus {
    /// Booked on the account.
    Booked,
    /// Announced but not booked yet (an accepted payment waiting for its execution date).
    Pending,
}

/// The other party of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterparty {
    /// The name as the bank shows it.
    pub name: String,
    /// The counterparty's account, when the bank knows it (a card payment has none).
    pub iban: Option<Iban>,
}

/// One entry of an account's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The bank's identifier.
    pub id: TransactionId,
    /// Booked or pending.
    pub status: BookingStatus,
    /// The day it was booked (`None` while pending).
    pub booking_date: Option<Date>,
    /// The day it counts for interest.
    pub value_date: Date,
    /// Signed: positive for money in (credit), negative for money out (debit).
    pub amount: Amount,
    /// Who paid or was paid.
    pub counterparty: Option<Counterparty>,
    /// Unstructured remittance information (the "communication").
    pub remittance: Option<String>,
    /// The ISO 20022 bank transaction code, `Domain-Family-SubFamily` (`PMNT-ICDT-STDO`).
    pub bank_transaction_code: Option<String>,
    /// The end-to-end id of the payment behind it, when there is one.
    pub end_to_end_id: Option<EndToEndId>,
    /// The standing order that made it; `Some` means the transaction is recurring.
    pub standing_order: Option<PaymentId>,
}

impl Transaction {
    /// Whether this is money in or out.
    pub fn direction(&self) -> Direction {
        if self.amount.is_negative() {
            Direction::Debit
        } else {
            Direction::Credit
        }
    }

    /// Whether a standing order made this transaction.
    pub fn is_recurring(&self) -> bool {
        self.standing_order.is_some()
    }

    /// The date the history is ordered and filtered by: the booking date, else the value date.
    pub fn date(&self) -> Date {
        self.booking_date.unwrap_or(self.value_date)
    }
}

/// Money in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Money in.
    Credit,
    /// Money out.
    Debit,
}

/// One-off or recurring (made by a standing order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recurrence {
    /// Not made by a standing order.
    OneOff,
    /// Made by a standing order.
    Recurring,
}

/// Which transactions to read. Every criterion left `None` lets everything through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    /// First day, inclusive.
    pub date_from: Option<Date>,
    /// Last day, inclusive.
    pub date_to: Option<Date>,
    /// Only credits or only debits.
    pub direction: Option<Direction>,
    /// Only this bank transaction code, or this code prefix (`PMNT-ICDT` matches `PMNT-ICDT-STDO`).
    pub code: Option<String>,
    /// Only one-off or only recurring transactions.
    pub recurrence: Option<Recurrence>,
    /// Only booked or only pending transactions; `None` reads both.
    pub status: Option<BookingStatus>,
}

impl TransactionFilter {
    /// Whether a transaction passes the filter. Every channel applies exactly this predicate where the
    /// bank cannot filter for it, so the result is the same whichever channel served the read.
    pub fn matches(&self, t: &Transaction) -> bool {
        let date = t.date();
        self.date_from.is_none_or(|from| date >= from)
            && self.date_to.is_none_or(|to| date <= to)
            && self.direction.is_none_or(|d| t.direction() == d)
            && self.recurrence.is_none_or(|r| match r {
                Recurrence::OneOff => !t.is_recurring(),
                Recurrence::Recurring => t.is_recurring(),
            })
            && self.status.is_none_or(|s| t.status == s)
            && self.code.as_deref().is_none_or(|code| {
                t.bank_transaction_code
                    .as_deref()
                    .is_some_and(|c| c == code || c.starts_with(&format!("{code}-")))
            })
    }
}
