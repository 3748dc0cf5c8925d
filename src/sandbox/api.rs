//! The sandbox bank's API, shaped by the Berlin Group NextGenPSD2 v1.3.12 OpenAPI file: its paths,
//! headers, field names, status codes and `tppMessages` errors. SCA is the embedded approach: the
//! password in `psuData`, the challenge in `challengeData`, the answer in `scaAuthenticationData`.
//!
//! Sandbox conventions beyond the specification, each documented where it is served:
//! `?referenceDate=` on balances (the closing balance of an earlier day), `?pageIndex=` for transaction
//! pages, and `additionalInformation: "standing order <id>"` on transactions a standing order made. A
//! repeated initiation with the same `X-Request-ID` returns the resource the first one made.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use time::Date;

use super::faults::ApiFault;
use super::ledger::{ConsentUse, LedgerError, PaymentDetail, PaymentRecord};
use super::server::{DropConnection, Shared};
use crate::model::belgian::{format_iso_date, parse_iso_date};
use crate::model::{
    AccountId, Amount, AuthorisationId, Balance, BookingStatus, ConsentAccess, ConsentId,
    ConsentRequest, Currency, EndToEndId, ExecutionRule, Frequency, Iban, InvalidValue,
    PaymentFile, PaymentId, PaymentKind, PaymentProduct, PaymentRef, PaymentRequest, ScaTarget,
    StandingOrderRequest, Transaction, TransactionFilter,
};

/// How many transactions one page holds.
pub const TRANSACTIONS_PAGE_SIZE: usize = 100;

/// The bulk product for pain.001 payment files.
pub const PAIN001_PRODUCT: &str = "pain.001-sepa-credit-transfers";

type AppState = Arc<Shared>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/consents", post(create_consent))
        .route(
            "/v1/consents/{consent}",
            get(get_consent).delete(delete_consent),
        )
        .route("/v1/consents/{consent}/status", get(consent_status))
        .route(
            "/v1/consents/{consent}/authorisations",
            post(start_consent_authorisation).get(list_consent_authorisations),
        )
        .route(
            "/v1/consents/{consent}/authorisations/{authorisation}",
            get(consent_sca_status).put(update_consent_authorisation),
        )
        .route("/v1/accounts", get(accounts))
        .route("/v1/accounts/{account}", get(account))
        .route("/v1/accounts/{account}/balances", get(balances))
        .route("/v1/accounts/{account}/transactions", get(transactions))
        .route("/v1/funds-confirmations", post(funds_confirmation))
        .route("/v1/{service}/{product}", post(initiate))
        .route(
            "/v1/{service}/{product}/{payment}",
            get(payment).delete(cancel),
        )
        .route(
            "/v1/{service}/{product}/{payment}/status",
            get(payment_status),
        )
        .route(
            "/v1/{service}/{product}/{payment}/authorisations",
            post(start_payment_authorisation).get(list_payment_authorisations),
        )
        .route(
            "/v1/{service}/{product}/{payment}/authorisations/{authorisation}",
            get(payment_sca_status).put(update_payment_authorisation),
        )
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "RESOURCE_UNKNOWN",
                "no such endpoint",
            )
        })
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            request_id_and_faults,
        ))
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------------
// Errors

/// A Berlin Group error answer: a status and one `tppMessages` entry.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    text: String,
    path: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, text: impl Into<String>) -> Self {
        Self {
            status,
            code,
            text: text.into(),
            path: None,
        }
    }

    fn format(path: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "FORMAT_ERROR",
            text: text.into(),
            path: Some(path.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut message = json!({"category": "ERROR", "code": self.code, "text": self.text});
        if let Some(path) = self.path {
            message["path"] = Value::String(path);
        }
        (self.status, Json(json!({ "tppMessages": [message] }))).into_response()
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        let text = error.to_string();
        match error {
            LedgerError::NotFound {
                what: "consent", ..
            } => ApiError::new(StatusCode::FORBIDDEN, "CONSENT_UNKNOWN", text),
            LedgerError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_UNKNOWN", text)
            }
            LedgerError::Invalid(invalid) => ApiError::format(invalid.field, invalid.reason),
            LedgerError::CredentialsInvalid | LedgerError::ScaInvalid { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "PSU_CREDENTIALS_INVALID", text)
            }
            LedgerError::ScaClosed { .. } | LedgerError::WrongStatus { .. } => {
                ApiError::new(StatusCode::CONFLICT, "STATUS_INVALID", text)
            }
            LedgerError::InsufficientFunds { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "PAYMENT_FAILED", text)
            }
            LedgerError::NotCancellable { .. } => {
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "CANCELLATION_INVALID", text)
            }
            LedgerError::ConsentInvalid { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "CONSENT_INVALID", text)
            }
            LedgerError::ConsentExpired { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "CONSENT_EXPIRED", text)
            }
            LedgerError::AccessExceeded { .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "ACCESS_EXCEEDED", text)
            }
        }
    }
}

