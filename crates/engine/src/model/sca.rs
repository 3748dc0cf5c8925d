//! Strong Customer Authentication: the challenge the bank shows and the customer's answer.
//!
//! The engine never answers a challenge itself: it relays the challenge to its caller and the answer
//! back to the bank.

use std::fmt;

use secrecy::SecretString;

use super::{AuthorisationId, ConsentId, PaymentRef};

/// The state of one authorisation, in Berlin Group terms (`scaStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScaStatus {
    /// The authorisation was created.
    Received,
    /// The customer is identified.
    PsuIdentified,
    /// The customer is authenticated (password checked).
    PsuAuthenticated,
    /// A method was chosen and the challenge is out.
    ScaMethodSelected,
    /// The authorisation started (redirect or decoupled).
    Started,
    /// Authenticated but an extra confirmation is still needed.
    Unconfirmed,
    /// Done: the customer signed.
    Finalised,
    /// The customer failed or gave up.
    Failed,
    /// No SCA was needed.
    Exempted,
}

impl ScaStatus {
    /// Every status.
    pub const ALL: [ScaStatus; 9] = [
        ScaStatus::Received,
        ScaStatus::PsuIdentified,
        ScaStatus::PsuAuthenticated,
        ScaStatus::ScaMethodSelected,
        ScaStatus::Started,
        ScaStatus::Unconfirmed,
        ScaStatus::Finalised,
        ScaStatus::Failed,
        ScaStatus::Exempted,
    ];

    /// The Berlin Group code: `received`, `scaMethodSelected`, `finalised`, …
    pub fn code(self) -> &'static str {
        match self {
            ScaStatus::Received => "received",
            ScaStatus::PsuIdentified => "psuIdentified",
            ScaStatus::PsuAuthenticated => "psuAuthenticated",
            ScaStatus::ScaMethodSelected => "scaMethodSelected",
            ScaStatus::Started => "started",
            ScaStatus::Unconfirmed => "unconfirmed",
            ScaStatus::Finalised => "finalised",
            ScaStatus::Failed => "failed",
            ScaStatus::Exempted => "exempted",
        }
    }

    /// The status for a Berlin Group code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// A challenge the customer must answer to sign (Berlin Group embedded SCA `challengeData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaChallenge {
    /// The authorisation this challenge belongs to; the answer goes back to it.
    pub authorisation_id: AuthorisationId,
    /// The method (`CHIP_OTP` for a card reader).
    pub method: String,
    /// What the customer types into their card reader.
    pub data: String,
    /// What the bank tells the customer to do.
    pub instructions: String,
}

/// The customer's answer to a challenge. Secret: never in `Debug`, logs or errors.
#[derive(Clone)]
pub struct ScaAnswer(SecretString);

impl ScaAnswer {
    /// Wraps the answer the customer gave.
    pub fn new(answer: impl Into<String>) -> Self {
        Self(SecretString::from(answer.into()))
    }

    /// The secret, to be sent to the bank and nowhere else.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for ScaAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScaAnswer(***)")
    }
}

/// What an authorisation signs: a consent, or a payment resource (single, standing order or file).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScaTarget {
    /// A consent to read accounts.
    Consent(ConsentId),
    /// A payment, standing order or payment file.
    Payment(PaymentRef),
}
