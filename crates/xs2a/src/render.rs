//! Response bodies: `model` values rendered as Berlin Group NextGenPSD2 JSON, one function per shape,
//! so every server that speaks the API (the sandbox bank's and the resilience service) answers alike.
//!
//! A renderer takes model values and the path prefix its links start with (`""`, or `/banks/{bank}` in
//! the service); it does no IO and decides no status except where the shape is a whole answer
//! (`created`, `cancellation`).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use time::Date;

use psd2_fallback_engine::model::belgian::format_iso_date;
use psd2_fallback_engine::model::{
    Account, AccountScope, Amount, AuthorisationId, Balance, BookingStatus, ConsentAccess,
    ConsentId, ConsentRequest, ConsentStatus, FundsConfirmation, Iban, PaymentInitiation,
    PaymentStatus, ScaApproach, ScaChallenge, ScaStatus, Transaction,
};

// ---------------------------------------------------------------------------------------------------
// Common pieces: links, amounts, account references, `201 Created`

/// A `{"href": …}` link.
pub fn link(href: String) -> Value {
    json!({ "href": href })
}

/// The `_links` of an answer: named links, rendered as `{"<name>": {"href": …}, …}`.
///
/// The names are Berlin Group's (`self`, `status`, `scaStatus`, `account`, `next`, …); a name given
/// twice keeps its last href.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links(Vec<(&'static str, String)>);

impl Links {
    /// No links yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// These links and one more.
    pub fn with(mut self, name: &'static str, href: impl Into<String>) -> Self {
        self.push(name, href);
        self
    }

    /// Adds a link.
    pub fn push(&mut self, name: &'static str, href: impl Into<String>) {
        self.0.push((name, href.into()));
    }

    /// The links as the `_links` object.
    pub fn to_json(&self) -> Value {
        let links: Map<String, Value> = self
            .0
            .iter()
            .map(|(name, href)| ((*name).to_owned(), link(href.clone())))
            .collect();
        Value::Object(links)
    }
}

/// An amount: `{"currency": "EUR", "amount": "-12.30"}`.
pub fn amount_json(amount: &Amount) -> Value {
    json!({"currency": amount.currency().code(), "amount": amount.to_api_string()})
}

/// An account reference by IBAN: `{"iban": "BE68…"}` (a consent's `access` lists, counterparties).
pub fn iban_reference_json(iban: &Iban) -> Value {
    json!({ "iban": iban.as_str() })
}

/// The account an answer is about: `{"iban": …, "currency": …}` (beside balances and transactions).
pub fn account_reference_json(account: &Account) -> Value {
    json!({ "iban": account.iban.as_str(), "currency": account.currency.code() })
}

/// A `201 Created` with `Location`, and the SCA approach announced (`ASPSP-SCA-Approach`) when it is
/// fixed: the specification asks for the header then, and only then.
pub fn created(location: &str, body: Value, approach: Option<ScaApproach>) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(approach) = approach {
        response.headers_mut().insert(
            "ASPSP-SCA-Approach",
            HeaderValue::from_static(approach.header_value()),
        );
    }
    response
}

// ---------------------------------------------------------------------------------------------------
// Consents

/// The link that starts an authorisation: with the PSU's authentication when the approach is (or may
/// be) embedded, a plain `startAuthorisation` when the bank fixed another.
fn start_link(approach: Option<ScaApproach>) -> &'static str {
    match approach {
        None | Some(ScaApproach::Embedded) => "startAuthorisationWithPsuAuthentication",
        Some(_) => "startAuthorisation",
    }
}

/// The answer to a created consent; `approach` when the bank fixed it.
pub fn consent_created(id: &ConsentId, base: &str, approach: Option<ScaApproach>) -> Response {
    let base = format!("{base}/v1/consents/{id}");
    let mut links = Map::new();
    links.insert("self".to_owned(), link(base.clone()));
    links.insert("status".to_owned(), link(format!("{base}/status")));
    links.insert(
        start_link(approach).to_owned(),
        link(format!("{base}/authorisations")),
    );
    created(
        &base,
        json!({
            "consentStatus": "received",
            "consentId": id.as_str(),
            "_links": links,
        }),
        approach,
    )
}

