//! Payments: the transfer form, its read-back, signing with the card reader (shared by standing orders and
//! files), the result, the list of payments, a payment's page, and cancelling.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use time::Date;

use super::html::{self, Button, Col, Field, FormData, Layout, Row, escape, url_encode};
use super::page::{amount_html, error_page, refusal, render};
use super::session::Signing;
use super::visitor::Customer;
use crate::ledger::{LedgerError, PaymentDetail, PaymentRecord};
use psd2_fallback_engine::model::belgian::{
    format_amount, format_date, format_number, parse_amount, parse_date,
};
use psd2_fallback_engine::model::{
    Account, Amount, Currency, EndToEndId, Iban, PaymentId, PaymentKind, PaymentProduct,
    PaymentRequest, PaymentStatus, ScaTarget,
};

const CONTINUE: Button = Button {
    v1: "payment-submit",
    v1_text: "Continue",
    v2: "review-transfer",
    v2_text: "Review transfer",
};

/// "Confirm" on a read-back page.
pub(crate) const CONFIRM: Button = Button {
    v1: "confirm",
    v1_text: "Confirm",
    v2: "approve",
    v2_text: "Approve",
};

/// "Cancel" on a read-back page.
pub(crate) const DISCARD: Button = Button {
    v1: "cancel",
    v1_text: "Cancel",
    v2: "discard",
    v2_text: "Discard",
};

const SIGN: Button = Button {
    v1: "sign-submit",
    v1_text: "Sign",
    v2: "confirm-signature",
    v2_text: "Confirm with card reader",
};

const CANCEL_PAYMENT: Button = Button {
    v1: "cancel-payment",
    v1_text: "Cancel",
    v2: "revoke",
    v2_text: "Revoke",
};

/// The words for a status code.
pub(crate) fn status_text(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Received => "Waiting for your signature",
        PaymentStatus::PartiallyAcceptedTechnical => "Partly accepted",
        PaymentStatus::AcceptedTechnical => "Accepted, to be executed",
        PaymentStatus::AcceptedFundsChecked => "Accepted, funds checked",
        PaymentStatus::AcceptedCustomerProfile => "Accepted",
        PaymentStatus::AcceptedWithChange => "Accepted with changes",
        PaymentStatus::AcceptedSettlementInProcess => "Being executed",
        PaymentStatus::AcceptedWithoutPosting => "Accepted, not booked",
        PaymentStatus::AcceptedSettlementCompleted => "Executed",
        PaymentStatus::AcceptedCreditSettlementCompleted => "Executed and credited",
        PaymentStatus::Pending => "Pending",
        PaymentStatus::PartiallyAccepted => "Partly executed",
        PaymentStatus::Rejected => "Rejected",
        PaymentStatus::Cancelled => "Cancelled",
    }
}

/// The account options of a "from account" select: value is the electronic IBAN.
pub(crate) fn account_options(accounts: &[Account]) -> Vec<(String, String)> {
    accounts
        .iter()
        .map(|a| {
            (
                a.iban.as_str().to_owned(),
                format!("{} – {}", a.name, a.iban.paper()),
            )
        })
        .collect()
}

/// The fields a payment and a standing order share: from, beneficiary, IBAN, amount, communication.
pub(crate) fn payment_fields(layout: Layout, accounts: &[Account], values: &FormData) -> String {
    [
        html::select(
            layout,
            Field::Account,
            "From account",
            &account_options(accounts),
            values.get(Field::Account),
        ),
        html::input(
            layout,
            Field::CreditorName,
            "Beneficiary name",
            "text",
            values.get(Field::CreditorName),
            r#"maxlength="70""#,
        ),
        html::input(
            layout,
            Field::CreditorIban,
            "Beneficiary IBAN",
            "text",
            values.get(Field::CreditorIban),
            r#"placeholder="BE68 5390 0754 7034""#,
        ),
        html::input(
            layout,
            Field::Amount,
            "Amount (EUR)",
            "text",
            values.get(Field::Amount),
            r#"placeholder="1.234,56" inputmode="decimal""#,
        ),
        html::input(
            layout,
            Field::Communication,
            "Communication",
            "text",
            values.get(Field::Communication),
            r#"maxlength="140""#,
        ),
    ]
    .concat()
}

