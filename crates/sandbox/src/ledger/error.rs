//! Why the bank said no: `LedgerError`, each variant one Berlin Group `tppMessages` code and one
//! website message.

use psd2_fallback_engine::model::InvalidValue;

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
