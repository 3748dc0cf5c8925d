//! Payments, periodic payments (standing orders) and bulk payments (pain.001 files):
//! `POST /v1/{service}/{product}`, `GET …/{id}/status`, `DELETE …/{id}`, and their authorisations. A
//! resource made here is recorded with its caller in the owner store.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use psd2_fallback_engine::model::{EndToEndId, InvalidValue, PaymentKind, ScaTarget};
use psd2_fallback_xs2a as xs2a;
use psd2_fallback_xs2a::{
    ApiError, PaymentIn, cancellation, cancellation_to_authorise, initiation_created,
    transaction_status_json,
};

use super::authorisations::{
    authorisation_list, authorisation_status, start_authorisation, update_authorisation,
};
use super::ctx::Ctx;
use crate::errors::{Result, bank_error, owner_store_error};
use crate::replay;
use crate::webhooks::{PaymentOutcome, record_payment};

/// `POST /v1/{payments|periodic-payments}/{product}` (JSON) or
/// `POST /v1/bulk-payments/pain.001-sepa-credit-transfers` (XML): the resource is made at the bank,
/// then recorded as this caller's. A write is answered once per caller and `X-Request-ID`
/// (`crate::replay`): a retry with the same id and content gets the first answer again.
#[utoipa::path(post, path = "/v1/{service}/{product}", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`, `pain.001-sepa-credit-transfers`"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-ID" = String, Header, description = "The customer at the bank"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    request_body(content = Object, description = "A Berlin Group payment (JSON), standing order (`periodic-payments`, JSON), or a pain.001 file (`bulk-payments`, `application/xml`)"),
    responses(
        (status = 201, description = "The payment, with its `transactionStatus` and `_links`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 409, description = "The same `X-Request-ID` or end-to-end id with other content"),
        (status = 429, description = "Rate limited (per caller, or RTS Art. 36(5) unattended reads); `Retry-After` says when"),
        (status = 502, description = "A write's outcome is unknown: repeat it with the same `X-Request-ID`"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn initiate(
    ctx: Ctx,
    Path((service, product)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let request_id = xs2a::request_id(&headers)?.to_owned();
    let psu_id = headers
        .get("PSU-ID")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let fingerprint = replay::fingerprint(&[
        ctx.bank().name.as_bytes(),
        service.as_bytes(),
        product.as_bytes(),
        psu_id,
        &body,
    ]);
    let state = ctx.state.clone();
    let caller = ctx.caller.clone();
    Ok(state
        .inner
        .replays
        .once(&caller, &request_id, fingerprint, async {
            initiate_once(ctx, service, product, headers, body, &request_id)
                .await
                .into_response()
        })
        .await)
}

/// One initiation, as [`initiate`] answers it the first time.
async fn initiate_once(
    ctx: Ctx,
    service: String,
    product: String,
    headers: HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Result<Response> {
    let kind = xs2a::resource(&service, &product)?;
    let psu_id = xs2a::psu_id(&headers)?;
    let psu = ctx.psu(&psu_id, &headers);
    let bank = ctx.failover();
    // Without an end-to-end id from the caller, the request's own identity gives one: a retry of the
    // same request is the same payment, never a second one under a fresh id.
    let end_to_end_id = |input: &PaymentIn| match input.end_to_end_identification() {
        Some(_) => None,
        None => Some(EndToEndId::from_request(&ctx.caller, request_id)),
    };
    let initiation = match kind {
        PaymentKind::Single(product) => {
            let input: PaymentIn = xs2a::json(&body)?;
            let mut request = input.to_request(product)?;
            if let Some(id) = end_to_end_id(&input) {
                request.end_to_end_id = id;
            }
            bank.initiate_payment(&psu, &request).await
        }
        PaymentKind::Periodic(product) => {
            let input: PaymentIn = xs2a::json(&body)?;
            let mut request = input.to_standing_order(product)?;
            if let Some(id) = end_to_end_id(&input) {
                request.payment.end_to_end_id = id;
            }
            bank.create_standing_order(&psu, &request).await
        }
        PaymentKind::File => {
            let file =
                xs2a::payment_file_checked(&headers, &body, ctx.state.inner.limits.max_file_bytes)
                    .await?;
            bank.upload_payment_file(&psu, &file).await
        }
    };
    let (state, bank_name) = (&ctx.state, &ctx.bank().name);
    let initiation = match initiation {
        Ok(done) => done,
        Err(error) => {
            // Only a definite answer settles: unreachable again, the payment stays in doubt.
            let outcome = if error.is_outcome_unknown() {
                Some(PaymentOutcome::InDoubt)
            } else if error.is_rejected() {
                Some(PaymentOutcome::NotMade(error.class()))
            } else {
                None
            };
            if let Some(outcome) = outcome {
                record_payment(state, &ctx.caller, bank_name, request_id, &outcome);
            }
            return Err(bank_error(error));
        }
    };
    let owners = &ctx.state.inner.owners;
    if let Some((_, owner)) = owners
        .payment_owner(&ctx.bank().name, initiation.payment.id.as_str())
        .map_err(owner_store_error)?
        && owner.caller != ctx.caller
    {
        // The engine found another caller's payment under this end-to-end id (MsgId): it is not this
        // caller's to see, and this order was not made.
        let field = if kind == PaymentKind::File {
            "body"
        } else {
            "endToEndIdentification"
        };
        return Err(ApiError::from(InvalidValue::new(
            field,
            "is in use by another order of this account; use a new one",
        ))
        .into());
    }
    owners
        .record_payment_owner(&ctx.bank().name, &initiation.payment, &ctx.owner(psu_id))
        .map_err(owner_store_error)?;
    record_payment(
        &ctx.state,
        &ctx.caller,
        &ctx.bank().name,
        request_id,
        &PaymentOutcome::Made(&initiation.payment, initiation.status),
    );
    let base = format!(
        "{}/v1/{service}/{product}/{}",
        ctx.prefix, initiation.payment.id
    );
    // The approach the bank announced, if it did (a redirect or the app: no password is asked);
    // otherwise the bank's choice at the start of the authorisation.
    let approach = ctx.bank().fallback_password.announce(initiation.approach);
    Ok(initiation_created(&initiation, &base, approach))
}

/// `GET /v1/{service}/{product}/{id}/status`, from the bank.
#[utoipa::path(get, path = "/v1/{service}/{product}/{payment}/status", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`, `pain.001-sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    responses(
        (status = 200, description = "The payment's `transactionStatus`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
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
#[utoipa::path(delete, path = "/v1/{service}/{product}/{payment}", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`, `pain.001-sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 202, description = "Not cancelled yet: the `transactionStatus` it still has, and `_links.startAuthorisation` when the bank wants the cancellation authorised (`…/cancellation-authorisations`)", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 502, description = "A write's outcome is unknown: repeat it with the same `X-Request-ID`"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn cancel(
    ctx: Ctx,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    let psu = ctx.psu(&owned.psu, &headers);
    let cancelled = match payment.kind {
        PaymentKind::Periodic(_) => ctx.failover().cancel_standing_order(&psu, &payment).await,
        _ => ctx.failover().cancel_payment(&psu, &payment).await,
    }
    .map_err(bank_error)?;
    if cancelled.authorisation_needed {
        let base = format!("{}/v1/{service}/{product}/{}", ctx.prefix, payment.id);
        return Ok(cancellation_to_authorise(cancelled.status, &base));
    }
    Ok(cancellation(cancelled.status))
}

/// `POST /v1/{service}/{product}/{id}/authorisations`.
#[utoipa::path(post, path = "/v1/{service}/{product}/{payment}/authorisations", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`, `pain.001-sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    request_body(content = Object, content_type = "application/json", description = "`psuData.password`: the customer's password, for embedded SCA"),
    responses(
        (status = 201, description = "The authorisation with its `challengeData`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
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

/// `GET /v1/{service}/{product}/{id}/authorisations`: the ids of the payment's authorisations, as
/// the bank holds them (Berlin Group "get authorisation sub-resources").
#[utoipa::path(get, path = "/v1/{service}/{product}/{payment}/authorisations", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`, `pain.001-sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request")
    ),
    responses(
        (status = 200, description = "`authorisationIds`: the payment's authorisations", content_type = "application/json"),
        (status = 400, description = "The bank cannot list them now (`SERVICE_INVALID`: its website is serving)"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn payment_authorisations(
    ctx: Ctx,
    Path((service, product, payment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    authorisation_list(&ctx, &owned, &headers, ScaTarget::Payment(payment)).await
}

/// `PUT /v1/{service}/{product}/{id}/authorisations/{authorisation}`.
#[utoipa::path(put, path = "/v1/{service}/{product}/{payment}/authorisations/{authorisation}", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`, `pain.001-sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("authorisation" = String, Path, description = "The authorisation's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request; a write repeated with the same one is answered once"),
        ("PSU-IP-Address" = Option<String>, Header, description = "The customer's IP address: present when the customer is (RTS Art. 36(5) counts the other reads)")
    ),
    request_body(content = Object, content_type = "application/json", description = "`scaAuthenticationData`: the customer's answer to the challenge"),
    responses(
        (status = 200, description = "The authorisation's `scaStatus`", content_type = "application/json"),
        (status = 400, description = "Bad input: `tppMessages` name the field"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 502, description = "A write's outcome is unknown: repeat it with the same `X-Request-ID`"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
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

/// `GET /v1/{service}/{product}/{id}/authorisations/{authorisation}`.
#[utoipa::path(get, path = "/v1/{service}/{product}/{payment}/authorisations/{authorisation}", tag = "payments", security(("caller" = [])),
    params(
        ("service" = String, Path, description = "`payments`, `periodic-payments` or `bulk-payments`"),
        ("product" = String, Path, description = "The payment product, e.g. `sepa-credit-transfers`, `pain.001-sepa-credit-transfers`"),
        ("payment" = String, Path, description = "The payment's id"),
        ("authorisation" = String, Path, description = "The authorisation's id"),
        ("X-Request-ID" = String, Header, description = "A UUID naming this request")
    ),
    responses(
        (status = 200, description = "The authorisation's `scaStatus` and the bank's `psuMessage`: poll a redirect or decoupled authorisation until it is `finalised` or `failed`", content_type = "application/json"),
        (status = 401, description = "No or unknown bearer token"),
        (status = 404, description = "No such resource for this caller"),
        (status = 503, description = "Neither channel can serve the bank now")
    )
)]
pub(super) async fn payment_authorisation_status(
    ctx: Ctx,
    Path((service, product, payment, authorisation)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let (payment, owned) = ctx.payment(&service, &product, &payment)?;
    authorisation_status(
        &ctx,
        &owned,
        &headers,
        ScaTarget::Payment(payment),
        authorisation,
    )
    .await
}
