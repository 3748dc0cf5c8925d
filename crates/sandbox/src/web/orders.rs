//! Standing orders: the list of active ones, the form, its read-back; signing and cancelling are the
//! payments' (a standing order is a payment resource).

use std::collections::HashMap;

use axum::Form;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect, Response};

use super::html::{self, Button, Col, Field, FormData, Layout, Row, escape, url_encode};
use super::page::render;
use super::payments::describe::refused;
use super::payments::fields::{optional_date, parse_payment_fields, payment_fields, read_back};
use super::payments::list::cancel_form;
use super::visitor::Customer;
use psd2_fallback_engine::model::belgian::{format_amount, format_date};
use psd2_fallback_engine::model::{ExecutionRule, Frequency, PaymentStatus, StandingOrderRequest};

const CONTINUE: Button = Button {
    v1: "order-submit",
    v1_text: "Continue",
    v2: "review-order",
    v2_text: "Review standing order",
};

fn frequency_text(f: Frequency) -> &'static str {
    match f {
        Frequency::Daily => "Every day",
        Frequency::Weekly => "Every week",
        Frequency::EveryTwoWeeks => "Every two weeks",
        Frequency::Monthly => "Every month",
        Frequency::EveryTwoMonths => "Every two months",
        Frequency::Quarterly => "Every three months",
        Frequency::SemiAnnual => "Every six months",
        Frequency::Annual => "Every year",
    }
}

/// The active standing orders (marker `standing-orders`), each with a cancel button.
pub(crate) async fn list(
    customer: Customer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let layout = customer.layout();
    let orders = customer
        .web
        .shared
        .ledger
        .standing_orders(&customer.customer);
    let cols = [
        Col {
            key: "order-reference",
            label: "Reference",
        },
        Col {
            key: "order-from",
            label: "From",
        },
        Col {
            key: "order-beneficiary",
            label: "Beneficiary",
        },
        Col {
            key: "order-iban",
            label: "IBAN",
        },
        Col {
            key: "order-amount",
            label: "Amount",
        },
        Col {
            key: "order-frequency",
            label: "Frequency",
        },
        Col {
            key: "order-start",
            label: "Start",
        },
        Col {
            key: "order-end",
            label: "End",
        },
        Col {
            key: "order-day",
            label: "Day",
        },
        Col {
            key: "order-communication",
            label: "Communication",
        },
        Col {
            key: "order-status",
            label: "Status",
        },
        Col {
            key: "order-actions",
            label: "",
        },
    ];
    let rows: Vec<Row> = orders
        .iter()
        .filter(|o| !matches!(o.status, PaymentStatus::Cancelled | PaymentStatus::Rejected))
        .map(|o| {
            let p = &o.request.payment;
            Row {
                attrs: format!(
                    r#"data-order-id="{}" data-frequency="{}""#,
                    escape(o.id.as_str()),
                    o.request.frequency.code()
                ),
                cells: vec![
                    format!(
                        r#"<a href="/payments/{}">{}</a>"#,
                        url_encode(o.id.as_str()),
                        escape(o.id.as_str())
                    ),
                    escape(&p.debtor.paper()),
                    escape(&p.creditor_name),
                    escape(&p.creditor.paper()),
                    escape(&format_amount(&p.amount)),
                    escape(frequency_text(o.request.frequency)),
                    escape(&format_date(o.request.start_date)),
                    escape(&o.request.end_date.map(format_date).unwrap_or_default()),
                    o.request
                        .day_of_execution
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    escape(p.remittance.as_deref().unwrap_or("")),
                    escape(o.status.code()),
                    cancel_form(&customer, &o.id, "/standing-orders", true),
                ],
            }
        })
        .collect();
    let mut body = String::new();
    if let Some(id) = query.get("cancelled") {
        body.push_str(&html::notice(
            layout,
            &format!("Standing order {id} is cancelled."),
        ));
    }
    body.push_str(&format!(
        "<p>{}</p>",
        html::link(
            layout,
            "/standing-orders/new",
            "new-standing-order",
            "new-order",
            "New standing order"
        )
    ));
    body.push_str(&html::records(
        layout,
        ("standing-orders", "orders"),
        ("order-row", "order"),
        &cols,
        &rows,
    ));
    render(
        &customer.chrome,
        "standing-orders",
        "Standing orders",
        &body,
    )
}

/// The standing-order form (marker `standing-order-new`).
pub(crate) async fn new_page(customer: Customer) -> Response {
    let mut values = FormData::default();
    values
        .0
        .insert("frequency".to_owned(), "Monthly".to_owned());
    order_form(&customer, &values, &[])
}

fn order_form(customer: &Customer, values: &FormData, errors: &[(Field, String)]) -> Response {
    let layout = customer.layout();
    let accounts = customer.web.shared.ledger.accounts(&customer.customer);
    let frequencies: Vec<(String, String)> = Frequency::ALL
        .iter()
        .map(|f| (f.code().to_owned(), frequency_text(*f).to_owned()))
        .collect();
    let inner = format!(
        "{}{}{}{}{}{}{}",
        payment_fields(layout, &accounts, values),
        html::input(
            layout,
            Field::StartDate,
            "Start date (dd/mm/yyyy)",
            "text",
            values.get(Field::StartDate),
            r#"placeholder="dd/mm/yyyy""#
        ),
        html::input(
            layout,
            Field::EndDate,
            "End date (optional)",
            "text",
            values.get(Field::EndDate),
            r#"placeholder="dd/mm/yyyy""#
        ),
        html::select(
            layout,
            Field::Frequency,
            "Frequency",
            &frequencies,
            values.get(Field::Frequency)
        ),
        html::input(
            layout,
            Field::Day,
            "Day of execution (1–31, optional)",
            "number",
            values.get(Field::Day),
            r#"min="1" max="31""#
        ),
        html::input(
            layout,
            Field::Reference,
            "Your reference (optional)",
            "text",
            values.get(Field::Reference),
            r#"maxlength="35""#
        ),
        html::button(layout, &CONTINUE, false, None),
    );
    let body = format!(
        "{}{}",
        html::field_errors(layout, errors),
        html::form(
            layout,
            ("standing-order-form", "order-form"),
            "/standing-orders/new",
            Some(customer.csrf()),
            &inner
        )
    );
    let title = match layout {
        Layout::V1 => "New standing order",
        Layout::V2 => "Set up a recurring transfer",
    };
    render(&customer.chrome, "standing-order-new", title, &body)
}

