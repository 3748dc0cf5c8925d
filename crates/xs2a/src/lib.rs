//! The server side of the Berlin Group NextGenPSD2 API, shared by every server that speaks it (the
//! sandbox bank's API and the resilience service): request shapes parsed into `model` values with errors
//! that name the field, `model` values rendered as response JSON, and [`ApiError`], a `tppMessages`
//! answer that is an axum response.
//!
//! Only this crate (and the engine's `api::wire`, on the client side) knows the Berlin Group JSON. It does
//! no IO.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use time::Date;

use psd2_fallback_engine::model::belgian::{format_iso_date, parse_iso_date};
use psd2_fallback_engine::model::{
    Account, Amount, Balance, BookingStatus, ConsentAccess, ConsentId, ConsentRequest, Currency,
    EndToEndId, ExecutionRule, Frequency, Iban, InvalidValue, PaymentFile, PaymentInitiation,
    PaymentKind, PaymentProduct, PaymentRequest, ScaChallenge, StandingOrderRequest, Transaction,
    TransactionFilter,
};

/// The bulk product for pain.001 payment files.
pub const PAIN001_PRODUCT: &str = "pain.001-sepa-credit-transfers";

// ---------------------------------------------------------------------------------------------------
// Errors

/// A Berlin Group error answer: a status and one `tppMessages` entry.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The Berlin Group message code (`FORMAT_ERROR`, `CONSENT_UNKNOWN`, …).
    pub code: Cow<'static, str>,
    /// The message text, for a person.
    pub text: String,
    /// What few errors carry, boxed to keep `Result`s small.
    more: Option<Box<More>>,
}

#[derive(Debug, Default)]
struct More {
    /// The field at fault.
    path: Option<String>,
    /// Extra fields merged into the body (an SCA challenge).
    extra: Option<Value>,
    /// Seconds to wait, sent as `Retry-After`.
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, a Berlin Group code and a text.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        text: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            text: text.into(),
            more: None,
        }
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// Adds `Retry-After` (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.more().retry_after = Some(seconds);
        self
    }

    /// Merges these fields into the body.
    pub fn with_extra(mut self, extra: Value) -> Self {
        self.more().extra = Some(extra);
        self
    }

    /// A `400 FORMAT_ERROR` naming the field (`path`) and the reason.
    pub fn format(path: impl Into<String>, text: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "FORMAT_ERROR", text);
        error.more().path = Some(path.into());
        error
    }

    /// A `404 RESOURCE_UNKNOWN`.
    pub fn unknown(text: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RESOURCE_UNKNOWN", text)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let more = self.more.map(|m| *m).unwrap_or_default();
        let mut message = json!({"category": "ERROR", "code": self.code, "text": self.text});
        if let Some(path) = more.path {
            message["path"] = Value::String(path);
        }
        let mut body = json!({ "tppMessages": [message] });
        if let Some(Value::Object(extra)) = more.extra {
            for (k, v) in extra {
                body[k] = v;
            }
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = more.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<InvalidValue> for ApiError {
    fn from(invalid: InvalidValue) -> Self {
        ApiError::format(invalid.field, invalid.reason)
    }
}

/// The result of a handler step.
pub type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------------
// Request helpers

/// A header's trimmed, non-empty text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The `X-Request-ID` every request must carry, a UUID.
pub fn request_id(headers: &HeaderMap) -> ApiResult<&str> {
    match header(headers, "X-Request-ID") {
        Some(id) if uuid::Uuid::parse_str(id).is_ok() => Ok(id),
        Some(_) => Err(ApiError::format("X-Request-ID", "must be a UUID")),
        None => Err(ApiError::format("X-Request-ID", "header missing")),
    }
}

/// The customer (`PSU-ID`), required.
pub fn psu_id(headers: &HeaderMap) -> ApiResult<String> {
    header(headers, "PSU-ID")
        .map(str::to_owned)
        .ok_or_else(|| ApiError::format("PSU-ID", "header missing"))
}

/// The consent (`Consent-ID`), required.
pub fn consent_id(headers: &HeaderMap) -> ApiResult<ConsentId> {
    header(headers, "Consent-ID")
        .map(ConsentId::new)
        .ok_or_else(|| ApiError::format("Consent-ID", "header missing"))
}

/// The customer's address when the TPP forwards it (`PSU-IP-Address`): the customer is present.
pub fn psu_ip(headers: &HeaderMap) -> Option<IpAddr> {
    header(headers, "PSU-IP-Address").and_then(|ip| ip.parse().ok())
}

/// The customer is present when the TPP forwards their IP address (`PSU-IP-Address`).
pub fn psu_present(headers: &HeaderMap) -> bool {
    psu_ip(headers).is_some()
}

/// A JSON body.
pub fn json<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::format("body", format!("invalid JSON: {e}")))
}

