//! Fingerprints of writes: what a payment, standing order or payment file *says*, reduced to one stable
//! text, so two requests can be told apart by content and not only by their end-to-end id.
//!
//! A fingerprint is a name-based UUID (v5) of the write's fields in a fixed order. It is part of a
//! write's journal key and of the `X-Request-ID` the API channel sends, so a re-sent intent carries the
//! same id and a different order with the same end-to-end id never does. It does no IO and holds no
//! secret (IBANs go into the hash, never out of it).

use crate::model::belgian::format_iso_date;
use crate::model::{PaymentFile, PaymentRequest, StandingOrderRequest};

/// The namespace of every fingerprint (a v5 UUID of `psd2-fallback:fingerprint`).
fn namespace() -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"psd2-fallback:fingerprint")
}

fn hash(kind: &str, fields: &[&str]) -> String {
    let mut text = String::from(kind);
    for field in fields {
        // A separator no field holds, and each field's length, so no two field lists hash alike.
        text.push('\u{1f}');
        text.push_str(&field.len().to_string());
        text.push(':');
        text.push_str(field);
    }
    uuid::Uuid::new_v5(&namespace(), text.as_bytes()).to_string()
}

fn payment_fields(request: &PaymentRequest) -> Vec<String> {
    vec![
        request.product.code().to_owned(),
        request.debtor.as_str().to_owned(),
        request.creditor.as_str().to_owned(),
        request.creditor_name.clone(),
        request.amount.to_string(),
        request.remittance.clone().unwrap_or_default(),
        request
            .requested_execution_date
            .map(format_iso_date)
            .unwrap_or_default(),
        request.end_to_end_id.as_str().to_owned(),
    ]
}

/// A single payment's fingerprint: product, both accounts, creditor name, amount, communication,
/// execution date and end-to-end id.
pub fn payment(request: &PaymentRequest) -> String {
    let fields = payment_fields(request);
    hash(
        "payment",
        &fields.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// A standing order's fingerprint: its payment and its schedule.
pub fn standing_order(request: &StandingOrderRequest) -> String {
    let mut fields = payment_fields(&request.payment);
    fields.extend([
        format_iso_date(request.start_date),
        request.end_date.map(format_iso_date).unwrap_or_default(),
        request.frequency.code().to_owned(),
        request
            .day_of_execution
            .map(|d| d.to_string())
            .unwrap_or_default(),
        request.execution_rule.code().to_owned(),
    ]);
    hash(
        "standing-order",
        &fields.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// A payment file's fingerprint: its version, message id, declared count and sum, and every payment
/// in file order (not its creation time, which a re-exported file changes).
pub fn file(file: &PaymentFile) -> String {
    let mut fields = vec![
        file.version.name().to_owned(),
        file.message_id.clone(),
        file.number_of_transactions.to_string(),
        file.control_sum.normalize().to_string(),
    ];
    for p in &file.payments {
        fields.extend([
            p.batch_id.clone(),
            p.debtor.as_str().to_owned(),
            format_iso_date(p.requested_execution_date),
            p.creditor_name.clone(),
            p.creditor.as_str().to_owned(),
            p.amount.to_string(),
            p.end_to_end_id.clone(),
            p.remittance.clone().unwrap_or_default(),
        ]);
    }
    hash(
        "file",
        &fields.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use rust_decimal::dec;

    use super::*;
    use crate::model::{Amount, EndToEndId, Iban, PaymentProduct};

    fn request() -> PaymentRequest {
        PaymentRequest {
            product: PaymentProduct::SepaCreditTransfer,
            debtor: Iban::parse("BE68539007547034").unwrap(),
            creditor_name: "Garage Vermeulen".to_owned(),
            creditor: Iban::parse("BE71096123456769").unwrap(),
            amount: Amount::eur(dec!(12.50)).unwrap(),
            remittance: None,
            requested_execution_date: None,
            end_to_end_id: EndToEndId::new("E2E-1").unwrap(),
        }
    }

    /// The same content gives the same fingerprint; any field changed gives another.
    #[test]
    fn a_fingerprint_follows_every_field_of_a_payment() {
        assert_eq!(payment(&request()), payment(&request()));
        let mut other = request();
        other.amount = Amount::eur(dec!(12.51)).unwrap();
        assert_ne!(payment(&request()), payment(&other));
        let mut other = request();
        other.creditor_name = "Garage Peeters".to_owned();
        assert_ne!(payment(&request()), payment(&other));
        let mut other = request();
        other.remittance = Some(String::new());
        assert_eq!(
            payment(&request()),
            payment(&other),
            "no communication and an empty one say the same"
        );
    }
}
