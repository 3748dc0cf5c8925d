//! Account information under a consent: `GET /v1/accounts`, `…/{id}/balances[?referenceDate=]` and
//! `…/{id}/transactions`, the last paged by `_links.next` over the read kept in the page cache.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use serde_json::Value;

use psd2_fallback_engine::bank::{BankError, PsuContext};
use psd2_fallback_engine::model::AccountId;
use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::{
    ApiError, BookingQuery, Links, accounts_json, balances_json, transactions_json,
};

use super::ctx::Ctx;
use crate::errors::{Result, bank_error};
use crate::webhooks::{UnattendedRead, record_budget};

/// `GET /v1/accounts`: the accounts the consent covers.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", security(("caller" = [])),
    params(
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("Consent-ID" = String, Header, description = "A consent of the caller"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    responses(
        (status = 200, description = "The consent's accounts", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 403, description = "Not the caller's consent or payment, or out of its scope"),
        (status = 429, description = "Rate limited (per caller, or RTS Art. 36(5) unattended reads); `Retry-After` says when"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn accounts(ctx: Ctx, headers: HeaderMap) -> Result<Json<Value>> {
    let psu = ctx.consent_psu(&headers)?;
    let accounts = ctx.failover().accounts(&psu).await.map_err(bank_error)?;
    Ok(Json(accounts_json(&accounts, &ctx.prefix)))
}

/// After a read of an account's data without the customer present: the consent owner's budget events
/// (`budget.low`, or `budget.exhausted` when the read was refused for the day's limit).
fn budget(ctx: &Ctx, psu: &PsuContext, account: &str, error: Option<&BankError>) {
    if psu.ip_address.is_some() {
        return;
    }
    let refused = match error {
        None => false,
        Some(BankError::LimitReached { .. }) => true,
        Some(_) => return,
    };
    let Some(consent) = psu.consent_id.as_ref() else {
        return;
    };
    let bank = ctx.bank();
    record_budget(
        &ctx.state,
        &UnattendedRead {
            caller: &ctx.caller,
            bank: &bank.name,
            bank_limit: bank.unattended_reads_per_day,
            consent: consent.as_str(),
            psu: psu.psu_id.as_str(),
            account,
            refused,
        },
    );
}

/// `GET /v1/accounts/{id}/balances`, now or (`referenceDate`) at the close of an earlier day.
#[utoipa::path(get, path = "/v1/accounts/{account}/balances", tag = "accounts", security(("caller" = [])),
    params(
        ("account" = String, Path, description = "The account's resource id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("Consent-ID" = String, Header, description = "A consent of the caller"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)"),
        ("referenceDate" = Option<String>, Query, description = "ISO date: the balances at the close of that day")
    ),
    responses(
        (status = 200, description = "The account's balances", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 403, description = "Not the caller's consent or payment, or out of its scope"),
        (status = 429, description = "Rate limited (per caller, or RTS Art. 36(5) unattended reads); `Retry-After` says when"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn balances(
    ctx: Ctx,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let psu = ctx.consent_psu(&headers)?;
    let at = xs2a::reference_date(&query)?;
    let balances = ctx
        .failover()
        .balances(&psu, &AccountId::new(account.clone()), at)
        .await;
    budget(&ctx, &psu, &account, balances.as_ref().err());
    let balances = balances.map_err(bank_error)?;
    Ok(Json(balances_json(None, &balances)))
}

/// `GET /v1/accounts/{id}/transactions?bookingStatus=&dateFrom=[&dateTo=]`: the first page asks the
/// bank and keeps the whole read when it has more pages; `pageToken` and `pageIndex` (from
/// `_links.next` and `_links.previous`) serve the later pages from that read.
#[utoipa::path(get, path = "/v1/accounts/{account}/transactions", tag = "accounts", security(("caller" = [])),
    params(
        ("account" = String, Path, description = "The account's resource id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("Consent-ID" = String, Header, description = "A consent of the caller"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)"),
        ("bookingStatus" = String, Query, description = "`booked`, `pending` or `both` (`information` is refused: no channel reads standing orders)"),
        ("dateFrom" = String, Query, description = "ISO date"),
        ("dateTo" = Option<String>, Query, description = "ISO date"),
        ("pageToken" = Option<String>, Query, description = "A later page's read, as `_links.next` gives it"),
        ("pageIndex" = Option<u32>, Query, description = "Which page of that read, as `_links.next` gives it")
    ),
    responses(
        (status = 200, description = "The account's transactions, paged by `_links.next`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 403, description = "Not the caller's consent or payment, or out of its scope"),
        (status = 429, description = "Rate limited (per caller, or RTS Art. 36(5) unattended reads); `Retry-After` says when"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn transactions(
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
    let bank = &ctx.bank().name;
    let size = inner.limits.transactions_page_size.max(1);
    let now = tokio::time::Instant::now();
    let (token, all) = match query.get("pageToken") {
        Some(token) => {
            let found = inner
                .pages
                .get(token, &ctx.caller, bank, &account, now)
                .ok_or_else(|| {
                    ApiError::format(
                        "pageToken",
                        "is unknown or expired; read the first page again",
                    )
                })?;
            (token.clone(), found)
        }
        None => {
            let all = ctx
                .failover()
                .transactions(&psu, &AccountId::new(account.clone()), &filter)
                .await;
            budget(&ctx, &psu, &account, all.as_ref().err());
            let all = all.map_err(bank_error)?;
            let all = Arc::new(all);
            let token = uuid::Uuid::new_v4().simple().to_string();
            if all.len() > size {
                inner
                    .pages
                    .keep(token.clone(), &ctx.caller, bank, &account, now, all.clone());
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
    let mut links = Links::new().with("account", format!("{}/v1/accounts/{account}", ctx.prefix));
    if page + 1 < pages {
        links.push(
            "next",
            format!("{base}&pageToken={token}&pageIndex={}", page + 1),
        );
    }
    if page > 0 {
        links.push(
            "previous",
            format!("{base}&pageToken={token}&pageIndex={}", page - 1),
        );
    }
    Ok(Json(transactions_json(None, slice, &links)))
}