/// A consent's `access`: the accounts, balances and transactions it covers, by IBAN; or the scope
/// it was asked with (`availableAccounts`, `availableAccountsWithBalance`, `allPsd2`: `allAccounts`).
/// A bank-offered consent shows the accounts the customer picked (none before its SCA).
pub fn access_json(access: &ConsentAccess) -> Value {
    let refs = |ibans: &[Iban]| ibans.iter().map(iban_reference_json).collect::<Vec<_>>();
    match access.scope {
        AccountScope::AvailableAccounts
        | AccountScope::AvailableAccountsWithBalance
        | AccountScope::AllPsd2 => {
            let mut v = json!({});
            v[access.scope.code()] = Value::String("allAccounts".to_owned());
            v
        }
        AccountScope::Listed | AccountScope::BankOffered => json!({
            "accounts": refs(&access.accounts),
            "balances": refs(&access.balances),
            "transactions": refs(&access.transactions),
        }),
    }
}

/// A consent (`GET /v1/consents/{id}`): what it asked for, its status and its links.
/// `lastActionDate` is written only when the server knows it (`None`: left out, not guessed).
pub fn consent_json(
    request: &ConsentRequest,
    status: ConsentStatus,
    last_action_date: Option<Date>,
    links: &Links,
) -> Value {
    let mut v = json!({
        "access": access_json(&request.access),
        "recurringIndicator": request.recurring,
        "validUntil": format_iso_date(request.valid_until),
        "frequencyPerDay": request.frequency_per_day,
        "consentStatus": status.code(),
        "_links": links.to_json(),
    });
    if let Some(day) = last_action_date {
        v["lastActionDate"] = Value::String(format_iso_date(day));
    }
    v
}

/// A consent's status (`GET /v1/consents/{id}/status`): `{"consentStatus": "valid"}`.
pub fn consent_status_json(status: ConsentStatus) -> Value {
    json!({ "consentStatus": status.code() })
}

// ---------------------------------------------------------------------------------------------------
// Authorisations (embedded SCA)

/// A challenge waiting for the customer's answer: `scaStatus` (`scaMethodSelected`),
/// `authorisationId` and `challengeData` (what to type into the card reader, what to do). It is the
/// core of a started authorisation and the extra fields of an `SCA_REQUIRED` error.
pub fn challenge_json(challenge: &ScaChallenge) -> Value {
    json!({
        "scaStatus": "scaMethodSelected",
        "authorisationId": challenge.authorisation_id.as_str(),
        "challengeData": {
            "data": [challenge.data],
            "additionalInformation": challenge.instructions,
        },
    })
}

/// The answer to a started authorisation: the challenge (`challengeData`) and where to answer it.
pub fn authorisation_started(challenge: &ScaChallenge, base: &str) -> Response {
    let href = format!("{base}/authorisations/{}", challenge.authorisation_id);
    let mut body = challenge_json(challenge);
    body["chosenScaMethod"] = json!({
        "authenticationType": challenge.method,
        "authenticationMethodId": "card-reader",
        "name": "Card reader",
    });
    body["_links"] = Links::new()
        .with("scaStatus", href.clone())
        .with("authoriseTransaction", href.clone())
        .to_json();
    created(&href, body, Some(ScaApproach::Embedded))
}

/// The answer to an authorisation updated with the customer's answer: its status and where to read
/// it again (`{base}/authorisations/{authorisation}`).
pub fn authorisation_updated(
    status: ScaStatus,
    base: &str,
    authorisation: &AuthorisationId,
) -> Value {
    authorisation_updated_in(status, base, "authorisations", authorisation)
}

