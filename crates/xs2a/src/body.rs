//! Request bodies as sent (`PaymentIn`, `ConsentIn`, the authorisation and funds-confirmation bodies),
//! turned into `model` values with errors that name the field (`creditorAccount.iban`,
//! `instructedAmount.currency`, `psuData.password`).

use axum::body::Bytes;
use serde::Deserialize;

use psd2_fallback_engine::model::{
    AccountScope, Amount, ConsentAccess, ConsentRequest, Currency, EndToEndId, ExecutionRule,
    Frequency, Iban, PaymentProduct, PaymentRequest, StandingOrderRequest,
};

use crate::error::{ApiError, ApiResult};
use crate::request::{at, date_at, execution_date_at, json};

// ---------------------------------------------------------------------------------------------------
// Payments and standing orders

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
/// An account reference in a request (`debtorAccount`, `creditorAccount`, a consent's accounts).
pub struct AccountReferenceIn {
    /// The IBAN as sent, checked by [`iban_at`].
    pub iban: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
/// An amount in a request (`instructedAmount`), checked by [`amount_in`].
pub struct AmountIn {
    currency: String,
    amount: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
/// A payment initiation body (single or periodic), as sent.
pub struct PaymentIn {
    end_to_end_identification: Option<String>,
    debtor_account: AccountReferenceIn,
    instructed_amount: AmountIn,
    creditor_account: AccountReferenceIn,
    creditor_name: String,
    remittance_information_unstructured: Option<String>,
    requested_execution_date: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    execution_rule: Option<String>,
    frequency: Option<String>,
    day_of_execution: Option<String>,
}

/// The IBAN of an account reference, or an error naming `path`.
pub fn iban_at(path: &str, reference: &AccountReferenceIn) -> ApiResult<Iban> {
    let text = reference
        .iban
        .as_deref()
        .ok_or_else(|| ApiError::format(path, "an IBAN is required"))?;
    at(path, Iban::parse(text))
}

/// An amount at its currency's scale, or an error naming `path.currency` or `path.amount`.
pub fn amount_in(path: &str, amount: &AmountIn) -> ApiResult<Amount> {
    let currency = at(
        &format!("{path}.currency"),
        Currency::from_code(&amount.currency),
    )?;
    at(
        &format!("{path}.amount"),
        Amount::parse_api(&amount.amount, currency),
    )
}

impl PaymentIn {
    /// The `endToEndIdentification` as sent, if it was.
    pub fn end_to_end_identification(&self) -> Option<&str> {
        self.end_to_end_identification.as_deref()
    }

    /// The single payment this body asks for; errors name the field.
    pub fn to_request(&self, product: PaymentProduct) -> ApiResult<PaymentRequest> {
        let end_to_end_id = match &self.end_to_end_identification {
            Some(id) => at("endToEndIdentification", EndToEndId::new(id.clone()))?,
            None => EndToEndId::generate(),
        };
        let request = PaymentRequest {
            product,
            debtor: iban_at("debtorAccount.iban", &self.debtor_account)?,
            creditor_name: self.creditor_name.clone(),
            creditor: iban_at("creditorAccount.iban", &self.creditor_account)?,
            amount: amount_in("instructedAmount", &self.instructed_amount)?,
            remittance: self.remittance_information_unstructured.clone(),
            requested_execution_date: self
                .requested_execution_date
                .as_deref()
                .map(|d| execution_date_at("requestedExecutionDate", d))
                .transpose()?,
            end_to_end_id,
        };
        request.validate()?;
        Ok(request)
    }

