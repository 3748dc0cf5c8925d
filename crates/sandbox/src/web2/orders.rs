//! New orders: the transfer form and the standing-order form, each read back as the bank understood
//! it, then "Bevestigen" records it once (the draft id is the ledger's request id) and goes to
//! signing. The bank refuses here what it refuses on the first website, in the customer's words.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Form;
use axum::response::Response;
use time::Date;

use super::format::{day, euro, parse_typed_day};
use super::page::{BASE, errors, facts, render};
use super::site::{Customer, go, text};
use super::words::{FREQUENCIES, frequency, yes_no};
use crate::markup::escape;
use psd2_fallback_engine::model::belgian::parse_amount;
use psd2_fallback_engine::model::{
    Account, Currency, EndToEndId, ExecutionRule, Iban, PaymentProduct, PaymentRequest,
    StandingOrderRequest,
};

/// A text input in a `div.regel`.
fn input(name: &str, label: &str, value: &str, extra: &str) -> String {
    format!(
        r#"<div class="regel"><label for="{name}">{label}</label><input id="{name}" name="{name}" type="text" value="{}" {extra}></div>"#,
        escape(value)
    )
}

/// A select in a `div.regel`: (value, words) options, the current one selected.
fn select(name: &str, label: &str, options: &[(String, String)], current: &str) -> String {
    let mut out = format!(
        r#"<div class="regel"><label for="{name}">{label}</label><select id="{name}" name="{name}">"#
    );
    for (value, words) in options {
        let selected = if value == current { " selected" } else { "" };
        let _ = write!(
            out,
            r#"<option value="{}"{selected}>{}</option>"#,
            escape(value),
            escape(words)
        );
    }
    out.push_str("</select></div>");
    out
}

/// The fields a transfer and a standing order share. The account is chosen by the bank's own id.
fn order_fields(accounts: &[Account], form: &HashMap<String, String>) -> String {
    let options: Vec<(String, String)> = accounts
        .iter()
        .map(|a| {
            (
                a.id.as_str().to_owned(),
                format!("{} – {}", a.name, a.iban.paper()),
            )
        })
        .collect();
    [
        select("van", "Van rekening", &options, text(form, "van")),
        input(
            "naam",
            "Naam begunstigde",
            text(form, "naam"),
            r#"maxlength="70""#,
        ),
        input("iban", "IBAN begunstigde", text(form, "iban"), ""),
        input(
            "bedrag",
            "Bedrag in euro",
            text(form, "bedrag"),
            r#"inputmode="decimal" placeholder="0,00""#,
        ),
        input(
            "omschrijving",
            "Omschrijving",
            text(form, "omschrijving"),
            r#"maxlength="140""#,
        ),
    ]
    .concat()
}

/// Reads the shared fields; every problem names its field.
fn read_order(
    form: &HashMap<String, String>,
    accounts: &[Account],
    problems: &mut Vec<String>,
) -> Option<PaymentRequest> {
    let debtor = accounts
        .iter()
        .find(|a| a.id.as_str() == text(form, "van"))
        .map(|a| a.iban.clone());
    if debtor.is_none() {
        problems.push("Van rekening: kies een van uw rekeningen".to_owned());
    }
    let name = text(form, "naam");
    if name.is_empty() {
        problems.push("Naam begunstigde: is verplicht".to_owned());
    } else if name.chars().count() > 70 {
        problems.push("Naam begunstigde: hoogstens 70 tekens".to_owned());
    }
    let creditor = match text(form, "iban") {
        "" => {
            problems.push("IBAN begunstigde: is verplicht".to_owned());
            None
        }
        typed => Iban::parse(typed)
            .map_err(|e| problems.push(format!("IBAN begunstigde: {}", e.reason)))
            .ok(),
    };
    let amount = match text(form, "bedrag") {
        "" => {
            problems.push("Bedrag: is verplicht".to_owned());
            None
        }
        typed => match parse_amount(typed, Some(Currency::EUR)) {
            Ok(a) if a.currency() != Currency::EUR => {
                problems.push("Bedrag: alleen betalingen in euro".to_owned());
                None
            }
            Ok(a) if !a.is_positive() => {
                problems.push("Bedrag: moet groter dan nul zijn".to_owned());
                None
            }
            Ok(a) => Some(a),
            Err(e) => {
                problems.push(format!("Bedrag: {}", e.reason));
                None
            }
        },
    };
    let remittance = text(form, "omschrijving");
    if remittance.chars().count() > 140 {
        problems.push("Omschrijving: hoogstens 140 tekens".to_owned());
    }
    let reference = match text(form, "kenmerk") {
        "" => Some(EndToEndId::generate()),
        typed => EndToEndId::new(typed)
            .map_err(|e| problems.push(format!("Kenmerk: {}", e.reason)))
            .ok(),
    };
    if let (Some(d), Some(c)) = (&debtor, &creditor)
        && d == c
    {
        problems.push("IBAN begunstigde: is de rekening waarvan u betaalt".to_owned());
    }
    Some(PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: debtor?,
        creditor_name: name.to_owned(),
        creditor: creditor?,
        amount: amount?,
        remittance: (!remittance.is_empty()).then(|| remittance.to_owned()),
        requested_execution_date: None,
        end_to_end_id: reference?,
    })
}

