//! The XS2A routes: each Berlin Group request parsed by `xs2a`, checked against its caller's records,
//! served through the bank's `Failover`, and answered in Berlin Group JSON.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use governor::clock::{Clock, DefaultClock};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{BankPrefix, Owned, Pages, ServedBank, ServiceError, ServiceState, TokenHash, lock};
use psd2_fallback_engine::bank::{Bank, BankError, PsuContext};
use psd2_fallback_engine::journal::{JournalError, ResourceOwner};
use psd2_fallback_engine::model::belgian::format_iso_date;
use psd2_fallback_engine::model::{
    AccountId, AuthorisationId, ConsentId, Iban, PaymentId, PaymentKind, PaymentRef, PsuId,
    ScaAnswer, ScaTarget,
};
use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::{
    ApiError, BookingQuery, ConsentIn, PaymentIn, account_json, authorisation_answer,
    authorisation_password, authorisation_started, balance_json, consent_created,
    initiation_created, link, transactions_page,
};

type Result<T> = std::result::Result<T, ServiceError>;

pub(super) fn router(state: ServiceState) -> Router<ServiceState> {
    Router::new()
        .route("/v1/consents", post(create_consent))
        .route("/v1/consents/{consent}", get(consent_details))
        .route("/v1/consents/{consent}/status", get(consent_status))
        .route(
            "/v1/consents/{consent}/authorisations",
            post(start_consent_authorisation),
        )
        .route(
            "/v1/consents/{consent}/authorisations/{authorisation}",
            put(update_consent_authorisation),
        )
        .route("/v1/accounts", get(accounts))
        .route("/v1/accounts/{account}/balances", get(balances))
        .route("/v1/accounts/{account}/transactions", get(transactions))
        .route("/v1/funds-confirmations", post(funds_confirmation))
        .route("/v1/{service}/{product}", post(initiate))
        .route("/v1/{service}/{product}/{payment}", delete(cancel))
        .route(
            "/v1/{service}/{product}/{payment}/status",
            get(payment_status),
        )
        .route(
            "/v1/{service}/{product}/{payment}/authorisations",
            post(start_payment_authorisation),
        )
        .route(
            "/v1/{service}/{product}/{payment}/authorisations/{authorisation}",
            put(update_payment_authorisation),
        )
        .route_layer(middleware::from_fn_with_state(state, authenticate))
}

/// The caller a request was authenticated as.
#[derive(Debug, Clone)]
struct CallerName(String);

/// Every XS2A request: an `X-Request-ID`, a known caller's bearer token, within the caller's rate.
async fn authenticate(
    State(state): State<ServiceState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = match xs2a::request_id(request.headers()) {
        Ok(id) => id.to_owned(),
        Err(error) => return error.into_response(),
    };
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(caller) = token.and_then(|t| state.inner.callers.get(&TokenHash::of(t))) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "TOKEN_INVALID",
            "a known bearer token is required (Authorization: Bearer …)",
        )
        .into_response();
    };
    if let Err(not_until) = state.inner.limiter.check_key(caller) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ACCESS_EXCEEDED",
            format!("the rate limit of caller {caller} is reached"),
        )
        .with_retry_after(wait.as_secs_f64().ceil().max(1.0) as u64)
        .into_response();
    }
    request.extensions_mut().insert(CallerName(caller.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("X-Request-ID", value);
    }
    response
}

/// Who asks, at which bank, and the path prefix of that bank for links.
struct Ctx {
    state: ServiceState,
    caller: String,
    bank_index: usize,
    prefix: String,
}

impl FromRequestParts<ServiceState> for Ctx {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServiceState,
    ) -> std::result::Result<Self, Self::Rejection> {
        let caller = parts
            .extensions
            .get::<CallerName>()
            .map(|c| c.0.clone())
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "TOKEN_INVALID", "no caller"))?;
        let (bank_index, prefix) = match parts.extensions.get::<BankPrefix>() {
            Some(BankPrefix(name)) => (
                state
                    .inner
                    .banks
                    .iter()
                    .position(|b| &b.name == name)
                    .ok_or_else(|| ApiError::unknown(format!("no bank {name:?} is served")))?,
                format!("/banks/{name}"),
            ),
            None if state.inner.banks.is_empty() => {
                return Err(ApiError::unknown("no bank is served").into());
            }
            None => (0, String::new()),
        };
        Ok(Self {
            state: state.clone(),
            caller,
            bank_index,
            prefix,
        })
    }
}

impl Ctx {
    fn bank(&self) -> &ServedBank {
        &self.state.inner.banks[self.bank_index]
    }