impl From<InvalidValue> for ApiError {
    fn from(invalid: InvalidValue) -> Self {
        ApiError::format(invalid.field, invalid.reason)
    }
}

type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------------
// Middleware: X-Request-ID and faults

async fn request_id_and_faults(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let setting = *shared.api_fault.borrow();
    match setting.fault {
        ApiFault::Down => return service_unavailable(),
        ApiFault::Hang => {
            // Never answer; give the task back once the fault is lifted.
            let mut faults = shared.api_fault.subscribe();
            let _ = faults.changed().await;
            return service_unavailable();
        }
        ApiFault::Slow { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
        ApiFault::Flap { period_ms } => {
            let phase = setting.since.elapsed().as_millis() / u128::from(period_ms.max(1));
            if phase % 2 == 1 {
                return service_unavailable();
            }
        }
        ApiFault::Garbage => {
            return Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"accounts\": [{\"iban\": \"BE68 5390"))
                .expect("a static response");
        }
        ApiFault::Up | ApiFault::Refuse | ApiFault::ProcessedButNoAnswer => {}
    }
    let request_id = match request
        .headers()
        .get("X-Request-ID")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if uuid::Uuid::parse_str(id).is_ok() => id.to_owned(),
        Some(_) => return ApiError::format("X-Request-ID", "must be a UUID").into_response(),
        None => return ApiError::format("X-Request-ID", "header missing").into_response(),
    };
    let drop_connection = request.extensions().get::<DropConnection>().cloned();
    let mut response = next.run(request).await;
    if setting.fault == ApiFault::ProcessedButNoAnswer {
        // The request was executed; the answer is lost with the connection.
        if let Some(DropConnection(notify)) = drop_connection {
            notify.notify_one();
        }
        std::future::pending::<()>().await;
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("X-Request-ID", value);
    }
    response
}

fn service_unavailable() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
        "the service is temporarily unavailable",
    )
    .into_response()
}

// ---------------------------------------------------------------------------------------------------
// Request helpers

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn psu_id(headers: &HeaderMap) -> ApiResult<String> {
    header(headers, "PSU-ID")
        .map(str::to_owned)
        .ok_or_else(|| ApiError::format("PSU-ID", "header missing"))
}

fn consent_id(headers: &HeaderMap) -> ApiResult<ConsentId> {
    header(headers, "Consent-ID")
        .map(ConsentId::new)
        .ok_or_else(|| ApiError::format("Consent-ID", "header missing"))
}

/// The customer is present when the TPP forwards their IP address (`PSU-IP-Address`).
fn psu_present(headers: &HeaderMap) -> bool {
    header(headers, "PSU-IP-Address").is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok())
}

fn json<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::format("body", format!("invalid JSON: {e}")))
}

fn at<T>(path: &str, result: Result<T, InvalidValue>) -> ApiResult<T> {
    result.map_err(|e| ApiError::format(path, e.reason))
}

fn date_at(path: &str, text: &str) -> ApiResult<Date> {
    at(path, parse_iso_date(text))
}

fn link(href: String) -> Value {
    json!({ "href": href })
}

fn amount_json(amount: &Amount) -> Value {
    json!({"currency": amount.currency().code(), "amount": amount.to_api_string()})
}