/// An optional typed day; the problem names the field.
fn optional_day(
    form: &HashMap<String, String>,
    name: &str,
    label: &str,
    problems: &mut Vec<String>,
) -> Option<Date> {
    match text(form, name) {
        "" => None,
        typed => parse_typed_day(typed)
            .map_err(|e| problems.push(format!("{label}: {e}")))
            .ok(),
    }
}

/// The read-back: facts, then "Bevestigen" and "Wijzigen".
fn read_back(customer: &Customer, items: &[(&str, &str, String)], action: &str) -> String {
    format!(
        r#"<p>Klopt alles? Na bevestigen ondertekent u met uw kaartlezer.</p>{}<form id="controle" method="post" action="{BASE}{action}"><input type="hidden" name="formtoken" value="{}"><button class="knop" id="bevestigen" type="submit" name="actie" value="bevestigen">Bevestigen</button> <button class="knop knop-licht" id="wijzigen" type="submit" name="actie" value="wijzigen">Wijzigen</button></form>"#,
        facts("controle", items),
        escape(&customer.session.csrf)
    )
}

/// What the debtor's account looks like on a read-back: `name – IBAN`.
fn debtor_words(customer: &Customer, iban: &Iban) -> String {
    customer
        .site
        .shared
        .ledger
        .account_by_iban(&customer.number, iban)
        .map(|a| format!("{} – {}", a.name, a.iban.paper()))
        .unwrap_or_else(|_| iban.paper())
}

/// The transfer form (class `scherm-overmaken`).
pub(crate) async fn transfer_page(customer: Customer) -> Response {
    transfer_form(&customer, &HashMap::new(), &[])
}

fn transfer_form(
    customer: &Customer,
    form: &HashMap<String, String>,
    problems: &[String],
) -> Response {
    let accounts = customer.site.shared.ledger.accounts(&customer.number);
    let checked = if text(form, "direct") == "ja" {
        " checked"
    } else {
        ""
    };
    let body = format!(
        r#"{}<form id="overmaken" method="post" action="{BASE}/overmaken"><input type="hidden" name="formtoken" value="{}">{}{}<div class="regel"><label><input id="direct" name="direct" type="checkbox" value="ja"{checked}> Direct overmaken (binnen enkele seconden)</label></div>{}<button class="knop" id="controleren" type="submit">Controleren</button></form>"#,
        errors(problems),
        escape(&customer.session.csrf),
        order_fields(&accounts, form),
        input(
            "datum",
            "Uitvoerdatum (dd-mm-jjjj, leeg is vandaag)",
            text(form, "datum"),
            r#"placeholder="dd-mm-jjjj""#
        ),
        input(
            "kenmerk",
            "Uw kenmerk (niet verplicht)",
            text(form, "kenmerk"),
            r#"maxlength="35""#
        ),
    );
    render(&customer.frame, "overmaken", "Geld overmaken", &body)
}