/// Reads the shared payment fields; every error names its field.
pub(crate) fn parse_payment_fields(
    form: &FormData,
    accounts: &[Account],
    errors: &mut Vec<(Field, String)>,
) -> Option<PaymentRequest> {
    let debtor = accounts
        .iter()
        .find(|a| a.iban.as_str() == form.get(Field::Account))
        .map(|a| a.iban.clone());
    if debtor.is_none() {
        errors.push((
            Field::Account,
            "From account: choose one of your accounts".to_owned(),
        ));
    }
    let name = form.get(Field::CreditorName);
    if name.is_empty() {
        errors.push((
            Field::CreditorName,
            "Beneficiary name: is required".to_owned(),
        ));
    } else if name.chars().count() > 70 {
        errors.push((
            Field::CreditorName,
            "Beneficiary name: at most 70 characters".to_owned(),
        ));
    }
    let creditor = match form.get(Field::CreditorIban) {
        "" => {
            errors.push((
                Field::CreditorIban,
                "Beneficiary IBAN: is required".to_owned(),
            ));
            None
        }
        text => Iban::parse(text)
            .map_err(|e| {
                errors.push((
                    Field::CreditorIban,
                    format!("Beneficiary IBAN: {}", e.reason),
                ))
            })
            .ok(),
    };
    let amount = match form.get(Field::Amount) {
        "" => {
            errors.push((Field::Amount, "Amount: is required".to_owned()));
            None
        }
        text => match parse_amount(text, Some(Currency::EUR)) {
            Ok(a) if a.currency() != Currency::EUR => {
                errors.push((
                    Field::Amount,
                    "Amount: only EUR payments are possible".to_owned(),
                ));
                None
            }
            Ok(a) if !a.is_positive() => {
                errors.push((
                    Field::Amount,
                    "Amount: must be greater than zero".to_owned(),
                ));
                None
            }
            Ok(a) => Some(a),
            Err(e) => {
                errors.push((Field::Amount, format!("Amount: {}", e.reason)));
                None
            }
        },
    };
    let communication = form.get(Field::Communication);
    if communication.chars().count() > 140 {
        errors.push((
            Field::Communication,
            "Communication: at most 140 characters".to_owned(),
        ));
    }
    let reference = match form.get(Field::Reference) {
        "" => Some(EndToEndId::generate()),
        text => EndToEndId::new(text)
            .map_err(|e| errors.push((Field::Reference, format!("Your reference: {}", e.reason))))
            .ok(),
    };
    if let (Some(d), Some(c)) = (&debtor, &creditor)
        && d == c
    {
        errors.push((
            Field::CreditorIban,
            "Beneficiary IBAN: is the account you pay from".to_owned(),
        ));
    }
    Some(PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: debtor?,
        creditor_name: name.to_owned(),
        creditor: creditor?,
        amount: amount?,
        remittance: (!communication.is_empty()).then(|| communication.to_owned()),
        requested_execution_date: None,
        end_to_end_id: reference?,
    })
}

/// An optional date field; the error names the field by its label.
pub(crate) fn optional_date(
    form: &FormData,
    field: Field,
    label: &str,
    errors: &mut Vec<(Field, String)>,
) -> Option<Date> {
    match form.get(field) {
        "" => None,
        text => parse_date(text)
            .map_err(|e| errors.push((field, format!("{label}: {}", e.reason))))
            .ok(),
    }
}

/// The transfer form (marker `payment-new`).
pub(crate) async fn new_page(customer: Customer) -> Response {
    payment_form(&customer, &FormData::default(), &[], None)
}

