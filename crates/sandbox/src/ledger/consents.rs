//! Consents: giving one (every account the customer's, valid at most 180 days), reading and ending it,
//! and checking each use against its access, its validity and — when the customer is not present —
//! its `frequencyPerDay` per account and day (RTS Art. 36(5)).

use std::collections::HashMap;

use time::Duration;

use super::book::ConsentEntry;
use super::bookkeeping::Ledger;
use super::error::{LedgerError, LedgerResult};
use psd2_fallback_engine::model::{
    Account, AccountId, Consent, ConsentId, ConsentRequest, ConsentStatus, Iban, InvalidValue,
};

/// What a consent is asked to allow: the model's [`AccessUse`], under the name the sandbox API uses.
pub use psd2_fallback_engine::model::AccessUse as ConsentUse;

impl super::book::Book {
    /// The accounts a customer ticks when the bank offers them at a consent's SCA: those set by
    /// [`Ledger::choose_offered_accounts`], else every account of theirs.
    pub(super) fn offered_choice(&self, customer: &str) -> Vec<Iban> {
        self.offer_choices
            .get(customer)
            .cloned()
            .unwrap_or_else(|| {
                self.accounts
                    .iter()
                    .filter(|a| a.owner == customer)
                    .map(|a| a.iban.clone())
                    .collect()
            })
    }
}

impl Ledger {
    /// Records a consent; it waits for the customer's signature. Every account must be the customer's.
    pub fn create_consent(
        &self,
        customer: &str,
        request: ConsentRequest,
    ) -> LedgerResult<ConsentId> {
        let mut book = self.book();
        let all = request
            .access
            .accounts
            .iter()
            .chain(&request.access.balances)
            .chain(&request.access.transactions);
        for iban in all {
            book.owned_iban(customer, iban, "access")?;
        }
        if request.valid_until < book.today {
            return Err(InvalidValue::new("validUntil", "is in the past").into());
        }
        if request.valid_until > book.today + Duration::days(180) {
            return Err(InvalidValue::new(
                "validUntil",
                "is more than 180 days ahead (RTS Art. 10a)",
            )
            .into());
        }
        if request.frequency_per_day == 0 {
            return Err(InvalidValue::new("frequencyPerDay", "must be at least 1").into());
        }
        if !request.recurring && request.frequency_per_day != 1 {
            return Err(
                InvalidValue::new("frequencyPerDay", "must be 1 for a one-off consent").into(),
            );
        }
        let id = ConsentId::new(book.fresh_id("cns"));
        book.consents.insert(
            id.clone(),
            ConsentEntry {
                customer: customer.to_owned(),
                consent: Consent {
                    id: id.clone(),
                    request,
                    status: ConsentStatus::Received,
                },
                unattended: HashMap::new(),
            },
        );
        Ok(id)
    }

    /// Sets the accounts a customer ticks when the bank offers them at a bank-offered consent's SCA
    /// (the bank's consent screen; by default every account). Every account must be the customer's.
    pub fn choose_offered_accounts(&self, customer: &str, ibans: Vec<Iban>) -> LedgerResult<()> {
        let mut book = self.book();
        for iban in &ibans {
            book.owned_iban(customer, iban, "offered accounts")?;
        }
        book.offer_choices.insert(customer.to_owned(), ibans);
        Ok(())
    }

    /// A consent and the customer it belongs to.
    pub fn consent(&self, id: &ConsentId) -> LedgerResult<(String, Consent)> {
        let book = self.book();
        let entry = book.consents.get(id).ok_or_else(|| LedgerError::NotFound {
            what: "consent",
            id: id.to_string(),
        })?;
        Ok((entry.customer.clone(), entry.consent.clone()))
    }

    /// Ends a consent at the third party's request.
    pub fn terminate_consent(&self, id: &ConsentId) -> LedgerResult<()> {
        let mut book = self.book();
        let entry = book
            .consents
            .get_mut(id)
            .ok_or_else(|| LedgerError::NotFound {
                what: "consent",
                id: id.to_string(),
            })?;
        entry.consent.status = ConsentStatus::TerminatedByTpp;
        Ok(())
    }