/// A model value, its error moved to the field at `path`.
pub fn at<T>(path: &str, result: Result<T, InvalidValue>) -> ApiResult<T> {
    result.map_err(|e| ApiError::format(path, e.reason))
}

/// An ISO date at `path`.
pub fn date_at(path: &str, text: &str) -> ApiResult<Date> {
    at(path, parse_iso_date(text))
}

/// A `{"href": …}` link.
pub fn link(href: String) -> Value {
    json!({ "href": href })
}

/// An amount: `{"currency": "EUR", "amount": "-12.30"}`.
pub fn amount_json(amount: &Amount) -> Value {
    json!({"currency": amount.currency().code(), "amount": amount.to_api_string()})
}

// ---------------------------------------------------------------------------------------------------
// Request shapes

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
                .map(|d| date_at("requestedExecutionDate", d))
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
            start_date: date_at("startDate", start)?,
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
/// A consent's `access`: accounts by reference, or `allPsd2`.
pub struct AccessIn {
    #[serde(default)]
    accounts: Vec<AccountReferenceIn>,
    #[serde(default)]
    balances: Vec<AccountReferenceIn>,
    #[serde(default)]
    transactions: Vec<AccountReferenceIn>,
    all_psd2: Option<String>,
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

impl ConsentIn {
    /// The consent asked for. `all_accounts` lists the customer's accounts for `allPsd2: allAccounts`;
    /// a server that cannot list them passes `None` and the request is refused naming the field.
    pub fn to_request(
        &self,
        all_accounts: impl FnOnce() -> Option<Vec<Iban>>,
    ) -> ApiResult<ConsentRequest> {
        let list = |name: &str, refs: &[AccountReferenceIn]| -> ApiResult<Vec<Iban>> {
            refs.iter()
                .enumerate()
                .map(|(i, r)| iban_at(&format!("access.{name}[{i}].iban"), r))
                .collect()
        };
        let access = match self.access.all_psd2.as_deref() {
            Some("allAccounts") => ConsentAccess::full(all_accounts().ok_or_else(|| {
                ApiError::format("access.allPsd2", "is not supported here; list the accounts")
            })?),
            Some(other) => {
                return Err(ApiError::format(
                    "access.allPsd2",
                    format!("{other:?} is not supported; use allAccounts"),
                ));
            }
            None => ConsentAccess {
                accounts: list("accounts", &self.access.accounts)?,
                balances: list("balances", &self.access.balances)?,
                transactions: list("transactions", &self.access.transactions)?,
            },
        };
        Ok(ConsentRequest {
            access,
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

/// The answer to a started authorisation: the challenge (`challengeData`) and where to answer it.
pub fn authorisation_started(challenge: &ScaChallenge, base: &str) -> Response {
    let href = format!("{base}/authorisations/{}", challenge.authorisation_id);
    let body = json!({
        "scaStatus": "scaMethodSelected",
        "authorisationId": challenge.authorisation_id.as_str(),
        "chosenScaMethod": {
            "authenticationType": challenge.method,
            "authenticationMethodId": "card-reader",
            "name": "Card reader",
        },
        "challengeData": {
            "data": [challenge.data],
            "additionalInformation": challenge.instructions,
        },
        "_links": {
            "scaStatus": link(href.clone()),
            "authoriseTransaction": link(href.clone()),
        },
    });
    created(&href, body)
}

/// A `201 Created` with `Location` and the embedded SCA approach announced.
pub fn created(location: &str, body: Value) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert("ASPSP-SCA-Approach", HeaderValue::from_static("EMBEDDED"));
    response
}

/// The answer to a created consent.
pub fn consent_created(id: &ConsentId, base: &str) -> Response {
    let base = format!("{base}/v1/consents/{id}");
    created(
        &base,
        json!({
            "consentStatus": "received",
            "consentId": id.as_str(),
            "_links": {
                "self": link(base.clone()),
                "status": link(format!("{base}/status")),
                "startAuthorisationWithPsuAuthentication": link(format!("{base}/authorisations")),
            }
        }),
    )
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

/// A balance (`balances[]`).
pub fn balance_json(b: &Balance) -> Value {
    let mut v = json!({ "balanceAmount": amount_json(&b.amount), "balanceType": b.kind.code() });
    if let Some(day) = b.reference_date {
        v["referenceDate"] = Value::String(format_iso_date(day));
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
            v[account] = json!({ "iban": iban.as_str() });
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

/// What `bookingStatus` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingQuery {
    /// Transactions, booked, pending or both (`None`).
    Transactions(Option<BookingStatus>),
    /// `information`: the standing orders of the account.
    Information,
}

/// The query of a transactions read: `bookingStatus` (required), `dateFrom` (required for
/// transactions), `dateTo`, and the filter they make.
pub fn transaction_query(
    query: &HashMap<String, String>,
) -> ApiResult<(BookingQuery, TransactionFilter)> {
    let booking_status = query
        .get("bookingStatus")
        .map(String::as_str)
        .ok_or_else(|| ApiError::format("bookingStatus", "is required"))?;
    let status = match booking_status {
        "booked" => Some(BookingStatus::Booked),
        "pending" => Some(BookingStatus::Pending),
        "both" => None,
        "information" => return Ok((BookingQuery::Information, TransactionFilter::default())),
        other => {
            return Err(ApiError::format(
                "bookingStatus",
                format!("{other:?} is not booked, pending, both or information"),
            ));
        }
    };
    let date_from = query
        .get("dateFrom")
        .ok_or_else(|| ApiError::format("dateFrom", "is required"))?;
    let filter = TransactionFilter {
        date_from: Some(date_at("dateFrom", date_from)?),
        date_to: query
            .get("dateTo")
            .map(|d| date_at("dateTo", d))
            .transpose()?,
        status,
        ..TransactionFilter::default()
    };
    Ok((BookingQuery::Transactions(status), filter))
}

/// `pageIndex`, 0 when absent.
pub fn page_index(query: &HashMap<String, String>) -> ApiResult<usize> {
    match query.get("pageIndex") {
        None => Ok(0),
        Some(p) => p
            .parse()
            .map_err(|_| ApiError::format("pageIndex", format!("{p:?} is not a page number"))),
    }
}

/// `referenceDate` on balances: the closing booked balance of an earlier day.
pub fn reference_date(query: &HashMap<String, String>) -> ApiResult<Option<Date>> {
    query
        .get("referenceDate")
        .map(|d| date_at("referenceDate", d))
        .transpose()
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

// ---------------------------------------------------------------------------------------------------
// Payments, periodic payments, bulk payments (pain.001)

/// The payment resource a path names: service (`payments`, `periodic-payments`, `bulk-payments`) and
/// product.
pub fn resource(service: &str, product: &str) -> ApiResult<PaymentKind> {
    let single = || {
        PaymentProduct::from_code(product).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "PRODUCT_UNKNOWN",
                format!("unknown payment product {product:?}"),
            )
        })
    };
    match service {
        "payments" => Ok(PaymentKind::Single(single()?)),
        "periodic-payments" => Ok(PaymentKind::Periodic(single()?)),
        "bulk-payments" if product == PAIN001_PRODUCT => Ok(PaymentKind::File),
        "bulk-payments" => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "PRODUCT_UNKNOWN",
            format!("unknown bulk product {product:?}; use {PAIN001_PRODUCT}"),
        )),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "SERVICE_INVALID",
            format!("unknown payment service {service:?}"),
        )),
    }
}