/// The transfer form sent: problems show the form again with what was typed, else the read-back.
pub(crate) async fn transfer(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let ledger = &customer.site.shared.ledger;
    let accounts = ledger.accounts(&customer.number);
    let mut problems = Vec::new();
    let request = read_order(&form, &accounts, &mut problems);
    let date = optional_day(&form, "datum", "Uitvoerdatum", &mut problems);
    let today = ledger.today();
    if date.is_some_and(|d| d < today) {
        problems.push(format!(
            "Uitvoerdatum: ligt in het verleden (vandaag is {})",
            day(today)
        ));
    }
    let instant = text(&form, "direct") == "ja";
    if instant && date.is_some_and(|d| d > today) {
        problems.push("Uitvoerdatum: direct overmaken gebeurt vandaag".to_owned());
    }
    match request {
        Some(mut request) if problems.is_empty() => {
            request.requested_execution_date = date;
            if instant {
                request.product = PaymentProduct::InstantSepaCreditTransfer;
            }
            let draft = uuid::Uuid::new_v4().to_string();
            customer.change(|s| s.drafts.payment = Some((draft, request)));
            go("/overmaken/controle")
        }
        _ => transfer_form(&customer, &form, &problems),
    }
}

/// The transfer as the bank understood it (class `scherm-overmaken-controle`).
pub(crate) async fn transfer_check_page(customer: Customer) -> Response {
    let Some((_, request)) = &customer.session.drafts.payment else {
        return go("/overmaken");
    };
    let today = customer.site.shared.ledger.today();
    let items = [
        (
            "van",
            "Van rekening",
            escape(&debtor_words(&customer, &request.debtor)),
        ),
        ("naam", "Naam begunstigde", escape(&request.creditor_name)),
        (
            "iban",
            "IBAN begunstigde",
            escape(&request.creditor.paper()),
        ),
        ("bedrag", "Bedrag", escape(&euro(&request.amount))),
        (
            "omschrijving",
            "Omschrijving",
            escape(request.remittance.as_deref().unwrap_or("")),
        ),
        (
            "datum",
            "Uitvoerdatum",
            escape(&day(request.requested_execution_date.unwrap_or(today))),
        ),
        (
            "direct",
            "Direct overmaken",
            yes_no(request.product == PaymentProduct::InstantSepaCreditTransfer).to_owned(),
        ),
        (
            "kenmerk",
            "Uw kenmerk",
            escape(request.end_to_end_id.as_str()),
        ),
    ];
    let body = read_back(&customer, &items, "/overmaken/controle");
    render(
        &customer.frame,
        "overmaken-controle",
        "Controleer uw overboeking",
        &body,
    )
}

/// "Bevestigen" records the transfer once and goes to signing; "Wijzigen" drops the draft.
pub(crate) async fn transfer_check(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    customer.confirm_draft(
        &form,
        "bevestigen",
        |d| &mut d.payment,
        "/overmaken",
        |ledger, number, request, draft| ledger.initiate_payment(number, request, Some(draft)),
    )
}

/// The standing-order form (class `scherm-periodiek`).
pub(crate) async fn order_page(customer: Customer) -> Response {
    let mut form = HashMap::new();
    form.insert("frequentie".to_owned(), "maand".to_owned());
    order_form(&customer, &form, &[])
}

fn order_form(
    customer: &Customer,
    form: &HashMap<String, String>,
    problems: &[String],
) -> Response {
    let accounts = customer.site.shared.ledger.accounts(&customer.number);
    let frequencies: Vec<(String, String)> = FREQUENCIES
        .iter()
        .map(|(_, value, words)| ((*value).to_owned(), (*words).to_owned()))
        .collect();
    let body = format!(
        r#"{}<form id="periodiek" method="post" action="{BASE}/periodiek"><input type="hidden" name="formtoken" value="{}">{}{}{}{}{}{}<button class="knop" id="controleren" type="submit">Controleren</button></form>"#,
        errors(problems),
        escape(&customer.session.csrf),
        order_fields(&accounts, form),
        input(
            "eerste",
            "Eerste uitvoering (dd-mm-jjjj)",
            text(form, "eerste"),
            r#"placeholder="dd-mm-jjjj""#
        ),
        input(
            "laatste",
            "Laatste uitvoering (niet verplicht)",
            text(form, "laatste"),
            r#"placeholder="dd-mm-jjjj""#
        ),
        select(
            "frequentie",
            "Hoe vaak",
            &frequencies,
            text(form, "frequentie")
        ),
        input(
            "dag",
            "Dag van uitvoering (1–31, niet verplicht)",
            text(form, "dag"),
            r#"inputmode="numeric""#
        ),
        input(
            "kenmerk",
            "Uw kenmerk (niet verplicht)",
            text(form, "kenmerk"),
            r#"maxlength="35""#
        ),
    );
    render(
        &customer.frame,
        "periodiek",
        "Nieuwe periodieke opdracht",
        &body,
    )
}

