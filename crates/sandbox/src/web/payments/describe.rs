//! How the payment screens put a payment in words: its status, its kind, euro sums, what it pays, its
//! end-to-end id, a file's payments line by line, and a ledger refusal as the error screen.

use axum::http::StatusCode;
use axum::response::Response;

use crate::ledger::{LedgerError, PaymentRecord};
use crate::web::html::{self, Col, Layout, Row, escape};
use crate::web::page::{amount_html, error_page, refusal};
use crate::web::visitor::Customer;
use psd2_fallback_engine::model::belgian::{format_amount, format_date, format_number};
use psd2_fallback_engine::model::{Amount, PaymentKind, PaymentProduct, PaymentStatus};

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
pub(crate) fn summary(record: &PaymentRecord) -> (String, String, String, String) {
    let pays = record.pays();
    (
        pays.beneficiary
            .unwrap_or_else(|| format!("{} payment(s)", pays.count)),
        pays.iban.map(|i| i.paper()).unwrap_or_default(),
        match &pays.amount {
            Ok(amount) => format_amount(amount),
            Err(_) => String::new(),
        },
        match (pays.first_day, pays.count) {
            (Some(day), _) => format_date(day),
            (None, 1) => "As soon as possible".to_owned(),
            (None, _) => String::new(),
        },
    )
}

/// A euro sum in Belgian format.
pub(crate) fn euros(value: rust_decimal::Decimal) -> String {
    Amount::eur(value)
        .map(|a| format_amount(&a))
        .unwrap_or_else(|_| format!("{} EUR", format_number(value)))
}

/// The words for a kind of payment resource.
pub(crate) fn kind_text(kind: PaymentKind) -> &'static str {
    match kind {
        PaymentKind::Single(PaymentProduct::InstantSepaCreditTransfer) => "Instant transfer",
        PaymentKind::Single(_) => "Transfer",
        PaymentKind::Periodic(_) => "Standing order",
        PaymentKind::File => "Payment file",
    }
}

/// The customer's reference: a payment's end-to-end id, or a file's message id.
pub(crate) fn end_to_end(record: &PaymentRecord) -> String {
    record.reference()
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
