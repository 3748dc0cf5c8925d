//! What goes wrong inside a flow, before it is classified for the caller: `Fail` and `FlowResult`.
//!
//! Every step of a flow (sessions, navigation, login, reads, writes) returns a `FlowResult`;
//! [`super::flow`] classifies a `Fail` into the [`BankError`] the caller sees.

use super::driver::DriverError;
use super::extract::ExtractError;
use crate::bank::{BankError, Channel};
use crate::model::InvalidValue;

/// A failure inside a flow, before it is classified for the caller.
pub(super) enum Fail {
    Driver(DriverError),
    Extract(ExtractError),
    /// The page is none of the screens expected.
    Unexpected {
        screen: String,
        selector: String,
    },
    Bank(BankError),
    /// The website's session ended: log in again.
    LoggedOut,
}

impl From<DriverError> for Fail {
    fn from(e: DriverError) -> Self {
        Fail::Driver(e)
    }
}
impl From<ExtractError> for Fail {
    fn from(e: ExtractError) -> Self {
        Fail::Extract(e)
    }
}
impl From<BankError> for Fail {
    fn from(e: BankError) -> Self {
        Fail::Bank(e)
    }
}
impl From<InvalidValue> for Fail {
    fn from(e: InvalidValue) -> Self {
        Fail::Bank(e.into())
    }
}

/// What every step of a flow returns.
pub(super) type FlowResult<T> = Result<T, Fail>;

/// The screen channel cannot serve the call now, so the call may go to the other channel.
pub(super) fn unavailable(reason: impl Into<String>) -> BankError {
    BankError::Unavailable {
        channel: Channel::Screen,
        reason: reason.into(),
    }
}
