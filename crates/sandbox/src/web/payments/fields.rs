//! The form parts a payment and a standing order share: the from-account, beneficiary, IBAN, amount
//! and communication fields and their parsing (every error names its field), optional dates, and the
//! read-back with "Confirm" and "Cancel".

use time::Date;

use crate::web::html::{self, Button, Field, FormData, Layout};
use crate::web::visitor::Customer;
use psd2_fallback_engine::model::belgian::{parse_amount, parse_date};
use psd2_fallback_engine::model::{
    Account, Currency, EndToEndId, Iban, PaymentProduct, PaymentRequest,
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
