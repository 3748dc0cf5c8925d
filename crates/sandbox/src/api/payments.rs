//! Payment initiation: single, periodic and bulk payments (pain.001 files) under
//! `/v1/{service}/{product}`, reading one back with its status, cancelling, and its authorisations. The
//! path's service and product must match the resource's kind.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::authorisations::{
    authorisation_list, sca_status, start_authorisation, update_authorisation,
};
use crate::ledger::{LedgerError, PaymentDetail, PaymentRecord};
use crate::state::Shared;
use psd2_fallback_engine::model::belgian::format_iso_date;
use psd2_fallback_engine::model::{PaymentId, PaymentKind, PaymentRef, PaymentRequest, ScaTarget};
use psd2_fallback_xs2a::{
    ApiError, ApiResult, PaymentIn, amount_json, cancellation_to_authorise, header,
    initiation_created, json, payment_file_checked, psu_id, resource, transaction_status_json,
};

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

pub(super) async fn initiate(
    State(shared): State<Arc<Shared>>,
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
            let file = payment_file_checked(&headers, &body, usize::MAX).await?;
            shared.ledger.upload_file(&customer, file, request_id)?
        }
    };
    let base = format!("/v1/{service}/{product}/{}", initiation.payment.id);
    Ok(initiation_created(
        &initiation,
        &base,
        shared.config.sca.fixed_approach(),
    ))
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

pub(super) async fn payment(
    State(shared): State<Arc<Shared>>,
    Path((service, product, payment)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    let (_, record) = record(&shared, &payment)?;
    Ok(Json(payment_json(&record)))
}

pub(super) async fn payment_status(
    State(shared): State<Arc<Shared>>,
    Path((service, product, payment)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    let (_, record) = record(&shared, &payment)?;
    Ok(Json(transaction_status_json(record.status)))
}

/// `DELETE`: cancelled at once (`204`), or, when the bank wants cancellations authorised
/// (`--cancel-sca`), `202` with the status unchanged and `_links.startAuthorisation`.
pub(super) async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path((service, product, payment)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let payment = payment_ref(&service, &product, payment)?;
    let (customer, _) = record(&shared, &payment)?;
    if shared.config.cancel_sca {
        let status = shared.ledger.request_cancellation(&customer, &payment.id)?;
        let base = format!("/v1/{service}/{product}/{}", payment.id);
        return Ok(cancellation_to_authorise(status, &base));
    }
    shared.ledger.cancel(&customer, &payment.id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Which authorisation of a payment a route serves: its signing (`…/authorisations`) or, with
/// `CANCELLATION`, the signing of its cancellation (`…/cancellation-authorisations`, started only after
/// a `DELETE` asked for it).
fn signing<const CANCELLATION: bool>(payment: PaymentRef) -> ScaTarget {
    if CANCELLATION {
        ScaTarget::Cancellation(payment)
    } else {
        ScaTarget::Payment(payment)
    }
}

/// `POST …/{id}/authorisations` or `…/cancellation-authorisations`: starts the authorisation.
pub(super) async fn start_signing<const CANCELLATION: bool>(
    State(shared): State<Arc<Shared>>,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let payment = payment_ref(&service, &product, payment)?;
    record(&shared, &payment)?;
    let base = format!("/v1/{service}/{product}/{}", payment.id);
    let target = signing::<CANCELLATION>(payment);
    start_authorisation(&shared, &headers, &body, target, base).await
}

/// `GET …/{id}/authorisations` or `…/cancellation-authorisations`: the authorisations' ids.
pub(super) async fn list_signings<const CANCELLATION: bool>(
    State(shared): State<Arc<Shared>>,
    Path((service, product, payment)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    record(&shared, &payment)?;
    authorisation_list(&shared, &signing::<CANCELLATION>(payment))
}

/// `GET …/{id}/authorisations/{authorisationId}` (or of a cancellation): its `scaStatus`.
pub(super) async fn signing_status<const CANCELLATION: bool>(
    State(shared): State<Arc<Shared>>,
    Path((service, product, payment, authorisation)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    sca_status(&shared, &signing::<CANCELLATION>(payment), authorisation)
}

/// `PUT …/{id}/authorisations/{authorisationId}` (or of a cancellation): a method choice or the
/// answer.
pub(super) async fn update_signing<const CANCELLATION: bool>(
    State(shared): State<Arc<Shared>>,
    Path((service, product, payment, authorisation)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let payment = payment_ref(&service, &product, payment)?;
    record(&shared, &payment)?;
    let base = format!("/v1/{service}/{product}/{}", payment.id);
    let target = signing::<CANCELLATION>(payment);
    update_authorisation(&shared, &headers, &body, target, authorisation, base).await
}
