//! The Berlin Group NextGenPSD2 JSON, as the bank's API speaks it. The only place that knows it.
//!
//! Response shapes are read leniently (unknown fields ignored, optional fields optional), converted to
//! `model` values at once, and a value that does not convert is a malformed answer naming the field.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::belgian::{format_iso_date, parse_iso_date};
use crate::model::{
    Account, AccountId, AccountScope, Amount, AuthorisationId, Balance, BalanceType, BookingStatus,
    ConsentAccess, ConsentRequest, ConsentStatus, Counterparty, Currency, DECOUPLED_POLL_EVERY,
    EndToEndId, Iban, PaymentId, PaymentRequest, PaymentStatus, ScaApproach, ScaChallenge,
    ScaProgress, ScaStatus, ScaStep, StandingOrderRequest, Transaction, TransactionId,
};

/// A field of the bank's answer that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed answer: {field}: {reason}")]
pub(crate) struct Malformed {
    pub(crate) field: String,
    pub(crate) reason: String,
}

fn malformed(field: impl Into<String>, reason: impl Into<String>) -> Malformed {
    Malformed {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Malformed {
    /// A body that is no JSON of the expected shape.
    pub(crate) fn body(error: serde_json::Error) -> Self {
        malformed("body", error.to_string())
    }
}

type Wire<T> = Result<T, Malformed>;

// ----------------------------------------------------------------------------------------------------
// Shared pieces

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountReference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) iban: Option<String>,
}

