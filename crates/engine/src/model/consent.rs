//! Consents: what a customer allowed a third party to read, until when and how often.

use time::Date;

use super::{ConsentId, Iban, ScaApproach};

/// Which of the customer's accounts a consent reaches beyond the IBANs it lists (Berlin Group
/// `access`: `availableAccounts`, `availableAccountsWithBalance`, `allPsd2`, or the bank-offered
/// consent whose `accounts`, `balances` and `transactions` are empty and whose accounts the customer
/// picks at the bank during its SCA).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AccountScope {
    /// The accounts listed, for what each list says.
    #[default]
    Listed,
    /// Every account of the customer, for its details only (`availableAccounts: allAccounts`).
    AvailableAccounts,
    /// Every account of the customer, for its details and balances
    /// (`availableAccountsWithBalance: allAccounts`).
    AvailableAccountsWithBalance,
    /// Every account of the customer, for everything (`allPsd2: allAccounts`).
    AllPsd2,
    /// The accounts the customer picks at the bank while signing the consent; until then none. Once
    /// the bank has said which, they are the lists.
    BankOffered,
}

impl AccountScope {
    /// Every scope.
    pub const ALL: [AccountScope; 5] = [
        AccountScope::Listed,
        AccountScope::AvailableAccounts,
        AccountScope::AvailableAccountsWithBalance,
        AccountScope::AllPsd2,
        AccountScope::BankOffered,
    ];

    /// The Berlin Group word for the scope (the `access` key; `bankOffered` and `listed` are this
    /// engine's names for the two forms that have none).
    pub fn code(self) -> &'static str {
        match self {
            AccountScope::Listed => "listed",
            AccountScope::AvailableAccounts => "availableAccounts",
            AccountScope::AvailableAccountsWithBalance => "availableAccountsWithBalance",
            AccountScope::AllPsd2 => "allPsd2",
            AccountScope::BankOffered => "bankOffered",
        }
    }

    /// The scope for a word of [`AccountScope::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// What a read under a consent uses it for, as the Berlin Group `access` lists name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessUse {
    /// Listing accounts or reading an account's details.
    Accounts,
    /// Reading balances.
    Balances,
    /// Reading transactions.
    Transactions,
}

impl AccessUse {
    /// The `access` key naming the use: `accounts`, `balances`, `transactions`.
    pub fn code(self) -> &'static str {
        match self {
            AccessUse::Accounts => "accounts",
            AccessUse::Balances => "balances",
            AccessUse::Transactions => "transactions",
        }
    }
}

/// Which accounts a consent opens, and for what (Berlin Group `access`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentAccess {
    /// Accounts whose details may be read.
    pub accounts: Vec<Iban>,
    /// Accounts whose balances may be read.
    pub balances: Vec<Iban>,
    /// Accounts whose transactions may be read.
    pub transactions: Vec<Iban>,
    /// Which of the customer's accounts it reaches beyond the lists.
    pub scope: AccountScope,
}

impl ConsentAccess {
    /// The same access to every listed account (details, balances and transactions).
    pub fn full(accounts: Vec<Iban>) -> Self {
        Self {
            accounts: accounts.clone(),
            balances: accounts.clone(),
            transactions: accounts,
            scope: AccountScope::Listed,
        }
    }

    /// Access reaching the customer's accounts by `scope` alone, with no list.
    pub fn scoped(scope: AccountScope) -> Self {
        Self {
            scope,
            ..Self::default()
        }
    }

    /// Whether the consent allows `what` on an account of the customer whose IBAN is `iban`. The
    /// caller has checked that the account is the customer's: a scope reaches only those. An account
    /// listed for balances or transactions may also be listed and read in detail.
    pub fn allows(&self, iban: &Iban, what: AccessUse) -> bool {
        let by_scope = match self.scope {
            AccountScope::Listed | AccountScope::BankOffered => false,
            AccountScope::AvailableAccounts => what == AccessUse::Accounts,
            AccountScope::AvailableAccountsWithBalance => what != AccessUse::Transactions,
            AccountScope::AllPsd2 => true,
        };
        by_scope
            || match what {
                AccessUse::Accounts => self.covers_listed(iban),
                AccessUse::Balances => self.balances.contains(iban),
                AccessUse::Transactions => self.transactions.contains(iban),
            }
    }

