//! Payment files: uploading a pain.001 document, its summary, and sending it for signature.

use axum::extract::Multipart;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::html::{self, Button, Col, Field, FormData, Layout, Row, escape, url_encode};
use super::page::render;
use super::payments::describe::{euros, file_lines, refused, status_text};
use super::payments::fields::DISCARD;
use super::visitor::Customer;
use crate::ledger::PaymentDetail;
use psd2_fallback_engine::model::PaymentFile;

const UPLOAD: Button = Button {
    v1: "upload-submit",
    v1_text: "Upload",
    v2: "send-file",
    v2_text: "Send file",
};

const SIGN_FILE: Button = Button {
    v1: "file-sign",
    v1_text: "Sign file",
    v2: "submit-batch",
    v2_text: "Send for signature",
};

/// The upload form and the files sent so far (marker `files`).
pub(crate) async fn page(customer: Customer) -> Response {
    files_screen(&customer, StatusCode::OK, None)
}

fn files_screen(customer: &Customer, status: StatusCode, error: Option<&str>) -> Response {
    let layout = customer.layout();
    let mut body = String::new();
    if let Some(error) = error {
        body.push_str(&html::error(layout, error));
    }
    let form_id = match layout {
        Layout::V1 => "upload-form",
        Layout::V2 => "batch-upload",
    };
    body.push_str(&format!(
        r#"<p>Upload an ISO 20022 credit transfer file (pain.001.001.03 or pain.001.001.09, XML).</p><form id="{form_id}" method="post" action="/files" enctype="multipart/form-data">{}{}{}</form>"#,
        html::hidden(layout, Field::Csrf, customer.csrf()),
        html::input(layout, Field::File, "Payment file", "file", "", r#"accept=".xml,application/xml,text/xml""#),
        html::button(layout, &UPLOAD, false, None)
    ));
    let files: Vec<Row> = customer
        .web
        .shared
        .ledger
        .payments(&customer.customer)
        .into_iter()
        .filter_map(|r| match &r.detail {
            PaymentDetail::File {
                message_id,
                payments,
            } => {
                let total = payments.iter().map(|(p, _)| p.amount.value()).sum();
                Some(Row {
                    attrs: format!(r#"data-payment-id="{}""#, escape(r.payment.id.as_str())),
                    cells: vec![
                        format!(
                            r#"<a href="/payments/{}">{}</a>"#,
                            url_encode(r.payment.id.as_str()),
                            escape(r.payment.id.as_str())
                        ),
                        escape(message_id),
                        payments.len().to_string(),
                        escape(&euros(total)),
                        escape(r.status.code()),
                        escape(status_text(r.status)),
                    ],
                })
            }
            _ => None,
        })
        .collect();
    let cols = [
        Col {
            key: "file-reference",
            label: "Reference",
        },
        Col {
            key: "file-message-id",
            label: "Message id",
        },
        Col {
            key: "file-count",
            label: "Payments",
        },
        Col {
            key: "file-total",
            label: "Total",
        },
        Col {
            key: "file-status",
            label: "Status",
        },
        Col {
            key: "file-status-text",
            label: "",
        },
    ];
    body.push_str("<h3>Files sent</h3>");
    body.push_str(&html::records(
        layout,
        ("files", "batches"),
        ("file-row", "batch"),
        &cols,
        &files,
    ));
    let title = match layout {
        Layout::V1 => "Payment files",
        Layout::V2 => "Batch upload",
    };
    let mut response = render(&customer.chrome, "files", title, &body);
    *response.status_mut() = status;
    response
}

/// Receives a file: a refused file shows the reason (naming the element), a valid one its summary.
pub(crate) async fn upload(customer: Customer, mut multipart: Multipart) -> Response {
    let mut form = FormData::default();
    let mut xml = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                let is_file = name == Field::File.names().0 || name == Field::File.names().1;
                match field.text().await {
                    Ok(text) if is_file => xml = Some(text),
                    Ok(text) => {
                        form.0.insert(name, text);
                    }
                    Err(e) => {
                        return files_screen(
                            &customer,
                            StatusCode::BAD_REQUEST,
                            Some(&format!("Payment file: could not be read ({e})")),
                        );
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return files_screen(
                    &customer,
                    StatusCode::BAD_REQUEST,
                    Some(&format!("Payment file: could not be read ({e})")),
                );
            }
        }
    }
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let Some(xml) = xml.filter(|x| !x.trim().is_empty()) else {
        return files_screen(
            &customer,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Payment file: choose a file to upload"),
        );
    };
    match PaymentFile::parse(&xml) {
        Ok(file) => {
            let draft = uuid::Uuid::new_v4().to_string();
            customer.update(|s| s.drafts.file = Some((draft, file)));
            Redirect::to("/files/review").into_response()
        }
        Err(e) => files_screen(
            &customer,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&format!("Payment file refused: {e}")),
        ),
    }
}

/// The summary of an uploaded file before signing (marker `file-review`).
pub(crate) async fn review_page(customer: Customer) -> Response {
    let layout = customer.layout();
    let Some((_, file)) = &customer.session.drafts.file else {
        return Redirect::to("/files").into_response();
    };
    let summary = html::details(
        layout,
        ("file-summary", "batch-summary"),
        &[
            ("file-message-id", "Message id", escape(&file.message_id)),
            ("file-version", "Format", escape(file.version.name())),
            (
                "file-count",
                "Number of payments",
                file.number_of_transactions.to_string(),
            ),
            (
                "file-control-sum",
                "Control sum",
                escape(&euros(file.control_sum)),
            ),
            (
                "file-initiator",
                "Initiating party",
                escape(file.initiating_party.as_deref().unwrap_or("")),
            ),
        ],
    );
    let lines: Vec<_> = file.payments.iter().map(|p| (p, None)).collect();
    let buttons = format!(
        "{}{}",
        html::button(layout, &SIGN_FILE, false, Some("confirm")),
        html::button(layout, &DISCARD, false, Some("cancel"))
    );
    let body = format!(
        "{summary}{}{}",
        file_lines(layout, &lines),
        html::form(
            layout,
            ("file-form", "batch-form"),
            "/files/review",
            Some(customer.csrf()),
            &buttons
        )
    );
    render(
        &customer.chrome,
        "file-review",
        "Check your payment file",
        &body,
    )
}

/// "Sign file" records the file (once) and goes to signing; "Cancel" drops it.
pub(crate) async fn review(
    customer: Customer,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let form = FormData(form);
    if let Err(response) = customer.check(&form) {
        return *response;
    }
    let Some((draft, file)) = customer.session.drafts.file.clone() else {
        return Redirect::to("/files").into_response();
    };
    if form.get(Field::Decision) == "cancel" {
        customer.update(|s| s.drafts.file = None);
        return Redirect::to("/files").into_response();
    }
    match customer
        .web
        .shared
        .ledger
        .upload_file(&customer.customer, file, Some(&draft))
    {
        Ok(initiation) => {
            customer.update(|s| s.drafts.file = None);
            Redirect::to(&format!(
                "/sign/{}",
                url_encode(initiation.payment.id.as_str())
            ))
            .into_response()
        }
        Err(error) => refused(&customer, "Payment file refused", &error, "/files"),
    }
}
