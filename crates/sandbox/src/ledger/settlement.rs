//! Settlement: booking a transfer on both sides of the book, and executing accepted single payments
//! and payment files when their day comes (`ACTC` → `ACSC`, or `RJCT` without funds; a file that is
//! partly executed is `PART`).

use rust_decimal::Decimal;

use super::book::{Book, Entry, PaymentState};
use psd2_fallback_engine::model::{
    Counterparty, EndToEndId, Iban, PaymentId, PaymentStatus, TransactionId,
};

impl Book {
    /// Executes what is due today or earlier of an accepted single payment or file.
    pub(super) fn settle_now(&mut self, id: &PaymentId) {
        let today = self.today;
        let Some(entry) = self.payments.get(id).cloned() else {
            return;
        };
        match entry.state {
            PaymentState::Single { request } => {
                if request.requested_execution_date.is_some_and(|d| d > today) {
                    return;
                }
                let (status, reason) = match self.transfer(
                    &request.debtor,
                    &request.creditor_name,
                    &request.creditor,
                    request.amount.value(),
                    request.remittance.clone(),
                    Some(request.end_to_end_id.clone()),
                    None,
                    "PMNT-ICDT-ESCT",
                ) {
                    Ok(()) => (PaymentStatus::AcceptedSettlementCompleted, None),
                    Err(reason) => (PaymentStatus::Rejected, Some(reason)),
                };
                let entry = self.payments.get_mut(id).expect("present");
                entry.status = status;
                entry.reason = reason;
            }
            PaymentState::File { file, mut statuses } => {
                for (p, status) in file.payments.iter().zip(statuses.iter_mut()) {
                    if *status != PaymentStatus::AcceptedTechnical
                        || p.requested_execution_date > today
                    {
                        continue;
                    }
                    let e2e = EndToEndId::new(p.end_to_end_id.clone()).ok();
                    *status = match self.transfer(
                        &p.debtor,
                        &p.creditor_name,
                        &p.creditor,
                        p.amount.value(),
                        p.remittance.clone(),
                        e2e,
                        None,
                        "PMNT-ICDT-ESCT",
                    ) {
                        Ok(()) => PaymentStatus::AcceptedSettlementCompleted,
                        Err(_) => PaymentStatus::Rejected,
                    };
                }
                let done = statuses
                    .iter()
                    .all(|s| *s != PaymentStatus::AcceptedTechnical);
                let executed = statuses
                    .iter()
                    .filter(|s| **s == PaymentStatus::AcceptedSettlementCompleted)
                    .count();
                let status = if !done {
                    PaymentStatus::AcceptedTechnical
                } else if executed == statuses.len() {
                    PaymentStatus::AcceptedSettlementCompleted
                } else if executed == 0 {
                    PaymentStatus::Rejected
                } else {
                    PaymentStatus::PartiallyAccepted
                };
                let entry = self.payments.get_mut(id).expect("present");
                entry.status = status;
                if status == PaymentStatus::Rejected || status == PaymentStatus::PartiallyAccepted {
                    entry.reason = Some(format!(
                        "{} of {} payments rejected for insufficient funds (AM04)",
                        statuses.len() - executed,
                        statuses.len()
                    ));
                }
                entry.state = PaymentState::File { file, statuses };
            }
            PaymentState::Periodic { .. } => {}
        }
    }

    /// Books a transfer on the bank's day: a debit on the debtor, and a credit on the creditor when the
    /// creditor banks here too. Refused when the debtor's available funds do not cover it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transfer(
        &mut self,
        debtor: &Iban,
        creditor_name: &str,
        creditor: &Iban,
        amount: Decimal,
        remittance: Option<String>,
        e2e: Option<EndToEndId>,
        standing_order: Option<PaymentId>,
        code: &'static str,
    ) -> Result<(), String> {
        let today = self.today;
        let Some(from) = self.accounts.iter().position(|a| &a.iban == debtor) else {
            return Err(format!(
                "{} is not an account of this bank",
                debtor.masked()
            ));
        };
        let balance = self.accounts[from].booked_at(today) + self.accounts[from].credit_limit;
        if balance < amount {
            return Err(format!("insufficient funds on {} (AM04)", debtor.masked()));
        }
        let debtor_name = self.accounts[from].to_account().owner_name;
        let id = TransactionId::new(self.fresh_id("tx"));
        self.accounts[from].entries.push(Entry {
            id,
            booking_date: today,
            value_date: today,
            amount: -amount,
            counterparty: Some(Counterparty {
                name: creditor_name.to_owned(),
                iban: Some(creditor.clone()),
            }),
            remittance: remittance.clone(),
            code,
            end_to_end_id: e2e.clone(),
            standing_order: standing_order.clone(),
        });
        if let Some(to) = self.accounts.iter().position(|a| &a.iban == creditor) {
            let id = TransactionId::new(self.fresh_id("tx"));
            self.accounts[to].entries.push(Entry {
                id,
                booking_date: today,
                value_date: today,
                amount,
                counterparty: Some(Counterparty {
                    name: debtor_name,
                    iban: Some(debtor.clone()),
                }),
                remittance,
                code: "PMNT-RCDT-ESCT",
                end_to_end_id: e2e,
                standing_order: None,
            });
        }
        Ok(())
    }
}