    fn failover(&self) -> &dyn Bank {
        &self.bank().failover
    }

    fn key(&self, id: &str) -> (String, String) {
        (self.bank().name.clone(), id.to_owned())
    }

    /// The customer context: the PSU, present when `PSU-IP-Address` is given, the password given at an
    /// earlier authorisation (for the website channel).
    fn psu(&self, psu: &str, headers: &HeaderMap) -> PsuContext {
        let mut context = PsuContext::new(PsuId::new(psu));
        context.ip_address = xs2a::psu_ip(headers);
        context.password = lock(&self.state.inner.passwords)
            .get(&self.key(psu))
            .cloned();
        context
    }

    fn remember_password(&self, psu: &str, password: String) -> SecretString {
        let secret = SecretString::from(password);
        lock(&self.state.inner.passwords).insert(self.key(psu), secret.clone());
        secret
    }

    /// A consent of this caller; another caller's consent does not exist for it.
    fn consent(&self, id: &str) -> Result<Owned> {
        self.state
            .inner
            .journal
            .consent_owner(&self.bank().name, id)
            .map_err(journal_error)?
            .filter(|o| o.caller == self.caller)
            .map(|o| Owned { psu: o.psu })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "CONSENT_UNKNOWN",
                    "no such consent for this caller",
                )
                .into()
            })
    }

    /// The customer context of a read under the `Consent-ID` header's consent.
    fn consent_psu(&self, headers: &HeaderMap) -> Result<PsuContext> {
        let consent = xs2a::consent_id(headers)?;
        let owned = self.consent(consent.as_str())?;
        Ok(self.psu(&owned.psu, headers).with_consent(consent))
    }

    /// A payment resource of this caller, of the kind the path says.
    fn payment(&self, service: &str, product: &str, id: &str) -> Result<(PaymentRef, Owned)> {
        let kind = xs2a::resource(service, product)?;
        let owned = self
            .state
            .inner
            .journal
            .payment_owner(&self.bank().name, id)
            .map_err(journal_error)?
            .filter(|(k, o)| o.caller == self.caller && *k == kind)
            .map(|(_, o)| Owned { psu: o.psu })
            .ok_or_else(|| ApiError::unknown(format!("no payment {id} for this caller")))?;
        Ok((
            PaymentRef {
                kind,
                id: PaymentId::new(id),
            },
            owned,
        ))
    }
}

/// A journal failure as an answer: a generic 500, the cause logged by the middleware.
fn journal_error(error: JournalError) -> ServiceError {
    ServiceError {
        error: ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "the service could not keep its records; try again later",
        ),
        cause: Some(error.to_string()),
    }
}

/// A `BankError` as an answer: the caller's mistakes and the bank's refusals are explained, channel
/// failures get a generic text (their cause is logged by the middleware).
fn bank_error(error: BankError) -> ServiceError {
    let cause = Some(error.to_string());
    let generic = |status, text: &str| ServiceError {
        error: ApiError::new(status, "SERVICE_UNAVAILABLE", text),
        cause: cause.clone(),
    };
    match error {
        BankError::Unavailable { .. } => generic(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bank cannot be reached at the moment; nothing was sent",
        ),
        BankError::OutcomeUnknown { .. } => generic(
            StatusCode::BAD_GATEWAY,
            "the bank did not confirm the outcome; ask for the resource's status before retrying",
        ),
        BankError::ScreenChanged { .. } => generic(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bank cannot be reached at the moment",
        ),
        BankError::FallbackExempt { bank, reason, .. } => ServiceError {
            error: ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                format!(
                    "the API of {bank} is unavailable and {bank} is exempt from the fallback: {reason}"
                ),
            ),
            cause,
        },
        BankError::Rejected { code, message } => {
            let status = match code.as_str() {
                "CONSENT_UNKNOWN" => StatusCode::FORBIDDEN,
                "RESOURCE_UNKNOWN" | "PRODUCT_UNKNOWN" => StatusCode::NOT_FOUND,
                "PSU_CREDENTIALS_INVALID" | "CONSENT_INVALID" | "CONSENT_EXPIRED" => {
                    StatusCode::UNAUTHORIZED
                }
                "STATUS_INVALID" => StatusCode::CONFLICT,
                "CANCELLATION_INVALID" => StatusCode::METHOD_NOT_ALLOWED,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError::new(status, code, message).into()
        }
        BankError::LimitReached { limit, retry_after } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "ACCESS_EXCEEDED", limit)
                .with_retry_after(
                    retry_after
                        .unwrap_or_else(until_midnight_utc)
                        .as_secs()
                        .max(1),
                )
                .into()
        }
        BankError::ScaRequired { challenge } => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "SCA_REQUIRED",
            "the customer must answer a challenge first",
        )
        .with_extra(json!({
            "scaStatus": "scaMethodSelected",
            "authorisationId": challenge.authorisation_id.as_str(),
            "challengeData": {
                "data": [challenge.data],
                "additionalInformation": challenge.instructions,
            },
        }))
        .into(),
        BankError::InvalidInput(invalid) => ApiError::from(invalid).into(),
        BankError::ReadBackMismatch { field, .. } => ServiceError {
            error: ApiError::new(
                StatusCode::CONFLICT,
                "PAYMENT_FAILED",
                format!(
                    "the bank's confirmation screen showed another {field}; the order was cancelled before it was confirmed, nothing was sent"
                ),
            ),
            cause,
        },
        BankError::NotSupported { operation, .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "SERVICE_INVALID",
            format!("the bank does not support {operation} at the moment"),
        )
        .into(),
        // A class of error this service does not know yet: told as a failure to reach the bank.
        _ => generic(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bank cannot be reached at the moment",
        ),
    }
}