/// A pain.001 upload: sent as XML, UTF-8, at most `max_bytes`, valid (schema, counts, sums, IBANs).
pub fn payment_file(headers: &HeaderMap, body: &Bytes, max_bytes: usize) -> ApiResult<PaymentFile> {
    let content_type = header(headers, "Content-Type").unwrap_or_default();
    if !content_type.contains("xml") {
        return Err(ApiError::format(
            "Content-Type",
            "a pain.001 file is sent as application/xml",
        ));
    }
    if body.len() > max_bytes {
        return Err(ApiError::format(
            "body",
            format!(
                "the file has {} bytes; at most {max_bytes} are accepted",
                body.len()
            ),
        ));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::format("body", "the file is not UTF-8"))?;
    PaymentFile::parse(text).map_err(|e| ApiError::format("body", e.to_string()))
}

/// The answer to an initiated payment, standing order or file; `base` is the resource's path.
pub fn initiation_created(initiation: &PaymentInitiation, base: &str) -> Response {
    created(
        base,
        json!({
            "transactionStatus": initiation.status.code(),
            "paymentId": initiation.payment.id.as_str(),
            "_links": {
                "self": link(base.to_owned()),
                "status": link(format!("{base}/status")),
                "startAuthorisationWithPsuAuthentication": link(format!("{base}/authorisations")),
            },
        }),
    )
}