fn payment_form(
    customer: &Customer,
    values: &FormData,
    errors: &[(Field, String)],
    refusal: Option<&str>,
) -> Response {
    let layout = customer.layout();
    let accounts = customer.web.shared.ledger.accounts(&customer.customer);
    let mut body = html::field_errors(layout, errors);
    if let Some(text) = refusal {
        body.push_str(&html::error(layout, text));
    }
    let inner = format!(
        "{}{}{}{}{}",
        payment_fields(layout, &accounts, values),
        html::input(
            layout,
            Field::ExecutionDate,
            "Execution date (dd/mm/yyyy, empty for today)",
            "text",
            values.get(Field::ExecutionDate),
            r#"placeholder="dd/mm/yyyy""#
        ),
        html::checkbox(
            layout,
            Field::Instant,
            "Instant payment",
            values.checked(Field::Instant)
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
    body.push_str(&html::form(
        layout,
        ("payment-form", "transfer-form"),
        "/payments/new",
        Some(customer.csrf()),
        &inner,
    ));
    let title = match layout {
        Layout::V1 => "New payment",
        Layout::V2 => "Transfer money",
    };
    render(&customer.chrome, "payment-new", title, &body)
}

/// Checks the transfer form; errors re-render it with the values kept, else the read-back follows.
pub(crate) async fn new_submit(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let accounts = customer.web.shared.ledger.accounts(&customer.customer);
    let mut errors = Vec::new();
    let request = parse_payment_fields(&form, &accounts, &mut errors);
    let date = optional_date(&form, Field::ExecutionDate, "Execution date", &mut errors);
    let today = customer.web.shared.ledger.today();
    if date.is_some_and(|d| d < today) {
        errors.push((
            Field::ExecutionDate,
            format!(
                "Execution date: is in the past (today is {})",
                format_date(today)
            ),
        ));
    }
    let instant = form.checked(Field::Instant);
    if instant && date.is_some_and(|d| d > today) {
        errors.push((
            Field::ExecutionDate,
            "Execution date: an instant payment is executed today".to_owned(),
        ));
    }
    match request {
        Some(mut request) if errors.is_empty() => {
            request.requested_execution_date = date;
            if instant {
                request.product = PaymentProduct::InstantSepaCreditTransfer;
            }
            let draft = uuid::Uuid::new_v4().to_string();
            customer.update(|s| s.drafts.payment = Some((draft, request)));
            Redirect::to("/payments/confirm").into_response()
        }
        _ => payment_form(&customer, &form, &errors, None),
    }
}

/// The read-back of the transfer as the bank understood it (marker `payment-confirm`).
pub(crate) async fn confirm_page(customer: Customer) -> Response {
    let Some((_, request)) = &customer.session.drafts.payment else {
        return Redirect::to("/payments/new").into_response();
    };
    let ledger = &customer.web.shared.ledger;
    let from = ledger
        .account_by_iban(&customer.customer, &request.debtor)
        .map(|a| format!("{} – {}", a.name, a.iban.paper()))
        .unwrap_or_else(|_| request.debtor.paper());
    let date = request
        .requested_execution_date
        .map(format_date)
        .unwrap_or_else(|| format_date(ledger.today()));
    let items = [
        ("confirm-from", "From account", escape(&from)),
        (
            "confirm-beneficiary",
            "Beneficiary",
            escape(&request.creditor_name),
        ),
        (
            "confirm-iban",
            "Beneficiary IBAN",
            escape(&request.creditor.paper()),
        ),
        (
            "confirm-amount",
            "Amount",
            escape(&format_amount(&request.amount)),
        ),
        (
            "confirm-communication",
            "Communication",
            escape(request.remittance.as_deref().unwrap_or("")),
        ),
        ("confirm-date", "Execution date", escape(&date)),
        (
            "confirm-instant",
            "Instant payment",
            (if request.product == PaymentProduct::InstantSepaCreditTransfer {
                "Yes"
            } else {
                "No"
            })
            .to_owned(),
        ),
        (
            "confirm-reference",
            "Your reference",
            escape(request.end_to_end_id.as_str()),
        ),
    ];
    let body = read_back(
        &customer,
        ("confirmation", "transfer-review"),
        &items,
        "/payments/confirm",
    );
    render(
        &customer.chrome,
        "payment-confirm",
        "Check your payment",
        &body,
    )
}

/// A read-back table with "Confirm" and "Cancel".
pub(crate) fn read_back(
    customer: &Customer,
    id: (&str, &str),
    items: &[(&str, &str, String)],
    action: &str,
) -> String {
    let layout = customer.layout();
    let buttons = format!(
        "{}{}",
        html::button(layout, &CONFIRM, false, Some("confirm")),
        html::button(layout, &DISCARD, false, Some("cancel"))
    );
    format!(
        "<p>Please check every detail before you confirm.</p>{}{}",
        html::details(layout, id, items),
        html::form(
            layout,
            ("confirm-form", "review-form"),
            action,
            Some(customer.csrf()),
            &buttons
        )
    )
}

/// "Confirm" records the payment (once, whatever the retries) and goes to signing; "Cancel" drops it.
pub(crate) async fn confirm(
    customer: Customer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let Some((draft, request)) = customer.session.drafts.payment.clone() else {
        return Redirect::to("/payments/new").into_response();
    };
    if form.get(Field::Decision) == "cancel" {
        customer.update(|s| s.drafts.payment = None);
        return Redirect::to("/payments/new").into_response();
    }
    match customer
        .web
        .shared
        .ledger
        .initiate_payment(&customer.customer, request, Some(&draft))
    {
        Ok(initiation) => {
            customer.update(|s| s.drafts.payment = None);
            Redirect::to(&format!(
                "/sign/{}",
                url_encode(initiation.payment.id.as_str())
            ))
            .into_response()
        }
        Err(error) => refused(&customer, "Payment refused", &error, "/payments/new"),
    }
}

/// The error screen for a ledger refusal.
pub(crate) fn refused(
    customer: &Customer,
    title: &str,
    error: &LedgerError,
    back: &str,
) -> Response {
    let status = match error {
        LedgerError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    error_page(&customer.chrome, status, title, &refusal(error), back)
}

/// What a payment record pays, for lists and summaries: (beneficiary, IBAN, amount, date).
fn summary(record: &PaymentRecord) -> (String, String, String, String) {
    match &record.detail {
        PaymentDetail::Single(p) => (
            p.creditor_name.clone(),
            p.creditor.paper(),
            format_amount(&p.amount),
            p.requested_execution_date
                .map(format_date)
                .unwrap_or_else(|| "As soon as possible".to_owned()),
        ),
        PaymentDetail::Periodic(s) => (
            s.payment.creditor_name.clone(),
            s.payment.creditor.paper(),
            format_amount(&s.payment.amount),
            format_date(s.start_date),
        ),
        PaymentDetail::File { payments, .. } => {
            let total: rust_decimal::Decimal = payments.iter().map(|(p, _)| p.amount.value()).sum();
            let first = payments
                .iter()
                .map(|(p, _)| p.requested_execution_date)
                .min();
            (
                format!("{} payment(s)", payments.len()),
                String::new(),
                euros(total),
                first.map(format_date).unwrap_or_default(),
            )
        }
    }
}

/// A euro sum in Belgian format.
pub(crate) fn euros(value: rust_decimal::Decimal) -> String {
    Amount::eur(value)
        .map(|a| format_amount(&a))
        .unwrap_or_else(|_| format!("{} EUR", format_number(value)))
}

fn kind_text(kind: PaymentKind) -> &'static str {
    match kind {
        PaymentKind::Single(PaymentProduct::InstantSepaCreditTransfer) => "Instant transfer",
        PaymentKind::Single(_) => "Transfer",
        PaymentKind::Periodic(_) => "Standing order",
        PaymentKind::File => "Payment file",
    }
}

fn end_to_end(record: &PaymentRecord) -> String {
    match &record.detail {
        PaymentDetail::Single(p) => p.end_to_end_id.to_string(),
        PaymentDetail::Periodic(s) => s.payment.end_to_end_id.to_string(),
        PaymentDetail::File { message_id, .. } => message_id.clone(),
    }
}

/// A cancel button posting to `/payments/{id}/cancel`, coming back to `back`.
pub(crate) fn cancel_form(
    customer: &Customer,
    id: &PaymentId,
    back: &str,
    repeated: bool,
) -> String {
    let layout = customer.layout();
    let form_attr = if repeated {
        r#"class="cancel-form""#
    } else {
        r#"id="cancel-form""#
    };
    format!(
        r#"<form {form_attr} method="post" action="/payments/{}/cancel">{}{}{}</form>"#,
        url_encode(id.as_str()),
        html::hidden(layout, Field::Csrf, customer.csrf()),
        html::hidden(layout, Field::Return, back),
        html::button(layout, &CANCEL_PAYMENT, repeated, None)
    )
}

/// Every payment, standing order and file of the customer (marker `payments`).
pub(crate) async fn list(
    customer: Customer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let layout = customer.layout();
    let records = customer.web.shared.ledger.payments(&customer.customer);
    let cols = [
        Col {
            key: "payment-reference",
            label: "Reference",
        },
        Col {
            key: "payment-kind",
            label: "Type",
        },
        Col {
            key: "payment-e2e",
            label: "End-to-end id",
        },
        Col {
            key: "payment-beneficiary",
            label: "Beneficiary",
        },
        Col {
            key: "payment-amount",
            label: "Amount",
        },
        Col {
            key: "payment-date",
            label: "Date",
        },
        Col {
            key: "payment-status",
            label: "Status",
        },
        Col {
            key: "payment-status-text",
            label: "",
        },
        Col {
            key: "payment-actions",
            label: "",
        },
    ];
    let rows: Vec<Row> = records
        .iter()
        .map(|r| {
            let (beneficiary, _, amount, date) = summary(r);
            let id = &r.payment.id;
            Row {
                attrs: format!(r#"data-payment-id="{}""#, escape(id.as_str())),
                cells: vec![
                    format!(
                        r#"<a href="/payments/{}">{}</a>"#,
                        url_encode(id.as_str()),
                        escape(id.as_str())
                    ),
                    escape(kind_text(r.payment.kind)),
                    escape(&end_to_end(r)),
                    escape(&beneficiary),
                    escape(&amount),
                    escape(&date),
                    escape(r.status.code()),
                    escape(status_text(r.status)),
                    if r.cancellable {
                        cancel_form(&customer, id, "/payments", true)
                    } else {
                        String::new()
                    },
                ],
            }
        })
        .collect();
    let mut body = String::new();
    if let Some(id) = query.get("cancelled") {
        body.push_str(&html::notice(layout, &format!("{id} is cancelled.")));
    }
    body.push_str(&html::records(
        layout,
        ("payments", "payment-cards"),
        ("payment-row", "pay-card"),
        &cols,
        &rows,
    ));
    render(&customer.chrome, "payments", "Payments", &body)
}

/// One payment, standing order or file with its status (marker `payment`).
pub(crate) async fn detail(customer: Customer, Path(id): Path<String>) -> Response {
    let layout = customer.layout();
    let id = PaymentId::new(id);
    let record = match customer.web.shared.ledger.payment(&customer.customer, &id) {
        Ok(r) => r,
        Err(error) => return refused(&customer, "Payment not found", &error, "/payments"),
    };
    let mut items = facts(&record);
    if let Some(reason) = &record.reason {
        items.push(("payment-reason", "Remark", escape(reason)));
    }
    let mut body = html::details(layout, ("payment-detail", "payment-facts"), &items);
    if let PaymentDetail::File { payments, .. } = &record.detail {
        let lines: Vec<_> = payments.iter().map(|(p, s)| (p, Some(*s))).collect();
        body.push_str(&file_lines(layout, &lines));
    }
    if record.status == PaymentStatus::Received {
        body.push_str(&format!(
            "<p>{}</p>",
            html::link(
                layout,
                &format!("/sign/{}", url_encode(id.as_str())),
                "sign-link",
                "sign",
                "Sign now"
            )
        ));
    }
    if record.cancellable {
        body.push_str(&cancel_form(
            &customer,
            &id,
            &format!("/payments/{}", url_encode(id.as_str())),
            false,
        ));
    }
    body.push_str(&format!(
        "<p>{}</p>",
        html::link(
            layout,
            "/payments",
            "back-to-payments",
            "back",
            "All payments"
        )
    ));
    render(
        &customer.chrome,
        "payment",
        &format!("{} {}", kind_text(record.payment.kind), id),
        &body,
    )
}

/// A record's facts under keys `payment-reference`, `-kind`, `-status`, `-status-text`, `-e2e`,
/// `-from`, `-beneficiary`, `-iban`, `-amount`, `-communication`, `-date` (and for standing orders
/// `-frequency`, `-end`, `-day`; for files `-message-id`, `-count`).
fn facts(record: &PaymentRecord) -> Vec<(&'static str, &'static str, String)> {
    let (beneficiary, iban, amount, date) = summary(record);
    let mut items = vec![
        (
            "payment-reference",
            "Reference",
            escape(record.payment.id.as_str()),
        ),
        (
            "payment-kind",
            "Type",
            escape(kind_text(record.payment.kind)),
        ),
        ("payment-status", "Status", escape(record.status.code())),
        (
            "payment-status-text",
            "Status (in words)",
            escape(status_text(record.status)),
        ),
    ];
    match &record.detail {
        PaymentDetail::Single(p) => items.extend([
            (
                "payment-e2e",
                "End-to-end id",
                escape(p.end_to_end_id.as_str()),
            ),
            ("payment-from", "From account", escape(&p.debtor.paper())),
            ("payment-beneficiary", "Beneficiary", escape(&beneficiary)),
            ("payment-iban", "Beneficiary IBAN", escape(&iban)),
            ("payment-amount", "Amount", escape(&amount)),
            (
                "payment-communication",
                "Communication",
                escape(p.remittance.as_deref().unwrap_or("")),
            ),
            ("payment-date", "Execution date", escape(&date)),
        ]),
        PaymentDetail::Periodic(s) => items.extend([
            (
                "payment-e2e",
                "End-to-end id",
                escape(s.payment.end_to_end_id.as_str()),
            ),
            (
                "payment-from",
                "From account",
                escape(&s.payment.debtor.paper()),
            ),
            ("payment-beneficiary", "Beneficiary", escape(&beneficiary)),
            ("payment-iban", "Beneficiary IBAN", escape(&iban)),
            ("payment-amount", "Amount", escape(&amount)),
            (
                "payment-communication",
                "Communication",
                escape(s.payment.remittance.as_deref().unwrap_or("")),
            ),
            ("payment-date", "Start date", escape(&date)),
            (
                "payment-end",
                "End date",
                escape(
                    &s.end_date
                        .map(format_date)
                        .unwrap_or_else(|| "Until cancelled".to_owned()),
                ),
            ),
            ("payment-frequency", "Frequency", escape(s.frequency.code())),
            (
                "payment-day",
                "Day of execution",
                s.day_of_execution
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            ),
        ]),
        PaymentDetail::File {
            message_id,
            payments,
        } => items.extend([
            ("payment-message-id", "Message id", escape(message_id)),
            (
                "payment-count",
                "Number of payments",
                payments.len().to_string(),
            ),
            ("payment-amount", "Total", escape(&amount)),
            ("payment-date", "First execution date", escape(&date)),
        ]),
    }
    items
}

/// A file's payments with their own statuses.
pub(crate) fn file_lines(
    layout: Layout,
    payments: &[(
        &psd2_fallback_engine::model::FilePayment,
        Option<PaymentStatus>,
    )],
) -> String {
    let cols = [
        Col {
            key: "line-debtor",
            label: "From",
        },
        Col {
            key: "line-beneficiary",
            label: "Beneficiary",
        },
        Col {
            key: "line-iban",
            label: "IBAN",
        },
        Col {
            key: "line-amount",
            label: "Amount",
        },
        Col {
            key: "line-date",
            label: "Date",
        },
        Col {
            key: "line-e2e",
            label: "End-to-end id",
        },
        Col {
            key: "line-communication",
            label: "Communication",
        },
        Col {
            key: "line-status",
            label: "Status",
        },
    ];
    let rows: Vec<Row> = payments
        .iter()
        .map(|(p, status)| Row {
            attrs: String::new(),
            cells: vec![
                escape(&p.debtor.paper()),
                escape(&p.creditor_name),
                escape(&p.creditor.paper()),
                amount_html(&p.amount),
                escape(&format_date(p.requested_execution_date)),
                escape(&p.end_to_end_id),
                escape(p.remittance.as_deref().unwrap_or("")),
                escape(status.map(PaymentStatus::code).unwrap_or("")),
            ],
        })
        .collect();
    html::records(
        layout,
        ("file-payments", "batch-lines"),
        ("file-line", "line"),
        &cols,
        &rows,
    )
}

/// Cancels a payment, standing order or file, then goes back where the button was.
pub(crate) async fn cancel(
    customer: Customer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let id = PaymentId::new(id);
    let back = form.get(Field::Return);
    let back = if back.starts_with('/') && !back.starts_with("//") {
        back.to_owned()
    } else {
        "/payments".to_owned()
    };
    match customer.web.shared.ledger.cancel(&customer.customer, &id) {
        Ok(_) => {
            let sep = if back.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{back}{sep}cancelled={}", url_encode(id.as_str())))
                .into_response()
        }
        Err(error) => refused(&customer, "Cancellation refused", &error, &back),
    }
}

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
    let signing = match customer.session.signing.get(&id) {
        Some(signing) => signing.clone(),
        None => match ledger.start_signing(&customer.customer, &record.payment) {
            Ok(challenge) => {
                let signing = Signing {
                    authorisation: challenge.authorisation_id,
                    challenge: challenge.data,
                    attempts_left: crate::ledger::SCA_ATTEMPTS,
                };
                customer.update(|s| s.signing.insert(id.clone(), signing.clone()));
                signing
            }
            Err(error) => return refused(&customer, "Signing refused", &error, "/payments"),
        },
    };
    sign_screen(&customer, &record, &signing, None)
}

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
