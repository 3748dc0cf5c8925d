//! Payments, periodic payments (standing orders) and bulk payments (pain.001 files):
//! `POST /v1/{service}/{product}`, `GET …/{id}/status`, `DELETE …/{id}`, and their authorisations. A
//! resource made here is recorded with its caller in the owner store.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use psd2_fallback_engine::model::{PaymentKind, ScaTarget};
use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::{PaymentIn, cancellation, initiation_created, transaction_status_json};

use super::authorisations::{start_authorisation, update_authorisation};
use super::ctx::Ctx;
use crate::errors::{Result, bank_error, owner_store_error};

/// `POST /v1/{payments|periodic-payments}/{product}` (JSON) or
/// `POST /v1/bulk-payments/pain.001-sepa-credit-transfers` (XML): the resource is made at the bank,
/// then recorded as this caller's.
pub(super) async fn initiate(
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
        .owners
        .record_payment_owner(&ctx.bank().name, &initiation.payment, &ctx.owner(psu_id))
        .map_err(owner_store_error)?;
    let base = format!(
        "{}/v1/{service}/{product}/{}",
        ctx.prefix, initiation.payment.id
    );
    Ok(initiation_created(&initiation, &base))
}

/// `GET /v1/{service}/{product}/{id}/status`, from the bank.
pub(super) async fn payment_status(
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
    Ok(Json(transaction_status_json(status)))
}

/// `DELETE /v1/{service}/{product}/{id}`: a payment or file is cancelled, a standing order ended.
pub(super) async fn cancel(
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
    Ok(cancellation(status))
}

/// `POST /v1/{service}/{product}/{id}/authorisations`.
pub(super) async fn start_payment_authorisation(
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

/// `PUT /v1/{service}/{product}/{id}/authorisations/{authorisation}`.
pub(super) async fn update_payment_authorisation(
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