    /// The standing order (periodic payment) this body asks for; errors name the field.
    pub fn to_standing_order(&self, product: PaymentProduct) -> ApiResult<StandingOrderRequest> {
        let mut payment = self.to_request(product)?;
        payment.requested_execution_date = None;
        let start = self
            .start_date
            .as_deref()
            .ok_or_else(|| ApiError::format("startDate", "is required"))?;
        let frequency = self
            .frequency
            .as_deref()
            .ok_or_else(|| ApiError::format("frequency", "is required"))?;
        let request = StandingOrderRequest {
            payment,
            start_date: execution_date_at("startDate", start)?,
            end_date: self
                .end_date
                .as_deref()
                .map(|d| date_at("endDate", d))
                .transpose()?,
            frequency: Frequency::from_code(frequency).ok_or_else(|| {
                ApiError::format(
                    "frequency",
                    format!("{frequency:?} is not a frequency code"),
                )
            })?,
            day_of_execution: self
                .day_of_execution
                .as_deref()
                .map(|d| {
                    d.parse::<u8>().map_err(|_| {
                        ApiError::format(
                            "dayOfExecution",
                            format!("{d:?} is not a day of the month"),
                        )
                    })
                })
                .transpose()?,
            execution_rule: match self.execution_rule.as_deref() {
                None => ExecutionRule::Following,
                Some(rule) => ExecutionRule::from_code(rule).ok_or_else(|| {
                    ApiError::format(
                        "executionRule",
                        format!("{rule:?} is neither following nor preceding"),
                    )
                })?,
            },
        };
        request.validate()?;
        Ok(request)
    }
}

// ---------------------------------------------------------------------------------------------------
// Consents

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
/// A consent's `access`: accounts by reference; `availableAccounts`, `availableAccountsWithBalance`
/// or `allPsd2` (each `allAccounts`); or the three lists empty, for a bank-offered consent.
pub struct AccessIn {
    accounts: Option<Vec<AccountReferenceIn>>,
    balances: Option<Vec<AccountReferenceIn>>,
    transactions: Option<Vec<AccountReferenceIn>>,
    available_accounts: Option<String>,
    available_accounts_with_balance: Option<String>,
    all_psd2: Option<String>,
    restricted_to: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
/// A consent request body (`POST /v1/consents`).
pub struct ConsentIn {
    access: AccessIn,
    recurring_indicator: bool,
    valid_until: String,
    frequency_per_day: u32,
}

impl AccessIn {
    /// The access asked for, each mistake named by its field.
    fn to_access(&self) -> ApiResult<ConsentAccess> {
        let list = |name: &str, refs: &Option<Vec<AccountReferenceIn>>| -> ApiResult<Vec<Iban>> {
            refs.iter()
                .flatten()
                .enumerate()
                .map(|(i, r)| iban_at(&format!("access.{name}[{i}].iban"), r))
                .collect()
        };
        if self.restricted_to.is_some() {
            return Err(ApiError::format(
                "access.restrictedTo",
                "is not supported; leave it out (every account type is asked for)",
            ));
        }
        let scopes = [
            (AccountScope::AvailableAccounts, &self.available_accounts),
            (
                AccountScope::AvailableAccountsWithBalance,
                &self.available_accounts_with_balance,
            ),
            (AccountScope::AllPsd2, &self.all_psd2),
        ];
        let mut asked = scopes.iter().filter(|(_, value)| value.is_some());
        let scoped = asked.next();
        if let Some((second, _)) = asked.next() {
            return Err(ApiError::format(
                format!("access.{}", second.code()),
                format!(
                    "cannot be asked with access.{}; ask for one of them",
                    scoped.map_or("", |(s, _)| s.code())
                ),
            ));
        }
        let listed = ConsentAccess {
            accounts: list("accounts", &self.accounts)?,
            balances: list("balances", &self.balances)?,
            transactions: list("transactions", &self.transactions)?,
            scope: AccountScope::Listed,
        };
        if let Some((scope, value)) = scoped {
            let field = format!("access.{}", scope.code());
            match value.as_deref() {
                Some("allAccounts") => {}
                Some("allAccountsWithOwnerName") => {
                    return Err(ApiError::format(
                        &field,
                        "allAccountsWithOwnerName is not supported; use allAccounts",
                    ));
                }
                other => {
                    return Err(ApiError::format(
                        &field,
                        format!("{:?} is not admitted; use allAccounts", other.unwrap_or("")),
                    ));
                }
            }
            if !listed.lists_none() {
                return Err(ApiError::format(
                    &field,
                    "cannot be asked with accounts, balances or transactions listed; leave them out or empty",
                ));
            }
            return Ok(ConsentAccess::scoped(*scope));
        }
        let any_list =
            self.accounts.is_some() || self.balances.is_some() || self.transactions.is_some();
        if !any_list {
            return Err(ApiError::format(
                "access",
                "asks for nothing: list accounts, send empty lists for the bank to offer them, or ask for availableAccounts or allPsd2",
            ));
        }
        if listed.lists_none() {
            // The Berlin Group bank-offered consent: the customer picks the accounts at the bank.
            return Ok(ConsentAccess::scoped(AccountScope::BankOffered));
        }
        Ok(listed)
    }
}

impl ConsentIn {
    /// The consent asked for: listed accounts, a scope (`availableAccounts`,
    /// `availableAccountsWithBalance`, `allPsd2`) or, with the three lists empty, a bank-offered
    /// consent; each mistake named by its field.
    pub fn to_request(&self) -> ApiResult<ConsentRequest> {
        Ok(ConsentRequest {
            access: self.access.to_access()?,
            recurring: self.recurring_indicator,
            valid_until: date_at("validUntil", &self.valid_until)?,
            frequency_per_day: self.frequency_per_day,
        })
    }
}

// ---------------------------------------------------------------------------------------------------
// Authorisations (embedded SCA)

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartAuthorisationIn {
    psu_data: Option<PsuDataIn>,
}

#[derive(Debug, Deserialize)]
struct PsuDataIn {
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateAuthorisationIn {
    sca_authentication_data: Option<String>,
}

/// The PSU's password from a start-authorisation body (`psuData.password`), required by the embedded
/// approach.
pub fn authorisation_password(body: &Bytes) -> ApiResult<String> {
    let input: StartAuthorisationIn = if body.is_empty() {
        StartAuthorisationIn { psu_data: None }
    } else {
        json(body)?
    };
    input.psu_data.and_then(|d| d.password).ok_or_else(|| {
        ApiError::format(
            "psuData.password",
            "the embedded approach needs the PSU's password",
        )
    })
}

/// The customer's answer from an update-authorisation body (`scaAuthenticationData`).
pub fn authorisation_answer(body: &Bytes) -> ApiResult<String> {
    let input: UpdateAuthorisationIn = json(body)?;
    input
        .sca_authentication_data
        .ok_or_else(|| ApiError::format("scaAuthenticationData", "is required"))
}

// ---------------------------------------------------------------------------------------------------
// Funds confirmation

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FundsIn {
    account: AccountReferenceIn,
    instructed_amount: AmountIn,
}

/// A funds-confirmation body: the account and the amount.
pub fn funds_request(body: &Bytes) -> ApiResult<(Iban, Amount)> {
    let input: FundsIn = json(body)?;
    Ok((
        iban_at("account.iban", &input.account)?,
        amount_in("instructedAmount", &input.instructed_amount)?,
    ))
}

#[cfg(test)]
mod tests {
    use psd2_fallback_engine::model::PaymentProduct;