/// Unattended reads are counted per UTC day: the next chance is at midnight.
fn until_midnight_utc() -> Duration {
    let now = OffsetDateTime::now_utc();
    let midnight = now
        .date()
        .next_day()
        .map(|d| d.midnight().assume_utc())
        .unwrap_or(now);
    Duration::from_secs((midnight - now).whole_seconds().max(1) as u64)
}

// ---------------------------------------------------------------------------------------------------
// Consents

async fn create_consent(ctx: Ctx, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let psu_id = xs2a::psu_id(&headers)?;
    let input: ConsentIn = xs2a::json(&body)?;
    // The service cannot list a customer's accounts before it has a consent: `allPsd2` is refused.
    let request = input.to_request(|| None)?;
    let psu = ctx.psu(&psu_id, &headers);
    let id = ctx
        .failover()
        .create_consent(&psu, &request)
        .await
        .map_err(bank_error)?;
    ctx.state
        .inner
        .journal
        .record_consent_owner(
            &ctx.bank().name,
            id.as_str(),
            &ResourceOwner {
                caller: ctx.caller.clone(),
                psu: psu_id,
            },
            &request,
        )
        .map_err(journal_error)?;
    Ok(consent_created(&id, &ctx.prefix))
}

/// `GET /v1/consents/{id}`: what the consent asked for (kept in the journal when it was made through
/// the service) and its status now (from the bank). `lastActionDate` is left out: the bank's own
/// record of it is not read by any channel, and the service does not guess it.
async fn consent_details(
    ctx: Ctx,
    Path(consent): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let owned = ctx.consent(&consent)?;
    let request = ctx
        .state
        .inner
        .journal
        .consent_request(&ctx.bank().name, &consent)
        .map_err(journal_error)?
        .ok_or_else(|| {
            ApiError::unknown("the details of this consent were not kept (made before they were)")
        })?;
    let status = ctx
        .failover()
        .consent_status(
            &ctx.psu(&owned.psu, &headers),
            &ConsentId::new(consent.clone()),
        )
        .await
        .map_err(bank_error)?;
    let refs = |ibans: &[Iban]| {
        ibans
            .iter()
            .map(|i| json!({ "iban": i.as_str() }))
            .collect::<Vec<_>>()
    };
    let access = &request.access;
    let base = format!("{}/v1/consents/{consent}", ctx.prefix);
    Ok(Json(json!({
        "access": {
            "accounts": refs(&access.accounts),
            "balances": refs(&access.balances),
            "transactions": refs(&access.transactions),
        },
        "recurringIndicator": request.recurring,
        "validUntil": format_iso_date(request.valid_until),
        "frequencyPerDay": request.frequency_per_day,
        "consentStatus": status.code(),
        "_links": {
            "self": link(base.clone()),
            "status": link(format!("{base}/status")),
        },
    })))
}

async fn consent_status(
    ctx: Ctx,
    Path(consent): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let owned = ctx.consent(&consent)?;
    let status = ctx
        .failover()
        .consent_status(&ctx.psu(&owned.psu, &headers), &ConsentId::new(consent))
        .await
        .map_err(bank_error)?;
    Ok(Json(json!({ "consentStatus": status.code() })))
}