// ---------------------------------------------------------------------------------------------------
// Wire shapes of requests

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountReferenceIn {
    iban: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmountIn {
    currency: String,
    amount: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentIn {
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

fn iban_at(path: &str, reference: &AccountReferenceIn) -> ApiResult<Iban> {
    let text = reference
        .iban
        .as_deref()
        .ok_or_else(|| ApiError::format(path, "an IBAN is required"))?;
    at(path, Iban::parse(text))
}

fn amount_in(path: &str, amount: &AmountIn) -> ApiResult<Amount> {
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
    fn to_request(&self, product: PaymentProduct) -> ApiResult<PaymentRequest> {
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

    fn to_standing_order(&self, product: PaymentProduct) -> ApiResult<StandingOrderRequest> {
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
struct AccessIn {
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
struct ConsentIn {
    access: AccessIn,
    recurring_indicator: bool,
    valid_until: String,
    frequency_per_day: u32,
}

async fn create_consent(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let customer = psu_id(&headers)?;
    let input: ConsentIn = json(&body)?;
    let list = |name: &str, refs: &[AccountReferenceIn]| -> ApiResult<Vec<Iban>> {
        refs.iter()
            .enumerate()
            .map(|(i, r)| iban_at(&format!("access.{name}[{i}].iban"), r))
            .collect()
    };
    let access = match input.access.all_psd2.as_deref() {
        Some("allAccounts") => ConsentAccess::full(
            shared
                .ledger
                .accounts(&customer)
                .into_iter()
                .map(|a| a.iban)
                .collect(),
        ),
        Some(other) => {
            return Err(ApiError::format(
                "access.allPsd2",
                format!("{other:?} is not supported; use allAccounts"),
            ));
        }
        None => ConsentAccess {
            accounts: list("accounts", &input.access.accounts)?,
            balances: list("balances", &input.access.balances)?,
            transactions: list("transactions", &input.access.transactions)?,
        },
    };
    let request = ConsentRequest {
        access,
        recurring: input.recurring_indicator,
        valid_until: date_at("validUntil", &input.valid_until)?,
        frequency_per_day: input.frequency_per_day,
    };
    let id = shared.ledger.create_consent(&customer, request)?;
    let base = format!("/v1/consents/{id}");
    let body = json!({
        "consentStatus": "received",
        "consentId": id.as_str(),
        "_links": {
            "self": link(base.clone()),
            "status": link(format!("{base}/status")),
            "startAuthorisationWithPsuAuthentication": link(format!("{base}/authorisations")),
        }
    });
    Ok(created(&base, body))
}

fn created(location: &str, body: Value) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert("ASPSP-SCA-Approach", HeaderValue::from_static("EMBEDDED"));
    response
}

async fn get_consent(
    State(shared): State<AppState>,
    Path(consent): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, consent) = shared.ledger.consent(&ConsentId::new(consent))?;
    let refs = |ibans: &[Iban]| {
        ibans
            .iter()
            .map(|i| json!({"iban": i.as_str()}))
            .collect::<Vec<_>>()
    };
    let access = &consent.request.access;
    Ok(Json(json!({
        "access": {
            "accounts": refs(&access.accounts),
            "balances": refs(&access.balances),
            "transactions": refs(&access.transactions),
        },
        "recurringIndicator": consent.request.recurring,
        "validUntil": format_iso_date(consent.request.valid_until),
        "frequencyPerDay": consent.request.frequency_per_day,
        "lastActionDate": format_iso_date(shared.ledger.today()),
        "consentStatus": consent.status.code(),
        "_links": { "status": link(format!("/v1/consents/{}/status", consent.id)) },
    })))
}

async fn delete_consent(
    State(shared): State<AppState>,
    Path(consent): Path<String>,
) -> ApiResult<StatusCode> {
    shared.ledger.terminate_consent(&ConsentId::new(consent))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn consent_status(
    State(shared): State<AppState>,
    Path(consent): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, consent) = shared.ledger.consent(&ConsentId::new(consent))?;
    Ok(Json(json!({ "consentStatus": consent.status.code() })))
}

// ---------------------------------------------------------------------------------------------------
// Authorisations (embedded SCA), for consents and payments alike

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

async fn start_authorisation(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    base: String,
) -> ApiResult<Response> {
    let customer = psu_id(headers)?;
    let input: StartAuthorisationIn = if body.is_empty() {
        StartAuthorisationIn { psu_data: None }
    } else {
        json(body)?
    };
    let password = input.psu_data.and_then(|d| d.password).ok_or_else(|| {
        ApiError::format(
            "psuData.password",
            "the embedded approach needs the PSU's password",
        )
    })?;
    let challenge = shared
        .ledger
        .start_authorisation(&customer, target, &password)?;
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
    Ok(created(&href, body))
}

async fn update_authorisation(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    authorisation: String,
    base: String,
) -> ApiResult<Json<Value>> {
    let customer = match header(headers, "PSU-ID") {
        Some(id) => id.to_owned(),
        None => owner(shared, &target)?,
    };
    let input: UpdateAuthorisationIn = json(body)?;
    let answer = input
        .sca_authentication_data
        .ok_or_else(|| ApiError::format("scaAuthenticationData", "is required"))?;
    let id = AuthorisationId::new(authorisation);
    let status = shared.ledger.authorise(&customer, &target, &id, &answer)?;
    Ok(Json(json!({
        "scaStatus": status.code(),
        "_links": { "scaStatus": link(format!("{base}/authorisations/{id}")) },
    })))
}

fn owner(shared: &Shared, target: &ScaTarget) -> ApiResult<String> {
    match target {
        ScaTarget::Consent(id) => Ok(shared.ledger.consent(id)?.0),
        ScaTarget::Payment(p) => shared.ledger.owner_of_payment(&p.id).ok_or_else(|| {
            LedgerError::NotFound {
                what: "payment",
                id: p.id.to_string(),
            }
            .into()
        }),
    }
}

fn sca_status(
    shared: &Shared,
    target: &ScaTarget,
    authorisation: String,
) -> ApiResult<Json<Value>> {
    let status = shared
        .ledger
        .authorisation_status(target, &AuthorisationId::new(authorisation))?;
    Ok(Json(json!({ "scaStatus": status.code() })))
}

fn authorisation_list(shared: &Shared, target: &ScaTarget) -> ApiResult<Json<Value>> {
    owner(shared, target)?;
    let ids: Vec<String> = shared
        .ledger
        .authorisations(target)
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    Ok(Json(json!({ "authorisationIds": ids })))
}

async fn start_consent_authorisation(
    State(shared): State<AppState>,
    Path(consent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let base = format!("/v1/consents/{consent}");
    start_authorisation(
        &shared,
        &headers,
        &body,
        ScaTarget::Consent(ConsentId::new(consent)),
        base,
    )
    .await
}

async fn list_consent_authorisations(
    State(shared): State<AppState>,
    Path(consent): Path<String>,
) -> ApiResult<Json<Value>> {
    authorisation_list(&shared, &ScaTarget::Consent(ConsentId::new(consent)))
}

async fn consent_sca_status(
    State(shared): State<AppState>,
    Path((consent, authorisation)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    sca_status(
        &shared,
        &ScaTarget::Consent(ConsentId::new(consent)),
        authorisation,
    )
}

async fn update_consent_authorisation(
    State(shared): State<AppState>,
    Path((consent, authorisation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let base = format!("/v1/consents/{consent}");
    update_authorisation(
        &shared,
        &headers,
        &body,
        ScaTarget::Consent(ConsentId::new(consent)),
        authorisation,
        base,
    )
    .await
}

// ---------------------------------------------------------------------------------------------------
// Accounts

fn account_json(a: &crate::model::Account) -> Value {
    let base = format!("/v1/accounts/{}", a.id);
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

async fn accounts(State(shared): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let consent = consent_id(&headers)?;
    let accounts = shared.ledger.consent_accounts(&consent)?;
    Ok(Json(
        json!({ "accounts": accounts.iter().map(account_json).collect::<Vec<_>>() }),
    ))
}

async fn account(
    State(shared): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let consent = consent_id(&headers)?;
    let id = AccountId::new(account);
    let customer = shared
        .ledger
        .use_consent(&consent, ConsentUse::Accounts, Some(&id), true)?;
    let account = shared.ledger.account(&customer, &id)?;
    Ok(Json(json!({ "account": account_json(&account) })))
}

fn balance_json(b: &Balance) -> Value {
    let mut v = json!({ "balanceAmount": amount_json(&b.amount), "balanceType": b.kind.code() });
    if let Some(day) = b.reference_date {
        v["referenceDate"] = Value::String(format_iso_date(day));
    }
    v
}

async fn balances(
    State(shared): State<AppState>,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let consent = consent_id(&headers)?;
    let id = AccountId::new(account);
    // Sandbox convention: `referenceDate` asks for the closing booked balance of an earlier day.
    let at = query
        .get("referenceDate")
        .map(|d| date_at("referenceDate", d))
        .transpose()?;
    let customer = shared.ledger.use_consent(
        &consent,
        ConsentUse::Balances,
        Some(&id),
        psu_present(&headers),
    )?;
    let account = shared.ledger.account(&customer, &id)?;
    let balances = shared.ledger.balances(&customer, &id, at)?;
    Ok(Json(json!({
        "account": { "iban": account.iban.as_str(), "currency": account.currency.code() },
        "balances": balances.iter().map(balance_json).collect::<Vec<_>>(),
    })))
}

fn transaction_json(t: &Transaction) -> Value {
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

async fn transactions(
    State(shared): State<AppState>,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let consent = consent_id(&headers)?;
    let id = AccountId::new(account);
    let booking_status = query
        .get("bookingStatus")
        .map(String::as_str)
        .ok_or_else(|| ApiError::format("bookingStatus", "is required"))?;
    let status = match booking_status {
        "booked" => Some(BookingStatus::Booked),
        "pending" => Some(BookingStatus::Pending),
        "both" => None,
        "information" => return standing_orders_information(&shared, &consent, &id, &headers),
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
    let page: usize = match query.get("pageIndex") {
        None => 0,
        Some(p) => p
            .parse()
            .map_err(|_| ApiError::format("pageIndex", format!("{p:?} is not a page number")))?,
    };
    // Reading further pages of one listing is one access, not several.
    let present = psu_present(&headers) || page > 0;
    let customer =
        shared
            .ledger
            .use_consent(&consent, ConsentUse::Transactions, Some(&id), present)?;
    let account = shared.ledger.account(&customer, &id)?;
    let all = shared.ledger.transactions(&customer, &id, &filter)?;
    let pages = all.len().div_ceil(TRANSACTIONS_PAGE_SIZE).max(1);
    if page >= pages {
        return Err(ApiError::format(
            "pageIndex",
            format!("there are {pages} pages"),
        ));
    }
    let slice =
        &all[page * TRANSACTIONS_PAGE_SIZE..((page + 1) * TRANSACTIONS_PAGE_SIZE).min(all.len())];
    let (pending, booked): (Vec<&Transaction>, Vec<&Transaction>) = slice
        .iter()
        .partition(|t| t.status == BookingStatus::Pending);
    let mut query_base = format!(
        "/v1/accounts/{id}/transactions?bookingStatus={booking_status}&dateFrom={date_from}"
    );
    if let Some(to) = query.get("dateTo") {
        query_base.push_str(&format!("&dateTo={to}"));
    }
    let mut links = json!({
        "account": link(format!("/v1/accounts/{id}")),
        "first": link(format!("{query_base}&pageIndex=0")),
        "last": link(format!("{query_base}&pageIndex={}", pages - 1)),
    });
    if page + 1 < pages {
        links["next"] = link(format!("{query_base}&pageIndex={}", page + 1));
    }
    if page > 0 {
        links["previous"] = link(format!("{query_base}&pageIndex={}", page - 1));
    }
    Ok(Json(json!({
        "account": { "iban": account.iban.as_str(), "currency": account.currency.code() },
        "transactions": {
            "booked": booked.iter().map(|t| transaction_json(t)).collect::<Vec<_>>(),
            "pending": pending.iter().map(|t| transaction_json(t)).collect::<Vec<_>>(),
            "_links": links,
        },
    })))
}

/// `bookingStatus=information`: one entry per active standing order of the account.
fn standing_orders_information(
    shared: &Shared,
    consent: &ConsentId,
    id: &AccountId,
    headers: &HeaderMap,
) -> ApiResult<Json<Value>> {
    let customer = shared.ledger.use_consent(
        consent,
        ConsentUse::Transactions,
        Some(id),
        psu_present(headers),
    )?;
    let account = shared.ledger.account(&customer, id)?;
    let orders: Vec<Value> = shared
        .ledger
        .standing_orders(&customer)
        .into_iter()
        .filter(|o| {
            o.request.payment.debtor == account.iban
                && o.status == crate::model::PaymentStatus::AcceptedTechnical
        })
        .map(|o| {
            let r = &o.request;
            let mut details = json!({
                "startDate": format_iso_date(r.start_date),
                "frequency": r.frequency.code(),
                "executionRule": r.execution_rule.code(),
            });
            if let Some(end) = r.end_date {
                details["endDate"] = Value::String(format_iso_date(end));
            }
            if let Some(day) = r.day_of_execution {
                details["dayOfExecution"] = Value::String(day.to_string());
            }
            json!({
                "transactionId": o.id.as_str(),
                "endToEndId": r.payment.end_to_end_id.as_str(),
                "transactionAmount": amount_json(&r.payment.amount.negated()),
                "creditorName": r.payment.creditor_name,
                "creditorAccount": { "iban": r.payment.creditor.as_str() },
                "remittanceInformationUnstructured": r.payment.remittance,
                "bankTransactionCode": "PMNT-ICDT-STDO",
                "additionalInformationStructured": { "standingOrderDetails": details },
            })
        })
        .collect();
    Ok(Json(json!({
        "account": { "iban": account.iban.as_str(), "currency": account.currency.code() },
        "transactions": { "information": orders, "_links": { "account": link(format!("/v1/accounts/{id}")) } },
    })))
}

// ---------------------------------------------------------------------------------------------------
// Funds confirmation

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FundsIn {
    account: AccountReferenceIn,
    instructed_amount: AmountIn,
}

async fn funds_confirmation(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let input: FundsIn = json(&body)?;
    let iban = iban_at("account.iban", &input.account)?;
    let amount = amount_in("instructedAmount", &input.instructed_amount)?;
    let customer = shared.ledger.owner_of_account(&iban).ok_or_else(|| {
        ApiError::from(LedgerError::NotFound {
            what: "account",
            id: iban.masked(),
        })
    })?;
    if let Some(consent) = header(&headers, "Consent-ID") {
        let (owner, _) = shared.ledger.consent(&ConsentId::new(consent))?;
        if owner != customer {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "CONSENT_INVALID",
                "the consent does not cover this account",
            ));
        }
    }
    let available = shared.ledger.funds_available(&customer, &iban, &amount)?;
    Ok(Json(json!({ "fundsAvailable": available })))
}

// ---------------------------------------------------------------------------------------------------
// Payments, periodic payments, bulk payments (pain.001)

/// The payment resource a path names, checked against what the bank holds.
fn resource(service: &str, product: &str) -> ApiResult<PaymentKind> {
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

fn payment_ref(service: &str, product: &str, payment: String) -> ApiResult<PaymentRef> {
    Ok(PaymentRef {
        kind: resource(service, product)?,
        id: PaymentId::new(payment),
    })
}

/// The record of a payment in a path, checked to be of the kind the path says.
fn record(shared: &Shared, payment: &PaymentRef) -> ApiResult<(String, PaymentRecord)> {
    let unknown = || {
        ApiError::from(LedgerError::NotFound {
            what: "payment",
            id: payment.id.to_string(),
        })
    };
    let customer = shared
        .ledger
        .owner_of_payment(&payment.id)
        .ok_or_else(unknown)?;
    let record = shared.ledger.payment(&customer, &payment.id)?;
    if record.payment.kind != payment.kind {
        return Err(unknown());
    }
    Ok((customer, record))
}

async fn initiate(
    State(shared): State<AppState>,
    Path((service, product)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let kind = resource(&service, &product)?;
    let customer = psu_id(&headers)?;
    let request_id = header(&headers, "X-Request-ID");
    let initiation = match kind {
        PaymentKind::Single(product) => {
            let input: PaymentIn = json(&body)?;
            shared
                .ledger
                .initiate_payment(&customer, input.to_request(product)?, request_id)?
        }
        PaymentKind::Periodic(product) => {
            let input: PaymentIn = json(&body)?;
            shared.ledger.create_standing_order(
                &customer,
                input.to_standing_order(product)?,
                request_id,
            )?
        }
        PaymentKind::File => {
            let content_type = header(&headers, "Content-Type").unwrap_or_default();
            if !content_type.contains("xml") {
                return Err(ApiError::format(
                    "Content-Type",
                    "a pain.001 file is sent as application/xml",
                ));
            }
            let text = std::str::from_utf8(&body)
                .map_err(|_| ApiError::format("body", "the file is not UTF-8"))?;
            let file =
                PaymentFile::parse(text).map_err(|e| ApiError::format("body", e.to_string()))?;
            shared.ledger.upload_file(&customer, file, request_id)?
        }
    };
    let base = format!("/v1/{service}/{product}/{}", initiation.payment.id);
    let body = json!({
        "transactionStatus": initiation.status.code(),
        "paymentId": initiation.payment.id.as_str(),
        "_links": {
            "self": link(base.clone()),
            "status": link(format!("{base}/status")),
            "startAuthorisationWithPsuAuthentication": link(format!("{base}/authorisations")),
        },
    });
    Ok(created(&base, body))
}

fn payment_json(record: &PaymentRecord) -> Value {
    let single = |p: &PaymentRequest| {
        let mut v = json!({
            "endToEndIdentification": p.end_to_end_id.as_str(),
            "debtorAccount": { "iban": p.debtor.as_str() },
            "instructedAmount": amount_json(&p.amount),
            "creditorAccount": { "iban": p.creditor.as_str() },
            "creditorName": p.creditor_name,
        });
        if let Some(text) = &p.remittance {
            v["remittanceInformationUnstructured"] = Value::String(text.clone());
        }
        if let Some(day) = p.requested_execution_date {
            v["requestedExecutionDate"] = Value::String(format_iso_date(day));
        }
        v
    };
    let mut v = match &record.detail {
        PaymentDetail::Single(p) => single(p),
        PaymentDetail::Periodic(s) => {
            let mut v = single(&s.payment);
            v["startDate"] = Value::String(format_iso_date(s.start_date));
            if let Some(end) = s.end_date {
                v["endDate"] = Value::String(format_iso_date(end));
            }
            v["frequency"] = Value::String(s.frequency.code().to_owned());
            v["executionRule"] = Value::String(s.execution_rule.code().to_owned());
            if let Some(day) = s.day_of_execution {
                v["dayOfExecution"] = Value::String(day.to_string());
            }
            v
        }
        PaymentDetail::File {
            message_id,
            payments,
        } => json!({
            "messageId": message_id,
            "numberOfTransactions": payments.len(),
            "payments": payments.iter().map(|(p, status)| json!({
                "endToEndIdentification": p.end_to_end_id,
                "debtorAccount": { "iban": p.debtor.as_str() },
                "instructedAmount": amount_json(&p.amount),
                "creditorAccount": { "iban": p.creditor.as_str() },
                "creditorName": p.creditor_name,
                "requestedExecutionDate": format_iso_date(p.requested_execution_date),
                "transactionStatus": status.code(),
            })).collect::<Vec<_>>(),
        }),
    };
    v["transactionStatus"] = Value::String(record.status.code().to_owned());
    v
}

async fn payment(
    State(shared): State<AppState>,
    Path((service, product, payment)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    let (_, record) = record(&shared, &payment)?;
    Ok(Json(payment_json(&record)))
}

async fn payment_status(
    State(shared): State<AppState>,
    Path((service, product, payment)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    let (_, record) = record(&shared, &payment)?;
    Ok(Json(json!({ "transactionStatus": record.status.code() })))
}

async fn cancel(
    State(shared): State<AppState>,
    Path((service, product, payment)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let payment = payment_ref(&service, &product, payment)?;
    let (customer, _) = record(&shared, &payment)?;
    shared.ledger.cancel(&customer, &payment.id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn start_payment_authorisation(
    State(shared): State<AppState>,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let payment = payment_ref(&service, &product, payment)?;
    record(&shared, &payment)?;
    let base = format!("/v1/{service}/{product}/{}", payment.id);
    start_authorisation(&shared, &headers, &body, ScaTarget::Payment(payment), base).await
}

async fn list_payment_authorisations(
    State(shared): State<AppState>,
    Path((service, product, payment)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    record(&shared, &payment)?;
    authorisation_list(&shared, &ScaTarget::Payment(payment))
}

async fn payment_sca_status(
    State(shared): State<AppState>,
    Path((service, product, payment, authorisation)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    sca_status(&shared, &ScaTarget::Payment(payment), authorisation)
}

async fn update_payment_authorisation(
    State(shared): State<AppState>,
    Path((service, product, payment, authorisation)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    record(&shared, &payment)?;
    let base = format!("/v1/{service}/{product}/{}", payment.id);
    update_authorisation(
        &shared,
        &headers,
        &body,
        ScaTarget::Payment(payment),
        authorisation,
        base,
    )
    .await
}
