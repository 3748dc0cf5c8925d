//! Payment files: uploading a pain.001 document, its summary with every payment, and offering it for
//! signature.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Form;
use axum::extract::Multipart;
use axum::http::StatusCode;
use axum::response::Response;

use super::format::{day, euro};
use super::page::{BASE, error, facts, render};
use super::site::{Customer, go};
use crate::markup::escape;
use psd2_fallback_engine::model::{Amount, PaymentFile};

/// The upload page (class `scherm-bestanden`), with an error when a file was refused.
pub(crate) async fn page(customer: Customer) -> Response {
    screen(&customer, StatusCode::OK, None)
}

fn screen(customer: &Customer, status: StatusCode, problem: Option<&str>) -> Response {
    let body = format!(
        r#"{}<p>Upload een SEPA-betaalbestand (ISO 20022 pain.001.001.03 of .09, XML).</p><form id="uploaden" method="post" action="{BASE}/bestanden" enctype="multipart/form-data"><input type="hidden" name="formtoken" value="{}"><div class="regel"><label for="bestand">Betaalbestand</label><input id="bestand" name="bestand" type="file" accept=".xml,text/xml,application/xml"></div><button class="knop" id="uploaden-knop" type="submit">Uploaden</button></form>"#,
        problem.map(error).unwrap_or_default(),
        escape(&customer.session.csrf)
    );
    let mut response = render(&customer.frame, "bestanden", "Betaalbestanden", &body);
    *response.status_mut() = status;
    response
}

/// Receives a file: a refused one shows why (naming the element), an accepted one its summary.
pub(crate) async fn upload(customer: Customer, mut multipart: Multipart) -> Response {
    let mut form = HashMap::new();
    let mut xml = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                match field.text().await {
                    Ok(value) if name == "bestand" => xml = Some(value),
                    Ok(value) => {
                        form.insert(name, value);
                    }
                    Err(e) => {
                        return screen(
                            &customer,
                            StatusCode::BAD_REQUEST,
                            Some(&format!("Betaalbestand: niet te lezen ({e})")),
                        );
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return screen(
                    &customer,
                    StatusCode::BAD_REQUEST,
                    Some(&format!("Betaalbestand: niet te lezen ({e})")),
                );
            }
        }
    }
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let Some(xml) = xml.filter(|x| !x.trim().is_empty()) else {
        return screen(
            &customer,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Betaalbestand: kies een bestand"),
        );
    };
    match PaymentFile::parse(&xml) {
        Ok(file) => {
            let draft = uuid::Uuid::new_v4().to_string();
            customer.change(|s| s.drafts.file = Some((draft, file)));
            go("/bestanden/controle")
        }
        Err(e) => screen(
            &customer,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&format!("Betaalbestand geweigerd: {e}")),
        ),
    }
}

/// The file's summary and its payments (class `scherm-bestand-controle`).
pub(crate) async fn review_page(customer: Customer) -> Response {
    let Some((_, file)) = &customer.session.drafts.file else {
        return go("/bestanden");
    };
    let mut body = facts(
        "bestand",
        &[
            ("berichtkenmerk", "Berichtkenmerk", escape(&file.message_id)),
            ("formaat", "Formaat", escape(file.version.name())),
            (
                "aantal",
                "Aantal betalingen",
                file.number_of_transactions.to_string(),
            ),
            (
                "totaal",
                "Controletotaal",
                escape(
                    &Amount::eur(file.control_sum)
                        .map(|a| euro(&a))
                        .unwrap_or_default(),
                ),
            ),
        ],
    );
    body.push_str(r#"<ul class="betalingen">"#);
    for p in &file.payments {
        let _ = write!(
            body,
            r#"<li class="betaling"><span class="begunstigde">{}</span> <span class="rekening">{}</span> <span class="bedrag">{}</span> <span class="datum">{}</span> <span class="kenmerk">{}</span></li>"#,
            escape(&p.creditor_name),
            escape(&p.creditor.paper()),
            escape(&euro(&p.amount)),
            escape(&day(p.requested_execution_date)),
            escape(&p.end_to_end_id),
        );
    }
    let _ = write!(
        body,
        r#"</ul><form id="aanbieden" method="post" action="{BASE}/bestanden/controle"><input type="hidden" name="formtoken" value="{}"><button class="knop" id="ter-ondertekening" type="submit" name="actie" value="aanbieden">Ter ondertekening aanbieden</button> <button class="knop knop-licht" id="annuleren" type="submit" name="actie" value="annuleren">Annuleren</button></form>"#,
        escape(&customer.session.csrf)
    );
    render(
        &customer.frame,
        "bestand-controle",
        "Controleer uw betaalbestand",
        &body,
    )
}

/// "Ter ondertekening aanbieden" records the file once and goes to signing; "Annuleren" drops it.
pub(crate) async fn review(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    customer.confirm_draft(
        &form,
        "aanbieden",
        |d| &mut d.file,
        "/bestanden",
        |ledger, number, file, draft| ledger.upload_file(number, file, Some(draft)),
    )
}
