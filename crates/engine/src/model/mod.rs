//! The domain model: what a bank account, a payment or a consent *is*, independent of any channel.
//!
//! Nothing here does IO and nothing here knows a bank's JSON or a website's markup: each edge (the bank API,
//! the website, our HTTP service, the journal) converts to and from these types. Values are validated when
//! they are made, so a value of these types is always well-formed (a valid IBAN, an amount in a known
//! currency with the right number of decimals, a date that exists).

mod account;
pub mod belgian;
mod consent;
mod iban;
mod ids;
mod money;
mod payment;
pub mod payment_file;
mod sca;
mod transaction;
mod xml_shape;

pub use account::{Account, Balance, BalanceType};
pub use consent::{
    AccessUse, AccountScope, Consent, ConsentAccess, ConsentCreated, ConsentRequest, ConsentStatus,
};
pub use iban::Iban;
pub use ids::{
    AccountId, AuthorisationId, ConsentId, EndToEndId, MAX_ID_LENGTH, PaymentId, PsuId,
    TransactionId, check_id,
};
pub use money::{Amount, Currency};
pub use payment::{
    ExecutionRule, Frequency, FundsConfirmation, PaymentInitiation, PaymentKind, PaymentProduct,
    PaymentRef, PaymentRequest, PaymentStatus, StandingOrder, StandingOrderRequest,
};
pub use payment_file::{FilePayment, Pain001Version, PaymentFile, PaymentFileError};
pub use sca::{
    AuthorisationCode, Cancellation, DECOUPLED_POLL_EVERY, OAuthAuthorization, ScaAnswer,
    ScaApproach, ScaChallenge, ScaMethod, ScaPreference, ScaProgress, ScaStatus, ScaStep,
    ScaTarget,
};
pub use transaction::{
    BookingStatus, Counterparty, Direction, Recurrence, Transaction, TransactionFilter,
};

/// A value that could not be made because its input was malformed.
///
/// It names the field and says what was wrong, and never repeats a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidValue {
    /// The field, in the words of the domain (`iban`, `amount`, `currency`, `requestedExecutionDate`).
    pub field: &'static str,
    /// Why the value was refused.
    pub reason: String,
}

impl InvalidValue {
    /// An error for `field` with a reason.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
