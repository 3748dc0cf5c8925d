//! Accounts and their balances.

use time::Date;

use super::{AccountId, Amount, Currency, Iban};

/// A payment account as the bank lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The bank's identifier, used to ask for balances and transactions.
    pub id: AccountId,
    /// The account number.
    pub iban: Iban,
    /// The account's currency.
    pub currency: Currency,
    /// The name the customer gave the account, or the bank's product name.
    pub name: String,
    /// The bank's product (`Current account`, `Savings account`).
    pub product: String,
    /// The account holder's name.
    pub owner_name: String,
}

/// The kind of a balance, in Berlin Group terms (`balanceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BalanceType {
    /// The booked balance at the end of a past day (`closingBooked`): with a reference date, the
    /// "previous balance".
    ClosingBooked,
    /// Booked plus pending entries (`expected`).
    Expected,
    /// What may be spent now (`interimAvailable`): booked, minus pending debits, plus any credit line.
    InterimAvailable,
    /// The booked balance during the day (`interimBooked`), the "current balance".
    InterimBooked,
    /// What will be available after future-dated entries (`forwardAvailable`).
    ForwardAvailable,
}

impl BalanceType {
    /// Every balance type, in a stable order.
    pub const ALL: [BalanceType; 5] = [
        BalanceType::ClosingBooked,
        BalanceType::Expected,
        BalanceType::InterimAvailable,
        BalanceType::InterimBooked,
        BalanceType::ForwardAvailable,
    ];

    /// The Berlin Group code: `closingBooked`, `interimAvailable`, …
    pub fn code(self) -> &'static str {
        match self {
            BalanceType::ClosingBooked => "closingBooked",
            BalanceType::Expected => "expected",
            BalanceType::InterimAvailable => "interimAvailable",
            BalanceType::InterimBooked => "interimBooked",
            BalanceType::ForwardAvailable => "forwardAvailable",
        }
    }

    /// The type for a Berlin Group code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

/// One balance of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// Which balance this is.
    pub kind: BalanceType,
    /// The amount, negative when the account is overdrawn.
    pub amount: Amount,
    /// The day the balance refers to (for `closingBooked`, the end of that day).
    pub reference_date: Option<Date>,
}