/// [`authorisation_updated`] for an authorisation under `{base}/{collection}`.
pub fn authorisation_updated_in(
    status: ScaStatus,
    base: &str,
    collection: &str,
    authorisation: &AuthorisationId,
) -> Value {
    json!({
        "scaStatus": status.code(),
        "_links": Links::new()
            .with("scaStatus", format!("{base}/{collection}/{authorisation}"))
            .to_json(),
    })
}

/// A resource's authorisations (`GET …/authorisations`): `{"authorisationIds": […]}`.
pub fn authorisation_ids_json(ids: &[AuthorisationId]) -> Value {
    json!({ "authorisationIds": ids.iter().map(AuthorisationId::as_str).collect::<Vec<_>>() })
}

/// An authorisation's status (`GET …/authorisations/{id}`): `{"scaStatus": "finalised"}`.
pub fn sca_status_json(status: ScaStatus) -> Value {
    json!({ "scaStatus": status.code() })
}

// ---------------------------------------------------------------------------------------------------
// Accounts, balances, transactions

/// An account (`accounts[]`); `base` prefixes its links.
pub fn account_json(a: &Account, base: &str) -> Value {
    let base = format!("{base}/v1/accounts/{}", a.id);
    json!({
        "resourceId": a.id.as_str(),
        "iban": a.iban.as_str(),
        "currency": a.currency.code(),
        "name": a.name,
        "product": a.product,
        "ownerName": a.owner_name,
        "cashAccountType": "CACC",
        "status": "enabled",
        "_links": {
            "balances": link(format!("{base}/balances")),
            "transactions": link(format!("{base}/transactions")),
        },
    })
}

/// One account (`GET /v1/accounts/{id}`): `{"account": …}`; `base` prefixes the links.
pub fn account_details_json(account: &Account, base: &str) -> Value {
    json!({ "account": account_json(account, base) })
}

/// The account list (`GET /v1/accounts`): `{"accounts": […]}`; `base` prefixes the links.
pub fn accounts_json(accounts: &[Account], base: &str) -> Value {
    json!({ "accounts": accounts.iter().map(|a| account_json(a, base)).collect::<Vec<_>>() })
}

/// A balance (`balances[]`).
pub fn balance_json(b: &Balance) -> Value {
    let mut v = json!({ "balanceAmount": amount_json(&b.amount), "balanceType": b.kind.code() });
    if let Some(day) = b.reference_date {
        v["referenceDate"] = Value::String(format_iso_date(day));
    }
    v
}

/// The balances of an account (`GET /v1/accounts/{id}/balances`): `{"balances": […]}`, with the
/// account's reference when the server gives it.
pub fn balances_json(account: Option<&Account>, balances: &[Balance]) -> Value {
    let mut v = json!({ "balances": balances.iter().map(balance_json).collect::<Vec<_>>() });
    if let Some(account) = account {
        v["account"] = account_reference_json(account);
    }
    v
}

/// A transaction (`transactions.booked[]` or `.pending[]`).
pub fn transaction_json(t: &Transaction) -> Value {
    let mut v = json!({
        "transactionId": t.id.as_str(),
        "valueDate": format_iso_date(t.value_date),
        "transactionAmount": amount_json(&t.amount),
    });
    if let Some(day) = t.booking_date {
        v["bookingDate"] = Value::String(format_iso_date(day));
    }
    if let Some(e2e) = &t.end_to_end_id {
        v["endToEndId"] = Value::String(e2e.to_string());
    }
    if let Some(party) = &t.counterparty {
        let (name, account) = if t.amount.is_negative() {
            ("creditorName", "creditorAccount")
        } else {
            ("debtorName", "debtorAccount")
        };
        v[name] = Value::String(party.name.clone());
        if let Some(iban) = &party.iban {
            v[account] = iban_reference_json(iban);
        }
    }
    if let Some(text) = &t.remittance {
        v["remittanceInformationUnstructured"] = Value::String(text.clone());
    }
    if let Some(code) = &t.bank_transaction_code {
        v["bankTransactionCode"] = Value::String(code.clone());
    }
    if let Some(order) = &t.standing_order {
        v["additionalInformation"] = Value::String(format!("standing order {order}"));
    }
    v
}