async fn start_consent_authorisation(
    ctx: Ctx,
    Path(consent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let owned = ctx.consent(&consent)?;
    let base = format!("{}/v1/consents/{consent}", ctx.prefix);
    start_authorisation(
        &ctx,
        &owned,
        &headers,
        &body,
        ScaTarget::Consent(ConsentId::new(consent)),
        base,
    )
    .await
}

async fn update_consent_authorisation(
    ctx: Ctx,
    Path((consent, authorisation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let owned = ctx.consent(&consent)?;
    let base = format!("{}/v1/consents/{consent}", ctx.prefix);
    update_authorisation(
        &ctx,
        &owned,
        &headers,
        &body,
        ScaTarget::Consent(ConsentId::new(consent)),
        authorisation,
        base,
    )
    .await
}

// ---------------------------------------------------------------------------------------------------
// Authorisations (embedded SCA)

async fn start_authorisation(
    ctx: &Ctx,
    owned: &Owned,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    base: String,
) -> Result<Response> {
    let password = authorisation_password(body)?;
    let mut psu = ctx.psu(&owned.psu, headers);
    psu.password = Some(ctx.remember_password(&owned.psu, password));
    let challenge = ctx
        .failover()
        .start_authorisation(&psu, &target)
        .await
        .map_err(bank_error)?;
    Ok(authorisation_started(&challenge, &base))
}

async fn update_authorisation(
    ctx: &Ctx,
    owned: &Owned,
    headers: &HeaderMap,
    body: &Bytes,
    target: ScaTarget,
    authorisation: String,
    base: String,
) -> Result<Json<Value>> {
    let answer = ScaAnswer::new(authorisation_answer(body)?);
    let id = AuthorisationId::new(authorisation);
    let status = ctx
        .failover()
        .authorise(&ctx.psu(&owned.psu, headers), &target, &id, &answer)
        .await
        .map_err(bank_error)?;
    Ok(Json(json!({
        "scaStatus": status.code(),
        "_links": { "scaStatus": link(format!("{base}/authorisations/{id}")) },
    })))
}

// ---------------------------------------------------------------------------------------------------
// Accounts, balances, transactions

async fn accounts(ctx: Ctx, headers: HeaderMap) -> Result<Json<Value>> {
    let psu = ctx.consent_psu(&headers)?;
    let accounts = ctx.failover().accounts(&psu).await.map_err(bank_error)?;
    Ok(Json(json!({
        "accounts": accounts.iter().map(|a| account_json(a, &ctx.prefix)).collect::<Vec<_>>()
    })))
}

async fn balances(
    ctx: Ctx,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let psu = ctx.consent_psu(&headers)?;
    let at = xs2a::reference_date(&query)?;
    let balances = ctx
        .failover()
        .balances(&psu, &AccountId::new(account), at)
        .await
        .map_err(bank_error)?;
    Ok(Json(json!({
        "balances": balances.iter().map(balance_json).collect::<Vec<_>>(),
    })))
}

async fn transactions(
    ctx: Ctx,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let psu = ctx.consent_psu(&headers)?;
    let filter = match xs2a::transaction_query(&query)? {
        (BookingQuery::Information, _) => {
            return Err(ApiError::format(
                "bookingStatus",
                "information (the account's standing orders) cannot be served: no channel reads a \
                 bank's standing orders; ask for booked, pending or both",
            )
            .into());
        }
        (BookingQuery::Transactions(_), filter) => filter,
    };
    let page = xs2a::page_index(&query)?;
    let inner = &ctx.state.inner;
    let size = inner.limits.transactions_page_size.max(1);
    let now = tokio::time::Instant::now();
    let (token, all) = match query.get("pageToken") {
        Some(token) => {
            let mut pages = lock(&inner.pages);
            pages.retain(|_, p| p.expires > now);
            let found = pages
                .get(token)
                .filter(|p| {
                    p.caller == ctx.caller && p.bank == ctx.bank().name && p.account == account
                })
                .ok_or_else(|| {
                    ApiError::format(
                        "pageToken",
                        "is unknown or expired; read the first page again",
                    )
                })?;
            (token.clone(), found.transactions.clone())
        }
        None => {
            let all = ctx
                .failover()
                .transactions(&psu, &AccountId::new(account.clone()), &filter)
                .await
                .map_err(bank_error)?;
            let all = Arc::new(all);
            let token = uuid::Uuid::new_v4().simple().to_string();
            if all.len() > size {
                lock(&inner.pages).insert(
                    token.clone(),
                    Pages {
                        caller: ctx.caller.clone(),
                        bank: ctx.bank().name.clone(),
                        account: account.clone(),
                        expires: now + inner.limits.page_cache_ttl,
                        transactions: all.clone(),
                    },
                );
            }
            (token, all)
        }
    };
    let pages = all.len().div_ceil(size).max(1);
    if page >= pages {
        return Err(ApiError::format("pageIndex", format!("there are {pages} pages")).into());
    }
    let slice = &all[page * size..((page + 1) * size).min(all.len())];
    let mut base = format!(
        "{}/v1/accounts/{account}/transactions?bookingStatus={}&dateFrom={}",
        ctx.prefix, query["bookingStatus"], query["dateFrom"]
    );
    if let Some(to) = query.get("dateTo") {
        base.push_str(&format!("&dateTo={to}"));
    }
    let mut links = json!({ "account": link(format!("{}/v1/accounts/{account}", ctx.prefix)) });
    if page + 1 < pages {
        links["next"] = link(format!("{base}&pageToken={token}&pageIndex={}", page + 1));
    }
    if page > 0 {
        links["previous"] = link(format!("{base}&pageToken={token}&pageIndex={}", page - 1));
    }
    Ok(Json(
        json!({ "transactions": transactions_page(slice, links) }),
    ))
}

// ---------------------------------------------------------------------------------------------------
// Funds confirmation

async fn funds_confirmation(ctx: Ctx, headers: HeaderMap, body: Bytes) -> Result<Json<Value>> {
    let (iban, amount) = xs2a::funds_request(&body)?;
    let psu = match xs2a::header(&headers, "Consent-ID") {
        Some(_) => ctx.consent_psu(&headers)?,
        None => ctx.psu(&xs2a::psu_id(&headers)?, &headers),
    };
    let answer = ctx
        .failover()
        .confirm_funds(&psu, &iban, &amount)
        .await
        .map_err(bank_error)?;
    Ok(Json(json!({ "fundsAvailable": answer.funds_available })))
}

// ---------------------------------------------------------------------------------------------------
// Payments, periodic payments, bulk payments (pain.001)

async fn initiate(
    ctx: Ctx,
    Path((service, product)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let kind = xs2a::resource(&service, &product)?;
    let psu_id = xs2a::psu_id(&headers)?;
    let psu = ctx.psu(&psu_id, &headers);
    let bank = ctx.failover();
    let initiation = match kind {
        PaymentKind::Single(product) => {
            let input: PaymentIn = xs2a::json(&body)?;
            bank.initiate_payment(&psu, &input.to_request(product)?)
                .await
        }
        PaymentKind::Periodic(product) => {
            let input: PaymentIn = xs2a::json(&body)?;
            bank.create_standing_order(&psu, &input.to_standing_order(product)?)
                .await
        }
        PaymentKind::File => {
            let file = xs2a::payment_file(&headers, &body, ctx.state.inner.limits.max_file_bytes)?;
            bank.upload_payment_file(&psu, &file).await
        }
    }
    .map_err(bank_error)?;
    ctx.state
        .inner
        .journal
        .record_payment_owner(
            &ctx.bank().name,
            &initiation.payment,
            &ResourceOwner {
                caller: ctx.caller.clone(),
                psu: psu_id,
            },
        )
        .map_err(journal_error)?;
    let base = format!(
        "{}/v1/{service}/{product}/{}",
        ctx.prefix, initiation.payment.id
    );
    Ok(initiation_created(&initiation, &base))
}

async fn payment_status(
    ctx: Ctx,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    let status = ctx
        .failover()
        .payment_status(&ctx.psu(&owned.psu, &headers), &payment)
        .await
        .map_err(bank_error)?;
    Ok(Json(json!({ "transactionStatus": status.code() })))
}

async fn cancel(
    ctx: Ctx,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    let psu = ctx.psu(&owned.psu, &headers);
    let status = match payment.kind {
        PaymentKind::Periodic(_) => ctx.failover().cancel_standing_order(&psu, &payment).await,
        _ => ctx.failover().cancel_payment(&psu, &payment).await,
    }
    .map_err(bank_error)?;
    if status == psd2_fallback_engine::model::PaymentStatus::Cancelled {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "transactionStatus": status.code() })),
    )
        .into_response())
}

async fn start_payment_authorisation(
    ctx: Ctx,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    let base = format!("{}/v1/{service}/{product}/{}", ctx.prefix, payment.id);
    start_authorisation(
        &ctx,
        &owned,
        &headers,
        &body,
        ScaTarget::Payment(payment),
        base,
    )
    .await
}

async fn update_payment_authorisation(
    ctx: Ctx,
    Path((service, product, payment, authorisation)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    let base = format!("{}/v1/{service}/{product}/{}", ctx.prefix, payment.id);
    update_authorisation(
        &ctx,
        &owned,
        &headers,
        &body,
        ScaTarget::Payment(payment),
        authorisation,
        base,
    )
    .await
}
