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
use serde_json::{Value, json};

use super::faults::ApiFault;
use super::ledger::{ConsentUse, LedgerError, PaymentDetail, PaymentRecord};
use super::server::{DropConnection, Shared};
use psd2_fallback_engine::model::belgian::format_iso_date;
use psd2_fallback_engine::model::{
    AccountId, AuthorisationId, BookingStatus, ConsentId, Iban, PaymentId, PaymentKind, PaymentRef,
    PaymentRequest, ScaTarget,
};
use psd2_fallback_xs2a::{
    ApiError, ApiResult, BookingQuery, ConsentIn, PaymentIn, account_json, amount_json,
    authorisation_answer, authorisation_password, authorisation_started, balance_json,
    consent_created, consent_id, funds_request, header, initiation_created, json, link, page_index,
    payment_file, psu_id, psu_present, reference_date, resource, transaction_query,
    transactions_page,
};

/// How many transactions one page holds.
pub const TRANSACTIONS_PAGE_SIZE: usize = 100;

/// The bulk product for pain.001 payment files.
pub const PAIN001_PRODUCT: &str = psd2_fallback_xs2a::PAIN001_PRODUCT;

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
// Errors: the ledger's refusals as Berlin Group answers

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
    let request_id = match psd2_fallback_xs2a::request_id(request.headers()) {
        Ok(id) => id.to_owned(),
        Err(error) => return error.into_response(),
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
// Consents

async fn create_consent(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let customer = psu_id(&headers)?;
    let input: ConsentIn = json(&body)?;
    let request = input.to_request(|| {
        Some(
            shared
                .ledger
                .accounts(&customer)
                .into_iter()
                .map(|a| a.iban)
                .collect(),
        )
    })?;
    let id = shared.ledger.create_consent(&customer, request)?;
    Ok(consent_created(&id, ""))
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

async fn start_authorisation(
    shared: &Shared,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    base: String,
) -> ApiResult<Response> {
    let customer = psu_id(headers)?;
    let password = authorisation_password(body)?;
    let challenge = shared
        .ledger
        .start_authorisation(&customer, target, &password)?;
    Ok(authorisation_started(&challenge, &base))
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
    let answer = authorisation_answer(body)?;
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

async fn accounts(State(shared): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let consent = consent_id(&headers)?;
    let accounts = shared.ledger.consent_accounts(&consent)?;
    Ok(Json(
        json!({ "accounts": accounts.iter().map(|a| account_json(a, "")).collect::<Vec<_>>() }),
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
    Ok(Json(json!({ "account": account_json(&account, "") })))
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
    let at = reference_date(&query)?;
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

async fn transactions(
    State(shared): State<AppState>,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let consent = consent_id(&headers)?;
    let id = AccountId::new(account);
    let (filter, booking_status) = match transaction_query(&query)? {
        (BookingQuery::Information, _) => {
            return standing_orders_information(&shared, &consent, &id, &headers);
        }
        (BookingQuery::Transactions(status), filter) => (filter, status),
    };
    let booking_status = match booking_status {
        Some(BookingStatus::Booked) => "booked",
        Some(BookingStatus::Pending) => "pending",
        None => "both",
    };
    let date_from = &query["dateFrom"];
    let page = page_index(&query)?;
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
        "transactions": transactions_page(slice, links),
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
                && o.status == psd2_fallback_engine::model::PaymentStatus::AcceptedTechnical
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

async fn funds_confirmation(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (iban, amount) = funds_request(&body)?;
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
            let file = payment_file(&headers, &body, usize::MAX)?;
            shared.ledger.upload_file(&customer, file, request_id)?
        }
    };
    let base = format!("/v1/{service}/{product}/{}", initiation.payment.id);
    Ok(initiation_created(&initiation, &base))
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
        } => {
            let mut v = json!({
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
            });
            // Berlin Group's bulk details have one `debtorAccount`: the file's, when it has one.
            if let Some((first, _)) = payments.first()
                && payments.iter().all(|(p, _)| p.debtor == first.debtor)
            {
                v["debtorAccount"] = json!({ "iban": first.debtor.as_str() });
            }
            v
        }
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