    /// Whether an account is in any of the lists.
    pub fn covers_listed(&self, iban: &Iban) -> bool {
        self.accounts.contains(iban)
            || self.balances.contains(iban)
            || self.transactions.contains(iban)
    }

    /// Whether the consent lists no account at all (its scope alone says what it reaches).
    pub fn lists_none(&self) -> bool {
        self.accounts.is_empty() && self.balances.is_empty() && self.transactions.is_empty()
    }

    /// The access once the customer picked `chosen` at the bank for a bank-offered consent: every
    /// use of each chosen account. Any other access is returned as it is.
    pub fn with_choice(self, chosen: Vec<Iban>) -> Self {
        if self.scope == AccountScope::BankOffered && self.lists_none() {
            Self {
                scope: AccountScope::BankOffered,
                ..Self::full(chosen)
            }
        } else {
            self
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

/// A consent the bank has just made ([`crate::Bank::create_consent_announced`]): its id and the SCA
/// approach the bank announced with its answer (`ASPSP-SCA-Approach`), when it announced one — a bank
/// that redirects or pushes to the customer's app asks no password of the caller. `None` when nothing
/// was announced (the website channel, whose login takes a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentCreated {
    /// The new consent.
    pub id: ConsentId,
    /// The approach the bank announced, if any.
    pub approach: Option<ScaApproach>,
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

#[cfg(test)]
mod tests {
    use super::{AccessUse, AccountScope, ConsentAccess};
    use crate::model::Iban;

    #[test]
    fn each_scope_allows_what_berlin_group_says() {
        let listed = Iban::parse("BE68539007547034").unwrap();
        let other = Iban::parse("BE71096123456769").unwrap();
        let balances_only = ConsentAccess {
            balances: vec![listed.clone()],
            ..ConsentAccess::default()
        };
        // (access, iban, [accounts, balances, transactions])
        let cases = [
            (
                ConsentAccess::full(vec![listed.clone()]),
                &listed,
                [true, true, true],
            ),
            (
                ConsentAccess::full(vec![listed.clone()]),
                &other,
                [false, false, false],
            ),
            (balances_only, &listed, [true, true, false]),
            (
                ConsentAccess::scoped(AccountScope::AvailableAccounts),
                &other,
                [true, false, false],
            ),
            (
                ConsentAccess::scoped(AccountScope::AvailableAccountsWithBalance),
                &other,
                [true, true, false],
            ),
            (
                ConsentAccess::scoped(AccountScope::AllPsd2),
                &other,
                [true, true, true],
            ),
            (
                ConsentAccess::scoped(AccountScope::BankOffered),
                &other,
                [false, false, false],
            ),
            (
                ConsentAccess::scoped(AccountScope::BankOffered).with_choice(vec![listed.clone()]),
                &listed,
                [true, true, true],
            ),
            (
                ConsentAccess::scoped(AccountScope::BankOffered).with_choice(vec![listed.clone()]),
                &other,
                [false, false, false],
            ),
        ];
        for (access, iban, expected) in cases {
            let got = [
                AccessUse::Accounts,
                AccessUse::Balances,
                AccessUse::Transactions,
            ]
            .map(|what| access.allows(iban, what));
            assert_eq!(got, expected, "{:?} on {}", access.scope, iban.masked());
        }
        // A choice never widens a consent that listed accounts or has a scope.
        let all = ConsentAccess::scoped(AccountScope::AllPsd2);
        assert_eq!(all.clone().with_choice(vec![listed.clone()]), all);
        for scope in AccountScope::ALL {
            assert_eq!(AccountScope::from_code(scope.code()), Some(scope));
        }
    }
}