    /// Checks that a consent allows a use of an account (or, for `account = None`, listing accounts),
    /// and counts the access when the customer is not present (RTS Art. 36(5)): beyond the consent's
    /// `frequencyPerDay` reads of one account in one day, access is refused. Returns the customer.
    pub fn use_consent(
        &self,
        id: &ConsentId,
        what: ConsentUse,
        account: Option<&AccountId>,
        present: bool,
    ) -> LedgerResult<String> {
        let mut book = self.book();
        let today = book.today;
        let iban = match account {
            Some(account_id) => {
                let entry = book.consents.get(id).ok_or_else(|| LedgerError::NotFound {
                    what: "consent",
                    id: id.to_string(),
                })?;
                let customer = entry.customer.clone();
                Some(book.account(&customer, account_id)?.iban.clone())
            }
            None => None,
        };
        let entry = book
            .consents
            .get_mut(id)
            .ok_or_else(|| LedgerError::NotFound {
                what: "consent",
                id: id.to_string(),
            })?;
        let consent = &entry.consent;
        match consent.status {
            ConsentStatus::Valid => {}
            ConsentStatus::Expired => {
                return Err(LedgerError::ConsentExpired { id: id.to_string() });
            }
            other => {
                return Err(LedgerError::ConsentInvalid {
                    id: id.to_string(),
                    reason: format!("its status is {}", other.code()),
                });
            }
        }
        let access = &consent.request.access;
        if let Some(iban) = &iban {
            if !access.allows(iban, what) {
                return Err(LedgerError::ConsentInvalid {
                    id: id.to_string(),
                    reason: format!("it gives no {} access to {}", what.code(), iban.masked()),
                });
            }
            if !present {
                let limit = consent.request.frequency_per_day;
                let count = entry.unattended.entry((today, iban.clone())).or_insert(0);
                if *count >= limit {
                    return Err(LedgerError::AccessExceeded {
                        account: iban.masked(),
                        count: *count,
                        limit,
                    });
                }
                *count += 1;
            }
        }
        Ok(entry.customer.clone())
    }

    /// The accounts a consent opens, with the customer they belong to.
    pub fn consent_accounts(&self, id: &ConsentId) -> LedgerResult<Vec<Account>> {
        let customer = self.use_consent(id, ConsentUse::Accounts, None, true)?;
        let (_, consent) = self.consent(id)?;
        let access = &consent.request.access;
        Ok(self
            .accounts(&customer)
            .into_iter()
            .filter(|a| access.allows(&a.iban, ConsentUse::Accounts))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::ConsentUse;
    use crate::card_reader::card_reader_response;
    use crate::ledger::error::LedgerError;
    use crate::ledger::testing::{TODAY, ledger};
    use crate::seed::{BANK_CODE, belgian_iban};
    use psd2_fallback_engine::model::{AccountId, ConsentAccess, ConsentRequest, ScaTarget};

    #[test]
    fn unattended_access_is_limited_per_account_and_day() {
        let ledger = ledger();
        let iban = belgian_iban(BANK_CODE, 1_234_567);
        let request = ConsentRequest {
            access: ConsentAccess::full(vec![iban]),
            recurring: true,
            valid_until: TODAY + Duration::days(90),
            frequency_per_day: 4,
        };
        let id = ledger.create_consent("1000001", request).unwrap();
        let account = AccountId::new("acc-01");
        assert!(matches!(
            ledger.use_consent(&id, ConsentUse::Balances, Some(&account), false),
            Err(LedgerError::ConsentInvalid { .. })
        ));
        let challenge = ledger
            .start_authorisation("1000001", ScaTarget::Consent(id.clone()), "anna-sandbox")
            .unwrap();
        ledger
            .authorise(
                "1000001",
                &ScaTarget::Consent(id.clone()),
                &challenge.authorisation_id,
                &card_reader_response("1000001", &challenge.data),
            )
            .unwrap();
        for _ in 0..4 {
            ledger
                .use_consent(&id, ConsentUse::Balances, Some(&account), false)
                .unwrap();
        }
        let error = ledger
            .use_consent(&id, ConsentUse::Transactions, Some(&account), false)
            .unwrap_err();
        assert!(
            matches!(
                error,
                LedgerError::AccessExceeded {
                    count: 4,
                    limit: 4,
                    ..
                }
            ),
            "{error:?}"
        );
        // With the customer present there is no limit; the next day the count starts again.
        ledger
            .use_consent(&id, ConsentUse::Balances, Some(&account), true)
            .unwrap();
        ledger.set_today(TODAY + Duration::days(1)).unwrap();
        ledger
            .use_consent(&id, ConsentUse::Balances, Some(&account), false)
            .unwrap();
        // Another customer's account is not covered.
        let other = AccountId::new("acc-03");
        assert!(
            ledger
                .use_consent(&id, ConsentUse::Balances, Some(&other), true)
                .is_err()
        );
        ledger.set_today(TODAY + Duration::days(91)).unwrap();
        assert!(matches!(
            ledger.use_consent(&id, ConsentUse::Balances, Some(&account), true),
            Err(LedgerError::ConsentExpired { .. })
        ));
    }
}
