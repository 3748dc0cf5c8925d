//! Signing an order in two steps — the order and a choice of method, then the card reader's challenge
//! (three tries) — and the status page after it.

use std::collections::HashMap;

use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::page::{BASE, error, error_page, facts, refusal, render};
use super::payments::{paid, reference};
use super::session::Signing;
use super::site::{Customer, go, text};
use super::words;
use crate::ledger::{LedgerError, PaymentRecord, SCA_ATTEMPTS};
use crate::markup::{escape, url_encode};
use psd2_fallback_engine::model::{PaymentId, PaymentStatus, ScaTarget};

/// The customer's order, or the error page.
fn record(customer: &Customer, id: &PaymentId) -> Result<PaymentRecord, Box<Response>> {
    customer
        .site
        .shared
        .ledger
        .payment(&customer.number, id)
        .map_err(|e| {
            Box::new(error_page(
                &customer.frame,
                StatusCode::NOT_FOUND,
                &refusal(&e),
                "/opdrachten",
            ))
        })
}

fn status_page_of(id: &PaymentId) -> Response {
    go(&format!("/opdrachten/{}/status", url_encode(id.as_str())))
}

/// What is signed: reference, kind and beneficiary, amount.
fn summary(record: &PaymentRecord) -> String {
    let (name, _, amount, _) = paid(record);
    facts(
        "te-ondertekenen",
        &[
            (
                "referentie",
                "Referentie",
                escape(record.payment.id.as_str()),
            ),
            (
                "wat",
                "U ondertekent",
                escape(&format!("{} aan {name}", words::kind(record.payment.kind))),
            ),
            ("bedrag", "Bedrag", escape(&amount)),
        ],
    )
}

/// Step 1 (class `scherm-ondertekenen`): the order and how to sign it.
pub(crate) async fn choose_page(customer: Customer, Path(id): Path<String>) -> Response {
    let id = PaymentId::new(id);
    let record = match record(&customer, &id) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    if record.status != PaymentStatus::Received {
        return status_page_of(&id);
    }
    let body = format!(
        r#"{}<h2>Hoe wilt u ondertekenen?</h2><ul class="methoden"><li><a class="knop" id="met-kaartlezer" href="{BASE}/opdrachten/{}/ondertekenen/kaartlezer">Met kaartlezer</a></li></ul>"#,
        summary(&record),
        url_encode(id.as_str())
    );
    render(
        &customer.frame,
        "ondertekenen",
        "Opdracht ondertekenen",
        &body,
    )
}

/// Step 2 (class `scherm-ondertekenen-kaartlezer`): the challenge, started on the first visit.
pub(crate) async fn card_reader_page(customer: Customer, Path(id): Path<String>) -> Response {
    let id = PaymentId::new(id);
    let record = match record(&customer, &id) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    if record.status != PaymentStatus::Received {
        return status_page_of(&id);
    }
    let signing = match customer.session.signing.get(&id) {
        Some(signing) => signing.clone(),
        None => match customer
            .site
            .shared
            .ledger
            .start_signing(&customer.number, &record.payment)
        {
            Ok(challenge) => {
                let signing = Signing {
                    authorisation: challenge.authorisation_id,
                    challenge: challenge.data,
                    attempts_left: SCA_ATTEMPTS,
                };
                customer.change(|s| s.signing.insert(id.clone(), signing.clone()));
                signing
            }
            Err(e) => {
                return error_page(
                    &customer.frame,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &refusal(&e),
                    "/opdrachten",
                );
            }
        },
    };
    challenge_screen(&customer, &record, &signing, None)
}

fn challenge_screen(
    customer: &Customer,
    record: &PaymentRecord,
    signing: &Signing,
    message: Option<&str>,
) -> Response {
    let body = format!(
        r#"{}{}<ol class="uitleg"><li>Steek uw bankpas in de kaartlezer en druk op <b>SIGN</b>.</li><li>Voer deze code in:</li></ol><div id="code" class="uitdaging">{}</div><p>Nog <span id="pogingen">{}</span> poging(en).</p><form id="ondertekenen" method="post" action="{BASE}/opdrachten/{}/ondertekenen/kaartlezer"><input type="hidden" name="formtoken" value="{}"><div class="regel"><label for="respons">Respons van de kaartlezer</label><input id="respons" name="respons" type="text" inputmode="numeric" maxlength="8" autocomplete="one-time-code"></div><button class="knop" id="onderteken" type="submit">Ondertekenen</button></form>"#,
        message.map(error).unwrap_or_default(),
        summary(record),
        escape(&signing.challenge),
        signing.attempts_left,
        url_encode(record.payment.id.as_str()),
        escape(&customer.session.csrf),
    );
    render(
        &customer.frame,
        "ondertekenen-kaartlezer",
        "Ondertekenen met uw kaartlezer",
        &body,
    )
}

/// The response sent: right, or out of tries → the status page; wrong → the challenge again.
pub(crate) async fn card_reader(
    customer: Customer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let id = PaymentId::new(id);
    let Some(signing) = customer.session.signing.get(&id).cloned() else {
        return go(&format!(
            "/opdrachten/{}/ondertekenen/kaartlezer",
            url_encode(id.as_str())
        ));
    };
    let record = match record(&customer, &id) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let target = ScaTarget::Payment(record.payment.clone());
    match customer.site.shared.ledger.authorise(
        &customer.number,
        &target,
        &signing.authorisation,
        text(&form, "respons"),
    ) {
        Ok(_) => {
            customer.change(|s| s.signing.remove(&id));
            status_page_of(&id)
        }
        Err(LedgerError::ScaInvalid { attempts_left }) if attempts_left > 0 => {
            let signing = Signing {
                attempts_left,
                ..signing
            };
            customer.change(|s| s.signing.insert(id.clone(), signing.clone()));
            challenge_screen(&customer, &record, &signing, Some("De respons klopt niet."))
        }
        Err(LedgerError::ScaInvalid { .. } | LedgerError::ScaClosed { .. }) => {
            customer.change(|s| s.signing.remove(&id));
            status_page_of(&id)
        }
        Err(e) => error_page(
            &customer.frame,
            StatusCode::UNPROCESSABLE_ENTITY,
            &refusal(&e),
            "/opdrachten",
        ),
    }
}

/// The order's status after signing (class `scherm-status`), in words only.
pub(crate) async fn status_page(customer: Customer, Path(id): Path<String>) -> Response {
    let id = PaymentId::new(id);
    let record = match record(&customer, &id) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let message = match record.status {
        PaymentStatus::Rejected => "De bank heeft deze opdracht geweigerd.",
        PaymentStatus::Received => "Deze opdracht wacht nog op uw handtekening.",
        PaymentStatus::Cancelled => "Deze opdracht is ingetrokken.",
        _ => "Bedankt, uw opdracht is ondertekend.",
    };
    let mut items = vec![
        ("referentie", "Referentie", escape(id.as_str())),
        ("status", "Status", escape(words::status(record.status))),
        ("kenmerk", "Uw kenmerk", escape(&reference(&record))),
    ];
    if let Some(reason) = &record.reason {
        items.push(("reden", "Reden", escape(reason)));
    }
    let body = format!(
        r#"<p class="melding info" id="boodschap">{}</p>{}<p><a href="{BASE}/opdrachten/{}">Details</a> · <a href="{BASE}/opdrachten">Alle opdrachten</a></p>"#,
        escape(message),
        facts("uitkomst", &items),
        url_encode(id.as_str())
    );
    render(&customer.frame, "status", "Uw opdracht", &body)
}
