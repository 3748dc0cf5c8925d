//! Signing a payment, standing order or file with the card reader (a challenge, the response, three
//! tries), and the result page after it.

use std::collections::HashMap;

use axum::Form;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};

use super::app_signing::{app_sign_page, signs_in_app};
use super::describe::{end_to_end, kind_text, refused, status_text, summary};
use crate::ledger::{LedgerError, PaymentRecord, SCA_ATTEMPTS};
use crate::web::html::{self, Button, Field, FormData, escape, url_encode};
use crate::web::page::render;
use crate::web::session::Signing;
use crate::web::visitor::Customer;
use psd2_fallback_engine::model::{PaymentId, PaymentStatus, ScaTarget};

/// "Sign" under the card reader's response.
const SIGN: Button = Button {
    v1: "sign-submit",
    v1_text: "Sign",
    v2: "confirm-signature",
    v2_text: "Confirm with card reader",
};

/// The signing page of a payment, standing order or file (marker `sign`): a card-reader challenge.
pub(crate) async fn sign_page(customer: Customer, Path(id): Path<String>) -> Response {
    let id = PaymentId::new(id);
    let ledger = &customer.web.shared.ledger;
    let record = match ledger.payment(&customer.customer, &id) {
        Ok(r) => r,
        Err(error) => return refused(&customer, "Payment not found", &error, "/payments"),
    };
    if record.status != PaymentStatus::Received {
        return Redirect::to(&format!("/payments/{}/result", url_encode(id.as_str())))
            .into_response();
    }
    if signs_in_app(&customer) {
        return app_sign_page(&customer, &record);
    }
    let signing = match customer.session.signing.get(&id) {
        Some(signing) => signing.clone(),
        None => match ledger.start_signing(&customer.customer, &record.payment) {
            Ok(challenge) => {
                let signing = Signing {
                    authorisation: challenge.authorisation_id,
                    challenge: challenge.data,
                    attempts_left: SCA_ATTEMPTS,
                };
                customer.update(|s| s.signing.insert(id.clone(), signing.clone()));
                signing
            }
            Err(error) => return refused(&customer, "Signing refused", &error, "/payments"),
        },
    };
    sign_screen(&customer, &record, &signing, None)
}

/// The signing page: what is signed, the challenge, the attempts left, and the error of a wrong response.
fn sign_screen(
    customer: &Customer,
    record: &PaymentRecord,
    signing: &Signing,
    error: Option<&str>,
) -> Response {
    let layout = customer.layout();
    let id = &record.payment.id;
    let (beneficiary, _, amount, _) = summary(record);
    let mut body = String::new();
    if let Some(error) = error {
        body.push_str(&html::error(layout, error));
    }
    body.push_str(&html::details(
        layout,
        ("signing-summary", "to-sign"),
        &[
            ("sign-reference", "Reference", escape(id.as_str())),
            (
                "sign-what",
                "What you sign",
                escape(&format!(
                    "{} to {}",
                    kind_text(record.payment.kind),
                    beneficiary
                )),
            ),
            ("sign-amount", "Amount", escape(&amount)),
        ],
    ));
    body.push_str(&format!(
        r#"<p>Insert your card in the card reader, press <b>SIGN</b> and type this challenge:</p><p class="challenge">{}</p><p>Attempts left: {}</p>"#,
        html::value(layout, "challenge", &escape(&signing.challenge)),
        html::value(layout, "attempts-left", &signing.attempts_left.to_string()),
    ));
    let inner = format!(
        "{}{}",
        html::input(
            layout,
            Field::Response,
            "Response shown by the card reader",
            "text",
            "",
            r#"autocomplete="one-time-code" inputmode="numeric" maxlength="8""#
        ),
        html::button(layout, &SIGN, false, None)
    );
    body.push_str(&html::form(
        layout,
        ("sign-form", "signature-form"),
        &format!("/sign/{}", url_encode(id.as_str())),
        Some(customer.csrf()),
        &inner,
    ));
    render(
        &customer.chrome,
        "sign",
        "Sign with your card reader",
        &body,
    )
}

/// Checks the card reader's response; right or out of attempts → the result page.
pub(crate) async fn sign(
    customer: Customer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let id = PaymentId::new(id);
    let result_url = format!("/payments/{}/result", url_encode(id.as_str()));
    let Some(signing) = customer.session.signing.get(&id).cloned() else {
        return Redirect::to(&format!("/sign/{}", url_encode(id.as_str()))).into_response();
    };
    let ledger = &customer.web.shared.ledger;
    let record = match ledger.payment(&customer.customer, &id) {
        Ok(r) => r,
        Err(error) => return refused(&customer, "Payment not found", &error, "/payments"),
    };
    let target = ScaTarget::Payment(record.payment.clone());
    match ledger.authorise(
        &customer.customer,
        &target,
        &signing.authorisation,
        form.get(Field::Response),
    ) {
        Ok(_) => {
            customer.update(|s| s.signing.remove(&id));
            Redirect::to(&result_url).into_response()
        }
        Err(LedgerError::ScaInvalid { attempts_left }) if attempts_left > 0 => {
            let signing = Signing {
                attempts_left,
                ..signing
            };
            customer.update(|s| s.signing.insert(id.clone(), signing.clone()));
            let message = format!("The response is wrong; {attempts_left} attempt(s) left.");
            sign_screen(&customer, &record, &signing, Some(&message))
        }
        Err(LedgerError::ScaInvalid { .. } | LedgerError::ScaClosed { .. }) => {
            customer.update(|s| s.signing.remove(&id));
            Redirect::to(&result_url).into_response()
        }
        Err(error) => refused(&customer, "Signing refused", &error, "/payments"),
    }
}

/// The outcome after signing (marker `result`): reference, status code and words.
pub(crate) async fn result(customer: Customer, Path(id): Path<String>) -> Response {
    let layout = customer.layout();
    let id = PaymentId::new(id);
    let record = match customer.web.shared.ledger.payment(&customer.customer, &id) {
        Ok(r) => r,
        Err(error) => return refused(&customer, "Payment not found", &error, "/payments"),
    };
    let message = match record.status {
        PaymentStatus::Rejected => "The bank refused this order.",
        PaymentStatus::Received => "This order still waits for your signature.",
        PaymentStatus::Cancelled => "This order is cancelled.",
        PaymentStatus::AcceptedSettlementCompleted => "Your order is signed and executed.",
        _ => "Your order is signed and accepted.",
    };
    let mut items = vec![
        ("result-reference", "Reference", escape(id.as_str())),
        ("result-status", "Status", escape(record.status.code())),
        (
            "result-status-text",
            "Status (in words)",
            escape(status_text(record.status)),
        ),
        ("result-message", "Message", escape(message)),
        ("result-e2e", "End-to-end id", escape(&end_to_end(&record))),
    ];
    if let Some(reason) = &record.reason {
        items.push(("result-reason", "Remark", escape(reason)));
    }
    let body = format!(
        "{}<p>{} · {}</p>",
        html::details(layout, ("result", "outcome"), &items),
        html::link(
            layout,
            &format!("/payments/{}", url_encode(id.as_str())),
            "result-detail-link",
            "details",
            "Details"
        ),
        html::link(
            layout,
            "/payments",
            "result-payments-link",
            "overview",
            "All payments"
        ),
    );
    let title = if record.status == PaymentStatus::Rejected {
        "Order refused"
    } else {
        "Order signed"
    };
    render(&customer.chrome, "result", title, &body)
}