/// One page of transactions, split into booked and pending, with its links.
pub fn transactions_page(page: &[Transaction], links: Value) -> Value {
    let (pending, booked): (Vec<&Transaction>, Vec<&Transaction>) = page
        .iter()
        .partition(|t| t.status == BookingStatus::Pending);
    json!({
        "booked": booked.iter().map(|t| transaction_json(t)).collect::<Vec<_>>(),
        "pending": pending.iter().map(|t| transaction_json(t)).collect::<Vec<_>>(),
        "_links": links,
    })
}

/// A transactions read (`GET /v1/accounts/{id}/transactions`): `{"transactions": {booked, pending,
/// _links}}`, with the account's reference when the server gives it.
pub fn transactions_json(account: Option<&Account>, page: &[Transaction], links: &Links) -> Value {
    let mut v = json!({ "transactions": transactions_page(page, links.to_json()) });
    if let Some(account) = account {
        v["account"] = account_reference_json(account);
    }
    v
}

// ---------------------------------------------------------------------------------------------------
// Funds confirmation

/// The answer to a funds confirmation: `{"fundsAvailable": true}`.
pub fn funds_json(answer: &FundsConfirmation) -> Value {
    json!({ "fundsAvailable": answer.funds_available })
}

// ---------------------------------------------------------------------------------------------------
// Payments, periodic payments, bulk payments (pain.001)

/// The answer to an initiated payment, standing order or file; `base` is the resource's path.
pub fn initiation_created(
    initiation: &PaymentInitiation,
    base: &str,
    approach: Option<ScaApproach>,
) -> Response {
    let mut links = Map::new();
    links.insert("self".to_owned(), link(base.to_owned()));
    links.insert("status".to_owned(), link(format!("{base}/status")));
    links.insert(
        start_link(approach).to_owned(),
        link(format!("{base}/authorisations")),
    );
    created(
        base,
        json!({
            "transactionStatus": initiation.status.code(),
            "paymentId": initiation.payment.id.as_str(),
            "_links": links,
        }),
        approach,
    )
}

/// A payment's status (`GET …/{id}/status`): `{"transactionStatus": "ACSC"}` (ISO 20022).
pub fn transaction_status_json(status: PaymentStatus) -> Value {
    json!({ "transactionStatus": status.code() })
}

