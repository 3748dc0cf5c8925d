//! What the ledger's unit tests share: a ledger on a fixed day, a payment request, signing with the
//! customer's card reader, and a payment's status.

use std::time::Duration as StdDuration;

use rust_decimal::Decimal;
use time::Date;
use time::macros::date;

use super::bookkeeping::Ledger;
use super::error::LedgerResult;
use crate::card_reader::card_reader_response;
use crate::seed::{BANK_CODE, CUSTOMERS, belgian_iban};
use psd2_fallback_engine::model::{
    Amount, EndToEndId, PaymentId, PaymentRef, PaymentRequest, PaymentStatus, ScaStatus, ScaTarget,
};

/// The bank's day in every ledger test.
pub(super) const TODAY: Date = date!(2026 - 11 - 23);

/// A freshly seeded ledger on [`TODAY`] whose payments settle as soon as they are signed.
pub(super) fn ledger() -> Ledger {
    Ledger::new(TODAY, StdDuration::ZERO)
}

/// A transfer from Luc's current account to Anna's, due on `date` (or now).
pub(super) fn payment(amount: Decimal, date: Option<Date>) -> PaymentRequest {
    PaymentRequest {
        product: psd2_fallback_engine::model::PaymentProduct::SepaCreditTransfer,
        debtor: belgian_iban(BANK_CODE, 2_345_678),
        creditor_name: "Anna Peeters".to_owned(),
        creditor: belgian_iban(BANK_CODE, 1_234_567),
        amount: Amount::eur(amount).unwrap(),
        remittance: Some("Etentje".to_owned()),
        requested_execution_date: date,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// Signs a payment as its customer would: password, then the card reader's answer to the challenge.
pub(super) fn sign(
    ledger: &Ledger,
    customer: &str,
    payment: &PaymentRef,
) -> LedgerResult<ScaStatus> {
    let seeded = CUSTOMERS.iter().find(|c| c.number == customer).unwrap();
    let target = ScaTarget::Payment(payment.clone());
    let challenge = ledger.start_authorisation(customer, target.clone(), seeded.password)?;
    ledger.authorise(
        customer,
        &target,
        &challenge.authorisation_id,
        &card_reader_response(customer, &challenge.data),
    )
}

impl Ledger {
    /// A payment's status now.
    pub(super) fn payment_status_for_test(&self, customer: &str, id: &PaymentId) -> PaymentStatus {
        self.payment(customer, id).unwrap().status
    }
}
