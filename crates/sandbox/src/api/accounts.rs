//! Account information: the accounts a consent opens, one account, its balances (now, or the closing
//! balance of an earlier day), its transactions in pages with the standing orders paying from it, and
//! funds confirmation. Every read is checked against the consent and counted when the customer is not
//! present.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::ledger::{ConsentUse, LedgerError};
use crate::state::Shared;
use psd2_fallback_engine::model::FundsConfirmation;
use psd2_fallback_engine::model::belgian::format_iso_date;
use psd2_fallback_engine::model::{AccountId, BookingStatus, ConsentId};
use psd2_fallback_xs2a::{
    ApiError, ApiResult, BookingQuery, Links, account_details_json, accounts_json, amount_json,
    balances_json, consent_id, funds_json, funds_request, header, link, page_index, psu_present,
    reference_date, transaction_query, transactions_json,
};

/// How many transactions one page holds.
pub const TRANSACTIONS_PAGE_SIZE: usize = 100;

pub(super) async fn accounts(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let consent = consent_id(&headers)?;
    let accounts = shared.ledger.consent_accounts(&consent)?;
    Ok(Json(accounts_json(&accounts, "")))
}

pub(super) async fn account(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let consent = consent_id(&headers)?;
    let id = AccountId::new(account);
    let customer = shared
        .ledger
        .use_consent(&consent, ConsentUse::Accounts, Some(&id), true)?;
    let account = shared.ledger.account(&customer, &id)?;
    Ok(Json(account_details_json(&account, "")))
}

pub(super) async fn balances(
    State(shared): State<Arc<Shared>>,
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
    Ok(Json(balances_json(Some(&account), &balances)))
}

pub(super) async fn transactions(
    State(shared): State<Arc<Shared>>,
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
    let mut links = Links::new()
        .with("account", format!("/v1/accounts/{id}"))
        .with("first", format!("{query_base}&pageIndex=0"))
        .with("last", format!("{query_base}&pageIndex={}", pages - 1));
    if page + 1 < pages {
        links.push("next", format!("{query_base}&pageIndex={}", page + 1));
    }
    if page > 0 {
        links.push("previous", format!("{query_base}&pageIndex={}", page - 1));
    }
    Ok(Json(transactions_json(Some(&account), slice, &links)))
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

pub(super) async fn funds_confirmation(
    State(shared): State<Arc<Shared>>,
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
    Ok(Json(funds_json(&FundsConfirmation {
        funds_available: available,
    })))
}