impl AccountReference {
    pub(crate) fn of(iban: &Iban) -> Self {
        Self {
            iban: Some(iban.as_str().to_owned()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireAmount {
    pub(crate) currency: String,
    pub(crate) amount: String,
}

impl WireAmount {
    pub(crate) fn of(amount: &Amount) -> Self {
        Self {
            currency: amount.currency().code().to_owned(),
            amount: amount.to_api_string(),
        }
    }

    fn to_amount(&self, field: &str) -> Wire<Amount> {
        let currency = Currency::from_code(&self.currency)
            .map_err(|e| malformed(format!("{field}.currency"), e.reason))?;
        Amount::parse_api(&self.amount, currency)
            .map_err(|e| malformed(format!("{field}.amount"), e.reason))
    }
}

fn iban_of(reference: &Option<AccountReference>, field: &str) -> Wire<Option<Iban>> {
    match reference.as_ref().and_then(|r| r.iban.as_deref()) {
        None => Ok(None),
        Some(text) => Iban::parse(text)
            .map(Some)
            .map_err(|e| malformed(format!("{field}.iban"), e.reason)),
    }
}

fn date_of(text: &str, field: &str) -> Wire<time::Date> {
    parse_iso_date(text).map_err(|e| malformed(field, e.reason))
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Link {
    pub(crate) href: String,
}

/// The `tppMessages` of an error answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) tpp_messages: Vec<TppMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TppMessage {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) path: Option<String>,
}

// ----------------------------------------------------------------------------------------------------
// Accounts, balances, transactions

#[derive(Debug, Deserialize)]
pub(crate) struct AccountList {
    pub(crate) accounts: Vec<AccountDetails>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountDetails {
    resource_id: Option<String>,
    iban: Option<String>,
    currency: String,
    name: Option<String>,
    product: Option<String>,
    owner_name: Option<String>,
}

impl AccountDetails {
    pub(crate) fn to_account(&self, i: usize) -> Wire<Account> {
        let field = |f: &str| format!("accounts[{i}].{f}");
        Ok(Account {
            id: AccountId::new(
                self.resource_id
                    .clone()
                    .ok_or_else(|| malformed(field("resourceId"), "missing"))?,
            ),
            iban: Iban::parse(
                self.iban
                    .as_deref()
                    .ok_or_else(|| malformed(field("iban"), "missing"))?,
            )
            .map_err(|e| malformed(field("iban"), e.reason))?,
            currency: Currency::from_code(&self.currency)
                .map_err(|e| malformed(field("currency"), e.reason))?,
            name: self.name.clone().unwrap_or_default(),
            product: self.product.clone().unwrap_or_default(),
            owner_name: self.owner_name.clone().unwrap_or_default(),
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct BalanceList {
    pub(crate) balances: Vec<WireBalance>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireBalance {
    balance_amount: WireAmount,
    balance_type: String,
    reference_date: Option<String>,
}

impl WireBalance {
    /// The balance, or `None` for a type this engine does not model (e.g. `openingBooked`).
    pub(crate) fn to_balance(&self, i: usize) -> Wire<Option<Balance>> {
        let Some(kind) = BalanceType::from_code(&self.balance_type) else {
            return Ok(None);
        };
        Ok(Some(Balance {
            kind,
            amount: self
                .balance_amount
                .to_amount(&format!("balances[{i}].balanceAmount"))?,
            reference_date: self
                .reference_date
                .as_deref()
                .map(|d| date_of(d, &format!("balances[{i}].referenceDate")))
                .transpose()?,
        }))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct TransactionsResponse {
    pub(crate) transactions: TransactionReport,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TransactionReport {
    #[serde(default)]
    pub(crate) booked: Vec<WireTransaction>,
    #[serde(default)]
    pub(crate) pending: Vec<WireTransaction>,
    #[serde(rename = "_links", default)]
    pub(crate) links: std::collections::HashMap<String, Link>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireTransaction {
    transaction_id: Option<String>,
    end_to_end_id: Option<String>,
    booking_date: Option<String>,
    value_date: Option<String>,
    transaction_amount: WireAmount,
    creditor_name: Option<String>,
    creditor_account: Option<AccountReference>,
    debtor_name: Option<String>,
    debtor_account: Option<AccountReference>,
    remittance_information_unstructured: Option<String>,
    bank_transaction_code: Option<String>,
    additional_information: Option<String>,
}

/// The sandbox convention (and a common one) for the standing order behind a transaction.
const STANDING_ORDER_PREFIX: &str = "standing order ";

impl WireTransaction {
    pub(crate) fn to_transaction(&self, status: BookingStatus, field: &str) -> Wire<Transaction> {
        let amount = self
            .transaction_amount
            .to_amount(&format!("{field}.transactionAmount"))?;
        // The counterparty is the creditor of a debit and the debtor of a credit.
        let (name, account, account_field) = if amount.is_negative() {
            (
                &self.creditor_name,
                &self.creditor_account,
                "creditorAccount",
            )
        } else {
            (&self.debtor_name, &self.debtor_account, "debtorAccount")
        };
        let iban = iban_of(account, &format!("{field}.{account_field}"))?;
        let counterparty = match (name, iban) {
            (None, None) => None,
            (name, iban) => Some(Counterparty {
                name: name.clone().unwrap_or_default(),
                iban,
            }),
        };
        let booking_date = self
            .booking_date
            .as_deref()
            .map(|d| date_of(d, &format!("{field}.bookingDate")))
            .transpose()?;
        let value_date = match self.value_date.as_deref() {
            Some(d) => date_of(d, &format!("{field}.valueDate"))?,
            None => booking_date.ok_or_else(|| {
                malformed(format!("{field}.valueDate"), "missing, and no bookingDate")
            })?,
        };
        Ok(Transaction {
            id: TransactionId::new(self.transaction_id.clone().unwrap_or_default()),
            status,
            booking_date: if status == BookingStatus::Booked {
                booking_date
            } else {
                None
            },
            value_date,
            amount,
            counterparty,
            remittance: self.remittance_information_unstructured.clone(),
            bank_transaction_code: self.bank_transaction_code.clone(),
            end_to_end_id: self
                .end_to_end_id
                .as_deref()
                .and_then(|e| EndToEndId::new(e).ok()),
            standing_order: self
                .additional_information
                .as_deref()
                .and_then(|text| text.strip_prefix(STANDING_ORDER_PREFIX))
                .map(|id| PaymentId::new(id.trim())),
        })
    }
}

// ----------------------------------------------------------------------------------------------------
// Payments

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentInitiationBody {
    end_to_end_identification: String,
    debtor_account: AccountReference,
    instructed_amount: WireAmount,
    creditor_account: AccountReference,
    creditor_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    remittance_information_unstructured: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_execution_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_rule: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    day_of_execution: Option<String>,
}

impl PaymentInitiationBody {
    pub(crate) fn single(p: &PaymentRequest) -> Self {
        Self {
            end_to_end_identification: p.end_to_end_id.as_str().to_owned(),
            debtor_account: AccountReference::of(&p.debtor),
            instructed_amount: WireAmount::of(&p.amount),
            creditor_account: AccountReference::of(&p.creditor),
            creditor_name: p.creditor_name.clone(),
            remittance_information_unstructured: p.remittance.clone(),
            requested_execution_date: p.requested_execution_date.map(format_iso_date),
            start_date: None,
            end_date: None,
            execution_rule: None,
            frequency: None,
            day_of_execution: None,
        }
    }

    pub(crate) fn periodic(s: &StandingOrderRequest) -> Self {
        Self {
            requested_execution_date: None,
            start_date: Some(format_iso_date(s.start_date)),
            end_date: s.end_date.map(format_iso_date),
            execution_rule: Some(s.execution_rule.code()),
            frequency: Some(s.frequency.code()),
            day_of_execution: s.day_of_execution.map(|d| d.to_string()),
            ..Self::single(&s.payment)
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentInitiationResponse {
    transaction_status: String,
    payment_id: String,
}

impl PaymentInitiationResponse {
    pub(crate) fn to_parts(&self) -> Wire<(PaymentId, PaymentStatus)> {
        Ok((
            PaymentId::new(self.payment_id.clone()),
            payment_status(&self.transaction_status)?,
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentStatusResponse {
    transaction_status: String,
}

impl PaymentStatusResponse {
    pub(crate) fn status(&self) -> Wire<PaymentStatus> {
        payment_status(&self.transaction_status)
    }
}

/// The `202` answer to a cancellation (`paymentInitiationCancelResponse-202`): the payment's status,
/// and a start-authorisation link when the bank wants the cancellation authorised.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelResponse {
    transaction_status: String,
    #[serde(rename = "_links", default)]
    links: CancelLinks,
}

/// The links of a cancellation's `202` answer that ask for an authorisation.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelLinks {
    start_authorisation: Option<Link>,
    start_authorisation_with_psu_identification: Option<Link>,
    start_authorisation_with_psu_authentication: Option<Link>,
    start_authorisation_with_encrypted_psu_authentication: Option<Link>,
    start_authorisation_with_authentication_method_selection: Option<Link>,
}

impl CancelResponse {
    /// The cancellation: the status, and whether any start-authorisation link is there.
    pub(crate) fn to_cancellation(&self) -> Wire<crate::model::Cancellation> {
        let l = &self.links;
        Ok(crate::model::Cancellation {
            status: payment_status(&self.transaction_status)?,
            authorisation_needed: l.start_authorisation.is_some()
                || l.start_authorisation_with_psu_identification.is_some()
                || l.start_authorisation_with_psu_authentication.is_some()
                || l.start_authorisation_with_encrypted_psu_authentication
                    .is_some()
                || l.start_authorisation_with_authentication_method_selection
                    .is_some(),
        })
    }
}

fn payment_status(code: &str) -> Wire<PaymentStatus> {
    PaymentStatus::from_code(code).ok_or_else(|| {
        malformed(
            "transactionStatus",
            format!("{code:?} is not an ISO 20022 status"),
        )
    })
}

// ----------------------------------------------------------------------------------------------------
// Funds confirmation

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FundsConfirmationBody {
    pub(crate) account: AccountReference,
    pub(crate) instructed_amount: WireAmount,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FundsConfirmationResponse {
    funds_available: Value,
}

impl FundsConfirmationResponse {
    /// The answer; `"true"`/`"false"` as strings are accepted too, as some servers echo the
    /// specification's examples instead of its schema.
    pub(crate) fn available(&self) -> Wire<bool> {
        match &self.funds_available {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            other => Err(malformed(
                "fundsAvailable",
                format!("{other} is not a boolean"),
            )),
        }
    }
}

// ----------------------------------------------------------------------------------------------------
// Consents and SCA

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsentBody {
    access: ConsentAccessBody,
    recurring_indicator: bool,
    valid_until: String,
    frequency_per_day: u32,
    combined_service_indicator: bool,
}

/// A consent's `access` as sent and as answered: lists of references, or one of the scope keys
/// (`availableAccounts`, `availableAccountsWithBalance`, `allPsd2`) with the lists left out. A
/// bank-offered consent sends the three lists empty.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsentAccessBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<AccountReference>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    balances: Option<Vec<AccountReference>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transactions: Option<Vec<AccountReference>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_accounts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available_accounts_with_balance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    all_psd2: Option<String>,
}

impl ConsentAccessBody {
    fn of(access: &ConsentAccess) -> Self {
        let refs = |ibans: &[Iban]| Some(ibans.iter().map(AccountReference::of).collect());
        let all = || Some("allAccounts".to_owned());
        match access.scope {
            AccountScope::AvailableAccounts => Self {
                available_accounts: all(),
                ..Self::default()
            },
            AccountScope::AvailableAccountsWithBalance => Self {
                available_accounts_with_balance: all(),
                ..Self::default()
            },
            AccountScope::AllPsd2 => Self {
                all_psd2: all(),
                ..Self::default()
            },
            AccountScope::Listed | AccountScope::BankOffered => Self {
                accounts: refs(&access.accounts),
                balances: refs(&access.balances),
                transactions: refs(&access.transactions),
                ..Self::default()
            },
        }
    }

    /// The access a bank answered: a scope key gives that scope; else the lists, IBAN by IBAN (of a
    /// bank-offered consent, the accounts the customer picked), with the scope `Listed`.
    fn access(&self) -> Wire<ConsentAccess> {
        let list = |name: &str, refs: &Option<Vec<AccountReference>>| -> Wire<Vec<Iban>> {
            refs.iter()
                .flatten()
                .enumerate()
                .map(|(i, r)| {
                    let field = format!("access.{name}[{i}].iban");
                    let text = r
                        .iban
                        .as_deref()
                        .ok_or_else(|| malformed(&field, "is missing"))?;
                    Iban::parse(text).map_err(|e| malformed(&field, e.to_string()))
                })
                .collect()
        };
        for (scope, value) in [
            (AccountScope::AvailableAccounts, &self.available_accounts),
            (
                AccountScope::AvailableAccountsWithBalance,
                &self.available_accounts_with_balance,
            ),
            (AccountScope::AllPsd2, &self.all_psd2),
        ] {
            match value.as_deref() {
                None => {}
                Some("allAccounts" | "allAccountsWithOwnerName") => {
                    return Ok(ConsentAccess::scoped(scope));
                }
                Some(other) => {
                    return Err(malformed(
                        format!("access.{}", scope.code()),
                        format!("{other:?} is not a Berlin Group value"),
                    ));
                }
            }
        }
        Ok(ConsentAccess {
            accounts: list("accounts", &self.accounts)?,
            balances: list("balances", &self.balances)?,
            transactions: list("transactions", &self.transactions)?,
            scope: AccountScope::Listed,
        })
    }
}

impl ConsentBody {
    pub(crate) fn of(request: &ConsentRequest) -> Self {
        Self {
            access: ConsentAccessBody::of(&request.access),
            recurring_indicator: request.recurring,
            valid_until: format_iso_date(request.valid_until),
            frequency_per_day: request.frequency_per_day,
            combined_service_indicator: false,
        }
    }
}

/// A consent as the bank answers `GET /v1/consents/{id}`: what it gives access to now.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsentAnswer {
    access: ConsentAccessBody,
}

impl ConsentAnswer {
    /// The access the bank holds for the consent.
    pub(crate) fn access(&self) -> Wire<ConsentAccess> {
        self.access.access()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsentCreated {
    pub(crate) consent_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsentStatusResponse {
    consent_status: String,
}

impl ConsentStatusResponse {
    pub(crate) fn status(&self) -> Wire<ConsentStatus> {
        ConsentStatus::from_code(&self.consent_status).ok_or_else(|| {
            malformed(
                "consentStatus",
                format!("{:?} is not a consent status", self.consent_status),
            )
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartAuthorisationBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) psu_data: Option<PsuData<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PsuData<'a> {
    pub(crate) password: &'a str,
}

/// The answer to a start (or an update) of an authorisation, whatever the approach: a challenge
/// (embedded), methods to choose from, `_links.scaRedirect` / `_links.scaOAuth` (redirect, OAuth2), or
/// a `psuMessage` and a `scaStatus` link to poll (decoupled).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartAuthorisationResponse {
    pub(crate) authorisation_id: Option<String>,
    pub(crate) challenge_data: Option<ChallengeData>,
    pub(crate) chosen_sca_method: Option<ScaMethod>,
    #[serde(default)]
    pub(crate) sca_methods: Vec<ScaMethod>,
    pub(crate) sca_status: String,
    pub(crate) psu_message: Option<String>,
    #[serde(rename = "_links", default)]
    pub(crate) links: ScaLinks,
}

/// The links of an authorisation answer that say what to do next.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScaLinks {
    pub(crate) sca_redirect: Option<Link>,
    #[serde(rename = "scaOAuth")]
    pub(crate) sca_oauth: Option<Link>,
    pub(crate) sca_status: Option<Link>,
    pub(crate) select_authentication_method: Option<Link>,
    pub(crate) start_authorisation_with_psu_identification: Option<Link>,
    pub(crate) start_authorisation_with_psu_authentication: Option<Link>,
    pub(crate) update_psu_identification: Option<Link>,
    pub(crate) update_psu_authentication: Option<Link>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChallengeData {
    #[serde(default)]
    pub(crate) data: Vec<String>,
    pub(crate) additional_information: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScaMethod {
    pub(crate) authentication_type: String,
    pub(crate) authentication_method_id: Option<String>,
    pub(crate) name: Option<String>,
}

/// The last path segment of an authorisation link (`…/authorisations/{id}`), when the body names no
/// `authorisationId` (the spec's redirect and OAuth2 examples).
fn authorisation_in(link: Option<&Link>) -> Option<String> {
    let href = link?.href.split(['?', '#']).next()?;
    let (before, id) = href.trim_end_matches('/').rsplit_once('/')?;
    // `…/authorisations/{id}` or `…/cancellation-authorisations/{id}`.
    (before.ends_with("authorisations") && !id.is_empty()).then(|| id.to_owned())
}

impl StartAuthorisationResponse {
    /// What the bank asks of the customer, read from the answer (and its `ASPSP-SCA-Approach`
    /// header, when the bank sent one).
    pub(crate) fn to_step(&self, approach: Option<ScaApproach>) -> Wire<ScaStep> {
        let status = sca_status(&self.sca_status)?;
        let id = self
            .authorisation_id
            .clone()
            .or_else(|| authorisation_in(self.links.sca_status.as_ref()))
            .map(AuthorisationId::new);
        if matches!(
            status,
            ScaStatus::Finalised | ScaStatus::Failed | ScaStatus::Exempted
        ) {
            return Ok(ScaStep::Done {
                authorisation_id: id,
                status,
            });
        }
        let id = id.ok_or_else(|| {
            malformed(
                "authorisationId",
                "missing, and no scaStatus link names the authorisation",
            )
        })?;
        if let Some(challenge) = &self.challenge_data {
            return Ok(ScaStep::Challenge(ScaChallenge {
                authorisation_id: id,
                method: (self.chosen_sca_method.as_ref())
                    .map(|m| m.authentication_type.clone())
                    .unwrap_or_default(),
                data: challenge.data.join(" "),
                instructions: (challenge.additional_information.clone())
                    .or_else(|| self.psu_message.clone())
                    .unwrap_or_default(),
                valid_for: None,
            }));
        }
        if let Some(link) = &self.links.sca_redirect {
            return Ok(ScaStep::Redirect {
                authorisation_id: id,
                url: link.href.clone(),
            });
        }
        if let Some(link) = &self.links.sca_oauth {
            return Ok(ScaStep::OAuth {
                authorisation_id: id,
                metadata_url: link.href.clone(),
                authorization: None,
            });
        }
        if !self.sca_methods.is_empty() || self.links.select_authentication_method.is_some() {
            let methods = (self.sca_methods.iter().enumerate())
                .map(|(i, m)| {
                    Ok(crate::model::ScaMethod {
                        id: m.authentication_method_id.clone().ok_or_else(|| {
                            malformed(format!("scaMethods[{i}].authenticationMethodId"), "missing")
                        })?,
                        kind: m.authentication_type.clone(),
                        name: m.name.clone(),
                    })
                })
                .collect::<Wire<Vec<_>>>()?;
            if methods.is_empty() {
                return Err(malformed(
                    "scaMethods",
                    "a selectAuthenticationMethod link without methods to select",
                ));
            }
            return Ok(ScaStep::ChooseMethod {
                authorisation_id: id,
                methods,
            });
        }
        let more_data = (self
            .links
            .start_authorisation_with_psu_identification
            .as_ref())
        .or(self
            .links
            .start_authorisation_with_psu_authentication
            .as_ref())
        .or(self.links.update_psu_identification.as_ref())
        .or(self.links.update_psu_authentication.as_ref());
        let decoupled = approach == Some(ScaApproach::Decoupled)
            || (approach.is_none() && more_data.is_none() && self.links.sca_status.is_some());
        if decoupled {
            return Ok(ScaStep::Decoupled {
                authorisation_id: id,
                message: self.psu_message.clone().unwrap_or_default(),
                poll_every: DECOUPLED_POLL_EVERY,
                expires_in: None,
            });
        }
        if more_data.is_some() {
            return Ok(ScaStep::ActionNeeded {
                authorisation_id: id,
                what: self.psu_message.clone().unwrap_or_else(|| {
                    "the bank asks for the customer's identification or credentials".to_owned()
                }),
            });
        }
        Err(malformed(
            "_links",
            format!(
                "scaStatus {} with neither challengeData, scaMethods, scaRedirect, scaOAuth nor scaStatus",
                status.code()
            ),
        ))
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateAuthorisationBody<'a> {
    pub(crate) sca_authentication_data: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScaStatusResponse {
    sca_status: String,
    psu_message: Option<String>,
}

impl ScaStatusResponse {
    pub(crate) fn status(&self) -> Wire<ScaStatus> {
        sca_status(&self.sca_status)
    }

    /// The status and the bank's words about it.
    pub(crate) fn progress(&self) -> Wire<ScaProgress> {
        Ok(ScaProgress {
            status: self.status()?,
            message: self.psu_message.clone(),
        })
    }
}

/// The body choosing an SCA method (`authenticationMethodId`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SelectMethodBody<'a> {
    pub(crate) authentication_method_id: &'a str,
}

pub(crate) fn sca_status(code: &str) -> Wire<ScaStatus> {
    ScaStatus::from_code(code)
        .ok_or_else(|| malformed("scaStatus", format!("{code:?} is not an SCA status")))
}

// ---------------------------------------------------------------------------------------------------
// OAuth2 (the `OAUTH` SCA approach): the authorisation server's metadata (RFC 8414) and its token
// endpoint's answers (RFC 6749 §5.1, §5.2).

/// The parts of an authorisation server's metadata the engine uses.
#[derive(Debug, Deserialize)]
pub(crate) struct OAuthMetadata {
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    #[serde(default)]
    pub(crate) code_challenge_methods_supported: Option<Vec<String>>,
}

/// A token endpoint's successful answer. The tokens are secrets: this type's `Debug` hides them, and
/// the reader moves them into `SecretString`s at once.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub(crate) access_token: String,
    pub(crate) token_type: String,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// A token endpoint's error answer (`error`, `error_description`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenError {
    #[serde(default)]
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}
