//! Consents: what a customer allowed a third party to read, until when and how often.

use time::Date;

use super::{ConsentId, Iban};

/// Which accounts a consent opens, and for what (Berlin Group `access`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentAccess {
    /// Accounts whose details may be read.
    pub accounts: Vec<Iban>,
    /// Accounts whose balances may be read.
    pub balances: Vec<Iban>,
    /// Accounts whose transactions may be read.
    pub transactions: Vec<Iban>,
}

impl ConsentAccess {
    /// The same access to every listed account (details, balances and transactions).
    pub fn full(accounts: Vec<Iban>) -> Self {
        Self {
            accounts: accounts.clone(),
            balances: accounts.clone(),
            transactions: accounts,
        }
    }
}

/// A consent the third party asks the customer for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRequest {
    /// What may be read.
    pub access: ConsentAccess,
    /// Whether the consent is for repeated access (else one-off).
    pub recurring: bool,
    /// The last day the consent may be used (at most 180 days ahead under RTS Art. 10a).
    pub valid_until: Date,
    /// How many times a day the accounts may be read without the customer present (RTS Art. 36(5)).
    pub frequency_per_day: u32,
}

/// The state of a consent (Berlin Group `consentStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentStatus {
    /// Created, not yet authorised.
    Received,
    /// The customer refused.
    Rejected,
    /// Some but not all authorisations are done.
    PartiallyAuthorised,
    /// Usable.
    Valid,
    /// Withdrawn by the customer.
    RevokedByPsu,
    /// Past `validUntil`.
    Expired,
    /// Ended by the third party.
    TerminatedByTpp,
}

impl ConsentStatus {
    /// Every status.
    pub const ALL: [ConsentStatus; 7] = [
        ConsentStatus::Received,
        ConsentStatus::Rejected,
        ConsentStatus::PartiallyAuthorised,
        ConsentStatus::Valid,
        ConsentStatus::RevokedByPsu,
        ConsentStatus::Expired,
        ConsentStatus::TerminatedByTpp,
    ];

    /// The Berlin Group code: `received`, `valid`, …
    pub fn code(self) -> &'static str {
        match self {
            ConsentStatus::Received => "received",
            ConsentStatus::Rejected => "rejected",
            ConsentStatus::PartiallyAuthorised => "partiallyAuthorised",
            ConsentStatus::Valid => "valid",
            ConsentStatus::RevokedByPsu => "revokedByPsu",
            ConsentStatus::Expired => "expired",
            ConsentStatus::TerminatedByTpp => "terminatedByTpp",
        }
    }

    /// The status for a code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// A consent as the bank holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The bank's id.
    pub id: ConsentId,
    /// What was asked for.
    pub request: ConsentRequest,
    /// Its state now.
    pub status: ConsentStatus,
}