/// The answer to a cancellation the bank wants authorised (`paymentInitiationCancelResponse-202`):
/// `202`, the payment's status as it still is, and `_links.startAuthorisation` to the payment's
/// `cancellation-authorisations` under `base` (the payment's own path).
pub fn cancellation_to_authorise(status: PaymentStatus, base: &str) -> Response {
    let mut body = transaction_status_json(status);
    body["_links"] = Links::new()
        .with("self", base)
        .with("status", format!("{base}/status"))
        .with(
            "startAuthorisation",
            format!("{base}/cancellation-authorisations"),
        )
        .to_json();
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// The answer to a cancellation (`DELETE …/{id}`): `204 No Content` when the resource is cancelled,
/// else `202 Accepted` with the status it is in (the cancellation waits for something, such as an
/// authorisation).
pub fn cancellation(status: PaymentStatus) -> Response {
    if status == PaymentStatus::Cancelled {
        return StatusCode::NO_CONTENT.into_response();
    }
    (StatusCode::ACCEPTED, Json(transaction_status_json(status))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_render_as_named_hrefs() {
        let links = Links::new()
            .with("self", "/v1/consents/c-1")
            .with("status", "/v1/consents/c-1/status");
        assert_eq!(
            links.to_json(),
            json!({
                "self": { "href": "/v1/consents/c-1" },
                "status": { "href": "/v1/consents/c-1/status" },
            })
        );
        assert_eq!(Links::new().to_json(), json!({}));
    }

    #[test]
    fn a_consent_leaves_out_an_unknown_last_action_date() {
        let request = ConsentRequest {
            access: ConsentAccess {
                accounts: vec![Iban::parse("BE68539007547034").unwrap()],
                balances: vec![],
                transactions: vec![],
                scope: Default::default(),
            },
            recurring: true,
            valid_until: time::macros::date!(2027 - 01 - 31),
            frequency_per_day: 4,
        };
        let links = Links::new().with("status", "/v1/consents/c-1/status");
        let without = consent_json(&request, ConsentStatus::Valid, None, &links);
        assert_eq!(
            without,
            json!({
                "access": {
                    "accounts": [{ "iban": "BE68539007547034" }],
                    "balances": [],
                    "transactions": [],
                },
                "recurringIndicator": true,
                "validUntil": "2027-01-31",
                "frequencyPerDay": 4,
                "consentStatus": "valid",
                "_links": { "status": { "href": "/v1/consents/c-1/status" } },
            })
        );
        let with = consent_json(
            &request,
            ConsentStatus::Valid,
            Some(time::macros::date!(2026 - 11 - 23)),
            &links,
        );
        assert_eq!(with["lastActionDate"], "2026-11-23");
    }

    #[test]
    fn a_challenge_is_the_same_in_a_started_authorisation_and_an_sca_required_error() {
        let challenge = ScaChallenge {
            authorisation_id: AuthorisationId::new("auth-1"),
            method: "CHIP_OTP".to_owned(),
            data: "12345678".to_owned(),
            instructions: "Insert your card".to_owned(),
            valid_for: None,
        };
        assert_eq!(
            challenge_json(&challenge),
            json!({
                "scaStatus": "scaMethodSelected",
                "authorisationId": "auth-1",
                "challengeData": { "data": ["12345678"], "additionalInformation": "Insert your card" },
            })
        );
        assert_eq!(
            authorisation_updated(
                ScaStatus::Finalised,
                "/v1/consents/c-1",
                &challenge.authorisation_id
            ),
            json!({
                "scaStatus": "finalised",
                "_links": { "scaStatus": { "href": "/v1/consents/c-1/authorisations/auth-1" } },
            })
        );
    }

    #[test]
    fn balances_and_transactions_carry_the_account_only_when_given() {
        let account = Account {
            id: psd2_fallback_engine::model::AccountId::new("acc-01"),
            iban: Iban::parse("BE68539007547034").unwrap(),
            currency: psd2_fallback_engine::model::Currency::from_code("EUR").unwrap(),
            name: "Daily".to_owned(),
            product: "Zichtrekening".to_owned(),
            owner_name: "Anna".to_owned(),
        };
        let reference = json!({ "iban": "BE68539007547034", "currency": "EUR" });
        assert_eq!(balances_json(None, &[]), json!({ "balances": [] }));
        assert_eq!(balances_json(Some(&account), &[])["account"], reference);
        let links = Links::new().with("account", "/v1/accounts/acc-01");
        let page = transactions_json(None, &[], &links);
        assert_eq!(
            page,
            json!({ "transactions": {
                "booked": [],
                "pending": [],
                "_links": { "account": { "href": "/v1/accounts/acc-01" } },
            } })
        );
        assert_eq!(
            transactions_json(Some(&account), &[], &links)["account"],
            reference
        );
    }

    #[test]
    fn a_cancellation_is_204_when_done_and_202_with_the_status_otherwise() {
        assert_eq!(
            cancellation(PaymentStatus::Cancelled).status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            cancellation(PaymentStatus::Received).status(),
            StatusCode::ACCEPTED
        );
    }
}