/// The standing-order form sent: problems show the form again, else the read-back.
pub(crate) async fn order(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let ledger = &customer.site.shared.ledger;
    let accounts = ledger.accounts(&customer.number);
    let mut problems = Vec::new();
    let payment = read_order(&form, &accounts, &mut problems);
    let start = optional_day(&form, "eerste", "Eerste uitvoering", &mut problems);
    if text(&form, "eerste").is_empty() {
        problems.push("Eerste uitvoering: is verplicht".to_owned());
    }
    let today = ledger.today();
    if start.is_some_and(|d| d < today) {
        problems.push(format!(
            "Eerste uitvoering: ligt in het verleden (vandaag is {})",
            day(today)
        ));
    }
    let end = optional_day(&form, "laatste", "Laatste uitvoering", &mut problems);
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        problems.push("Laatste uitvoering: ligt voor de eerste".to_owned());
    }
    let chosen = FREQUENCIES
        .iter()
        .find(|(_, value, _)| *value == text(&form, "frequentie"))
        .map(|(f, _, _)| *f);
    if chosen.is_none() {
        problems.push(format!(
            "Hoe vaak: {:?} is geen keuze van de lijst",
            text(&form, "frequentie")
        ));
    }
    let day_of_execution = match text(&form, "dag") {
        "" => None,
        typed => match typed.parse::<u8>() {
            Ok(d) if (1..=31).contains(&d) => Some(d),
            _ => {
                problems.push(format!(
                    "Dag van uitvoering: {typed:?} is geen dag van 1 tot 31"
                ));
                None
            }
        },
    };
    match (payment, start, chosen) {
        (Some(payment), Some(start_date), Some(frequency)) if problems.is_empty() => {
            let request = StandingOrderRequest {
                payment,
                start_date,
                end_date: end,
                frequency,
                day_of_execution,
                execution_rule: ExecutionRule::Following,
            };
            let draft = uuid::Uuid::new_v4().to_string();
            customer.change(|s| s.drafts.order = Some((draft, request)));
            go("/periodiek/controle")
        }
        _ => order_form(&customer, &form, &problems),
    }
}

/// The standing order as the bank understood it (class `scherm-periodiek-controle`).
pub(crate) async fn order_check_page(customer: Customer) -> Response {
    let Some((_, request)) = &customer.session.drafts.order else {
        return go("/periodiek");
    };
    let p = &request.payment;
    let items = [
        (
            "van",
            "Van rekening",
            escape(&debtor_words(&customer, &p.debtor)),
        ),
        ("naam", "Naam begunstigde", escape(&p.creditor_name)),
        ("iban", "IBAN begunstigde", escape(&p.creditor.paper())),
        ("bedrag", "Bedrag", escape(&euro(&p.amount))),
        (
            "omschrijving",
            "Omschrijving",
            escape(p.remittance.as_deref().unwrap_or("")),
        ),
        (
            "eerste",
            "Eerste uitvoering",
            escape(&day(request.start_date)),
        ),
        (
            "laatste",
            "Laatste uitvoering",
            escape(
                &request
                    .end_date
                    .map(day)
                    .unwrap_or_else(|| "Tot intrekking".to_owned()),
            ),
        ),
        (
            "frequentie",
            "Hoe vaak",
            escape(frequency(request.frequency)),
        ),
        (
            "dag",
            "Dag van uitvoering",
            request
                .day_of_execution
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
        ("kenmerk", "Uw kenmerk", escape(p.end_to_end_id.as_str())),
    ];
    let body = read_back(&customer, &items, "/periodiek/controle");
    render(
        &customer.frame,
        "periodiek-controle",
        "Controleer uw periodieke opdracht",
        &body,
    )
}

/// "Bevestigen" records the standing order once and goes to signing; "Wijzigen" drops the draft.
pub(crate) async fn order_check(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    customer.confirm_draft(
        &form,
        "bevestigen",
        |d| &mut d.order,
        "/periodiek",
        |ledger, number, request, draft| ledger.create_standing_order(number, request, Some(draft)),
    )
}