    use super::PaymentIn;
    use crate::request::json;

    fn order(date: &str) -> PaymentIn {
        let body = format!(
            r#"{{"endToEndIdentification":"E2E-1","debtorAccount":{{"iban":"BE68539007547034"}},
                "instructedAmount":{{"currency":"EUR","amount":"12.30"}},
                "creditorAccount":{{"iban":"BE71096123456769"}},"creditorName":"Garage Vermeulen",
                "requestedExecutionDate":"{date}"}}"#
        );
        json(&axum::body::Bytes::from(body)).unwrap()
    }

    /// r11: an execution date far beyond any bank's horizon is refused naming the field; NUL and
    /// right-to-left overrides in a name and a dollar amount on a SEPA product are refused too.
    #[test]
    fn dates_beyond_the_horizon_and_texts_outside_sepa_are_refused_naming_the_field() {
        let soon = (time::OffsetDateTime::now_utc().date() + time::Duration::days(30)).to_string();
        assert!(
            order(&soon)
                .to_request(PaymentProduct::SepaCreditTransfer)
                .is_ok()
        );
        let error = order("9999-12-31")
            .to_request(PaymentProduct::SepaCreditTransfer)
            .unwrap_err();
        assert_eq!(error.code, "FORMAT_ERROR");
        assert!(error.text.contains("365 days"), "{}", error.text);
        let body = |name: &str, currency: &str| {
            format!(
                r#"{{"debtorAccount":{{"iban":"BE68539007547034"}},
                    "instructedAmount":{{"currency":"{currency}","amount":"12.30"}},
                    "creditorAccount":{{"iban":"BE71096123456769"}},"creditorName":"{name}"}}"#
            )
        };
        for (text, field) in [
            (body("Garage\\u0000Vermeulen", "EUR"), "creditorName"),
            (body("Garage \\u202eneleumreV", "EUR"), "creditorName"),
            (body("Garage Vermeulen", "USD"), "instructedAmount.currency"),
        ] {
            let order: PaymentIn = json(&axum::body::Bytes::from(text)).unwrap();
            let error = order
                .to_request(PaymentProduct::SepaCreditTransfer)
                .unwrap_err();
            assert!(format!("{error:?}").contains(field), "{field}: {error:?}");
        }
    }
}