/// Checks the form; errors re-render it with the values kept, else the read-back follows.
pub(crate) async fn new_submit(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let ledger = &customer.web.shared.ledger;
    let accounts = ledger.accounts(&customer.customer);
    let mut errors = Vec::new();
    let payment = parse_payment_fields(&form, &accounts, &mut errors);
    let start = optional_date(&form, Field::StartDate, "Start date", &mut errors);
    if start.is_none() && form.get(Field::StartDate).is_empty() {
        errors.push((Field::StartDate, "Start date: is required".to_owned()));
    }
    let today = ledger.today();
    if start.is_some_and(|d| d < today) {
        errors.push((
            Field::StartDate,
            format!(
                "Start date: is in the past (today is {})",
                format_date(today)
            ),
        ));
    }
    let end = optional_date(&form, Field::EndDate, "End date", &mut errors);
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        errors.push((
            Field::EndDate,
            "End date: is before the start date".to_owned(),
        ));
    }
    let frequency = Frequency::from_code(form.get(Field::Frequency));
    if frequency.is_none() {
        errors.push((
            Field::Frequency,
            format!(
                "Frequency: {:?} is not a known frequency",
                form.get(Field::Frequency)
            ),
        ));
    }
    let day = match form.get(Field::Day) {
        "" => None,
        text => match text.parse::<u8>() {
            Ok(d) if (1..=31).contains(&d) => Some(d),
            _ => {
                errors.push((
                    Field::Day,
                    format!("Day of execution: {text:?} is not a day from 1 to 31"),
                ));
                None
            }
        },
    };
    match (payment, start, frequency) {
        (Some(payment), Some(start_date), Some(frequency)) if errors.is_empty() => {
            let request = StandingOrderRequest {
                payment,
                start_date,
                end_date: end,
                frequency,
                day_of_execution: day,
                execution_rule: ExecutionRule::Following,
            };
            let draft = uuid::Uuid::new_v4().to_string();
            customer.update(|s| s.drafts.order = Some((draft, request)));
            Redirect::to("/standing-orders/confirm").into_response()
        }
        _ => order_form(&customer, &form, &errors),
    }
}

/// The read-back of the standing order (marker `standing-order-confirm`).
pub(crate) async fn confirm_page(customer: Customer) -> Response {
    let Some((_, request)) = &customer.session.drafts.order else {
        return Redirect::to("/standing-orders/new").into_response();
    };
    let p = &request.payment;
    let items = [
        ("confirm-from", "From account", escape(&p.debtor.paper())),
        (
            "confirm-beneficiary",
            "Beneficiary",
            escape(&p.creditor_name),
        ),
        (
            "confirm-iban",
            "Beneficiary IBAN",
            escape(&p.creditor.paper()),
        ),
        (
            "confirm-amount",
            "Amount",
            escape(&format_amount(&p.amount)),
        ),
        (
            "confirm-communication",
            "Communication",
            escape(p.remittance.as_deref().unwrap_or("")),
        ),
        (
            "confirm-start",
            "Start date",
            escape(&format_date(request.start_date)),
        ),
        (
            "confirm-end",
            "End date",
            escape(
                &request
                    .end_date
                    .map(format_date)
                    .unwrap_or_else(|| "Until cancelled".to_owned()),
            ),
        ),
        (
            "confirm-frequency",
            "Frequency",
            escape(request.frequency.code()),
        ),
        (
            "confirm-day",
            "Day of execution",
            request
                .day_of_execution
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
        (
            "confirm-reference",
            "Your reference",
            escape(p.end_to_end_id.as_str()),
        ),
    ];
    let body = read_back(
        &customer,
        ("confirmation", "order-review"),
        &items,
        "/standing-orders/confirm",
    );
    render(
        &customer.chrome,
        "standing-order-confirm",
        "Check your standing order",
        &body,
    )
}

/// "Confirm" records the standing order (once) and goes to signing; "Cancel" drops it.
pub(crate) async fn confirm(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let Some((draft, request)) = customer.session.drafts.order.clone() else {
        return Redirect::to("/standing-orders/new").into_response();
    };
    if form.get(Field::Decision) == "cancel" {
        customer.update(|s| s.drafts.order = None);
        return Redirect::to("/standing-orders").into_response();
    }
    match customer.web.shared.ledger.create_standing_order(
        &customer.customer,
        request,
        Some(&draft),
    ) {
        Ok(initiation) => {
            customer.update(|s| s.drafts.order = None);
            Redirect::to(&format!(
                "/sign/{}",
                url_encode(initiation.payment.id.as_str())
            ))
            .into_response()
        }
        Err(error) => refused(
            &customer,
            "Standing order refused",
            &error,
            "/standing-orders/new",
        ),
    }
}
