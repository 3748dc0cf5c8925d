//! Payment resources: initiating single payments, standing orders and payment files (a repeated
//! `X-Request-ID` gets the first resource back), reading them back, finding one by end-to-end id,
//! and cancelling. Signing is in `sca`, execution in `settlement` and `schedule`.

use time::Date;

use super::book::{Book, PaymentEntry, PaymentState};
use super::bookkeeping::Ledger;
use super::error::{LedgerError, LedgerResult};
use psd2_fallback_engine::model::{
    FilePayment, InvalidValue, PaymentFile, PaymentId, PaymentInitiation, PaymentKind, PaymentRef,
    PaymentRequest, PaymentStatus, StandingOrder, StandingOrderRequest,
};

/// A payment, standing order or payment file as the bank's own screens list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// The resource.
    pub payment: PaymentRef,
    /// Its status now.
    pub status: PaymentStatus,
    /// What it pays: the single payment, the standing order's payment, or the file's payments.
    pub detail: PaymentDetail,
    /// Where the bank answered "no" or what happened, for the customer.
    pub reason: Option<String>,
    /// Whether it can still be cancelled.
    pub cancellable: bool,
}

/// What a payment resource pays, for a website to put in its own words: the beneficiary's name (for
/// a file, `None`: the count of its payments says it), the beneficiary's IBAN, the amount (a file's
/// total), and the first day it executes (`None`: as soon as possible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pays {
    /// The beneficiary, or `None` for a file.
    pub beneficiary: Option<String>,
    /// The beneficiary's IBAN, or `None` for a file.
    pub iban: Option<psd2_fallback_engine::model::Iban>,
    /// The amount, or a file's total.
    pub amount:
        Result<psd2_fallback_engine::model::Amount, psd2_fallback_engine::model::InvalidValue>,
    /// How many payments (1 but for files).
    pub count: usize,
    /// The first day it executes; `None` for as soon as possible.
    pub first_day: Option<time::Date>,
}

impl PaymentRecord {
    /// What it pays.
    pub fn pays(&self) -> Pays {
        match &self.detail {
            PaymentDetail::Single(p) => Pays {
                beneficiary: Some(p.creditor_name.clone()),
                iban: Some(p.creditor.clone()),
                amount: Ok(p.amount),
                count: 1,
                first_day: p.requested_execution_date,
            },
            PaymentDetail::Periodic(s) => Pays {
                beneficiary: Some(s.payment.creditor_name.clone()),
                iban: Some(s.payment.creditor.clone()),
                amount: Ok(s.payment.amount),
                count: 1,
                first_day: Some(s.start_date),
            },
            PaymentDetail::File { payments, .. } => Pays {
                beneficiary: None,
                iban: None,
                amount: psd2_fallback_engine::model::Amount::eur(
                    payments.iter().map(|(p, _)| p.amount.value()).sum(),
                ),
                count: payments.len(),
                first_day: payments
                    .iter()
                    .map(|(p, _)| p.requested_execution_date)
                    .min(),
            },
        }
    }

    /// The customer's reference: a payment's end-to-end id, or a file's message id.
    pub fn reference(&self) -> String {
        match &self.detail {
            PaymentDetail::Single(p) => p.end_to_end_id.to_string(),
            PaymentDetail::Periodic(s) => s.payment.end_to_end_id.to_string(),
            PaymentDetail::File { message_id, .. } => message_id.clone(),
        }
    }
}

/// The content of a payment resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentDetail {
    /// A single credit transfer.
    Single(PaymentRequest),
    /// A standing order.
    Periodic(StandingOrderRequest),
    /// A payment file: message id and its payments with each one's status.
    File {
        /// `GrpHdr/MsgId`.
        message_id: String,
        /// Each payment with its own status.
        payments: Vec<(FilePayment, PaymentStatus)>,
    },
}

impl Ledger {
    /// The customer a payment, standing order or file belongs to.
    pub fn owner_of_payment(&self, id: &PaymentId) -> Option<String> {
        self.book().payments.get(id).map(|p| p.customer.clone())
    }

    /// The standing orders paying from an account that are active.
    pub fn standing_orders(&self, customer: &str) -> Vec<StandingOrder> {
        let book = self.book();
        let mut orders: Vec<(&PaymentId, &PaymentEntry)> = book
            .payments
            .iter()
            .filter(|(_, p)| {
                p.customer == customer && matches!(p.state, PaymentState::Periodic { .. })
            })
            .collect();
        orders.sort_by_key(|(_, p)| std::cmp::Reverse(p.sequence));
        orders
            .into_iter()
            .filter_map(|(id, p)| match &p.state {
                PaymentState::Periodic { request, .. } => Some(StandingOrder {
                    id: id.clone(),
                    request: request.clone(),
                    status: p.status,
                }),
                _ => None,
            })
            .collect()
    }

    /// Records a single payment; it waits for the customer's signature. A repeated `request_id` returns
    /// the payment the first request made.
    pub fn initiate_payment(
        &self,
        customer: &str,
        request: PaymentRequest,
        request_id: Option<&str>,
    ) -> LedgerResult<PaymentInitiation> {
        request.validate()?;
        let mut book = self.book();
        if let Some(done) = book.replay(customer, request_id) {
            return Ok(done);
        }
        let account = book.owned_iban(customer, &request.debtor, "debtorAccount")?;
        let due_now = request
            .requested_execution_date
            .is_none_or(|d| d <= book.today);
        if let Some(date) = request.requested_execution_date
            && date < book.today
        {
            return Err(InvalidValue::new("requestedExecutionDate", "is in the past").into());
        }
        if due_now && book.available(&book.accounts[account]) < request.amount.value() {
            return Err(LedgerError::InsufficientFunds {
                account: request.debtor.masked(),
            });
        }
        let kind = PaymentKind::Single(request.product);
        Ok(book.record(customer, kind, PaymentState::Single { request }, request_id))
    }

    /// Records a standing order; it waits for the customer's signature.
    pub fn create_standing_order(
        &self,
        customer: &str,
        request: StandingOrderRequest,
        request_id: Option<&str>,
    ) -> LedgerResult<PaymentInitiation> {
        request.validate()?;
        let mut book = self.book();
        if let Some(done) = book.replay(customer, request_id) {
            return Ok(done);
        }
        book.owned_iban(customer, &request.payment.debtor, "debtorAccount")?;
        if request.start_date < book.today {
            return Err(InvalidValue::new("startDate", "is in the past").into());
        }
        let kind = PaymentKind::Periodic(request.payment.product);
        Ok(book.record(
            customer,
            kind,
            PaymentState::Periodic {
                request,
                executions: 0,
            },
            request_id,
        ))
    }

    /// Records a validated payment file; it waits for the customer's signature. Every debtor account in
    /// the file must be the customer's.
    pub fn upload_file(
        &self,
        customer: &str,
        file: PaymentFile,
        request_id: Option<&str>,
    ) -> LedgerResult<PaymentInitiation> {
        let mut book = self.book();
        if let Some(done) = book.replay(customer, request_id) {
            return Ok(done);
        }
        for (i, p) in file.payments.iter().enumerate() {
            book.owned_iban(customer, &p.debtor, "DbtrAcct")
                .map_err(|_| {
                    InvalidValue::new(
                        "DbtrAcct",
                        format!(
                            "payment {} pays from an account that is not the customer's",
                            i + 1
                        ),
                    )
                })?;
        }
        let statuses = vec![PaymentStatus::Received; file.payments.len()];
        Ok(book.record(
            customer,
            PaymentKind::File,
            PaymentState::File { file, statuses },
            request_id,
        ))
    }

    /// A customer's payment, standing order or file.
    pub fn payment(&self, customer: &str, id: &PaymentId) -> LedgerResult<PaymentRecord> {
        let book = self.book();
        book.payment(customer, id)
            .map(|p| p.to_record(id, book.today))
    }

    /// Every payment, standing order and file of a customer, newest first.
    pub fn payments(&self, customer: &str) -> Vec<PaymentRecord> {
        let book = self.book();
        let mut list: Vec<(&PaymentId, &PaymentEntry)> = book
            .payments
            .iter()
            .filter(|(_, p)| p.customer == customer)
            .collect();
        list.sort_by_key(|(_, p)| std::cmp::Reverse(p.sequence));
        list.into_iter()
            .map(|(id, p)| p.to_record(id, book.today))
            .collect()
    }

    /// Finds a customer's payment by its end-to-end id (how a payment of unknown outcome is found again).
    pub fn find_by_end_to_end_id(&self, customer: &str, e2e: &str) -> Option<PaymentRecord> {
        self.payments(customer)
            .into_iter()
            .find(|r| match &r.detail {
                PaymentDetail::Single(p) => p.end_to_end_id.as_str() == e2e,
                PaymentDetail::Periodic(s) => s.payment.end_to_end_id.as_str() == e2e,
                PaymentDetail::File { payments, .. } => {
                    payments.iter().any(|(p, _)| p.end_to_end_id == e2e)
                }
            })
    }

    /// Cancels a payment or standing order: a payment only before it executes, a standing order any time
    /// (no further executions).
    pub fn cancel(&self, customer: &str, id: &PaymentId) -> LedgerResult<PaymentStatus> {
        let mut book = self.book();
        let today = book.today;
        book.payment_mut(customer, id)?.cancel(id, today)
    }

    /// Asks for a cancellation that must be authorised first (`--cancel-sca`): checks the payment can
    /// still be cancelled and notes the request; the payment keeps its status until the cancellation's
    /// authorisation finalises. Returns that status.
    pub fn request_cancellation(
        &self,
        customer: &str,
        id: &PaymentId,
    ) -> LedgerResult<PaymentStatus> {
        let mut book = self.book();
        let today = book.today;
        let entry = book.payment_mut(customer, id)?;
        entry.check_cancellable(id, today)?;
        entry.cancel_requested = true;
        Ok(entry.status)
    }
}

impl PaymentEntry {
    /// Refuses a cancellation that comes too late (executed, rejected or cancelled already).
    pub(super) fn check_cancellable(&self, id: &PaymentId, today: Date) -> LedgerResult<()> {
        if self.cancellable(today) {
            Ok(())
        } else {
            Err(LedgerError::NotCancellable {
                id: id.to_string(),
                status: self.status.code(),
            })
        }
    }

    /// Cancels it, when it still can be.
    pub(super) fn cancel(&mut self, id: &PaymentId, today: Date) -> LedgerResult<PaymentStatus> {
        self.check_cancellable(id, today)?;
        self.status = PaymentStatus::Cancelled;
        self.reason = Some("cancelled by the customer".to_owned());
        self.cancel_requested = false;
        if let PaymentState::File { statuses, .. } = &mut self.state {
            statuses.fill(PaymentStatus::Cancelled);
        }
        Ok(PaymentStatus::Cancelled)
    }

    /// Whether the customer may still cancel it on `today`.
    fn cancellable(&self, today: Date) -> bool {
        match (&self.state, self.status) {
            (
                PaymentState::Periodic { .. },
                PaymentStatus::Received | PaymentStatus::AcceptedTechnical,
            ) => true,
            (PaymentState::Single { .. }, PaymentStatus::Received) => true,
            (PaymentState::Single { request }, PaymentStatus::AcceptedTechnical) => {
                request.requested_execution_date.is_some_and(|d| d > today)
            }
            (PaymentState::File { .. }, PaymentStatus::Received) => true,
            _ => false,
        }
    }

    /// The payment as both faces show it.
    fn to_record(&self, id: &PaymentId, today: Date) -> PaymentRecord {
        PaymentRecord {
            payment: PaymentRef {
                kind: self.kind,
                id: id.clone(),
            },
            status: self.status,
            detail: match &self.state {
                PaymentState::Single { request } => PaymentDetail::Single(request.clone()),
                PaymentState::Periodic { request, .. } => PaymentDetail::Periodic(request.clone()),
                PaymentState::File { file, statuses } => PaymentDetail::File {
                    message_id: file.message_id.clone(),
                    payments: file
                        .payments
                        .iter()
                        .cloned()
                        .zip(statuses.iter().copied())
                        .collect(),
                },
            },
            reason: self.reason.clone(),
            cancellable: self.cancellable(today),
        }
    }
}

impl Book {
    /// The resource an earlier initiation with the same request id made, if any.
    pub(super) fn replay(
        &self,
        customer: &str,
        request_id: Option<&str>,
    ) -> Option<PaymentInitiation> {
        let id = self
            .request_ids
            .get(&(customer.to_owned(), request_id?.to_owned()))?;
        let entry = self.payments.get(id)?;
        Some(PaymentInitiation {
            payment: PaymentRef {
                kind: entry.kind,
                id: id.clone(),
            },
            status: entry.status,
            approach: None,
        })
    }

    /// Records a new payment resource, waiting for its signature, under the request id if there is one.
    pub(super) fn record(
        &mut self,
        customer: &str,
        kind: PaymentKind,
        state: PaymentState,
        request_id: Option<&str>,
    ) -> PaymentInitiation {
        let prefix = match kind {
            PaymentKind::Single(_) => "pmt",
            PaymentKind::Periodic(_) => "so",
            PaymentKind::File => "blk",
        };
        let id = PaymentId::new(self.fresh_id(prefix));
        let sequence = self.next_id;
        self.payments.insert(
            id.clone(),
            PaymentEntry {
                customer: customer.to_owned(),
                kind,
                status: PaymentStatus::Received,
                state,
                authorised_at: None,
                reason: None,
                sequence,
                cancel_requested: false,
            },
        );
        if let Some(request_id) = request_id {
            self.request_ids
                .insert((customer.to_owned(), request_id.to_owned()), id.clone());
        }
        PaymentInitiation {
            payment: PaymentRef { kind, id },
            status: PaymentStatus::Received,
            approach: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use time::Duration;

    use crate::ledger::error::LedgerError;
    use crate::ledger::testing::{TODAY, ledger, payment, sign};
    use psd2_fallback_engine::model::{
        AccountId, BookingStatus, Direction, ExecutionRule, PaymentStatus, Recurrence, ScaStatus,
        StandingOrderRequest, TransactionFilter,
    };

    #[test]
    fn a_signed_payment_settles_on_both_sides() {
        let ledger = ledger();
        let luc = AccountId::new("acc-03");
        let anna = AccountId::new("acc-01");
        let before = |c, id| ledger.balances(c, id, None).unwrap()[1].amount.value();
        let (luc_before, anna_before) = (before("1000002", &luc), before("1000001", &anna));
        let request = payment(Decimal::new(4_250, 2), None);
        let e2e = request.end_to_end_id.clone();
        let started = ledger
            .initiate_payment("1000002", request, Some("r-1"))
            .unwrap();
        assert_eq!(started.status, PaymentStatus::Received);
        // The same request id gives the same payment, not a second one.
        let again = ledger
            .initiate_payment(
                "1000002",
                payment(Decimal::new(4_250, 2), None),
                Some("r-1"),
            )
            .unwrap();
        assert_eq!(again.payment, started.payment);
        assert_eq!(
            sign(&ledger, "1000002", &started.payment).unwrap(),
            ScaStatus::Finalised
        );
        let record = ledger.payment("1000002", &started.payment.id).unwrap();
        assert_eq!(record.status, PaymentStatus::AcceptedSettlementCompleted);
        assert_eq!(before("1000002", &luc), luc_before - Decimal::new(4_250, 2));
        assert_eq!(
            before("1000001", &anna),
            anna_before + Decimal::new(4_250, 2)
        );
        let found = ledger
            .find_by_end_to_end_id("1000002", e2e.as_str())
            .unwrap();
        assert_eq!(found.payment, started.payment);
        let credit = ledger
            .transactions(
                "1000001",
                &anna,
                &TransactionFilter {
                    direction: Some(Direction::Credit),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(credit[0].end_to_end_id.as_ref(), Some(&e2e));
        assert!(ledger.cancel("1000002", &started.payment.id).is_err());
    }

    #[test]
    fn insufficient_funds_are_refused_and_future_payments_can_be_cancelled() {
        let ledger = ledger();
        let error = ledger
            .initiate_payment("1000002", payment(Decimal::from(1_000_000), None), None)
            .unwrap_err();
        assert!(
            matches!(error, LedgerError::InsufficientFunds { .. }),
            "{error:?}"
        );
        let later = ledger
            .initiate_payment(
                "1000002",
                payment(Decimal::TEN, Some(TODAY + Duration::days(7))),
                None,
            )
            .unwrap();
        sign(&ledger, "1000002", &later.payment).unwrap();
        assert_eq!(
            ledger.payment_status_for_test("1000002", &later.payment.id),
            PaymentStatus::AcceptedTechnical
        );
        let pending = TransactionFilter {
            status: Some(BookingStatus::Pending),
            ..Default::default()
        };
        assert_eq!(
            ledger
                .transactions("1000002", &AccountId::new("acc-03"), &pending)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            ledger.cancel("1000002", &later.payment.id).unwrap(),
            PaymentStatus::Cancelled
        );
        assert!(
            ledger
                .transactions("1000002", &AccountId::new("acc-03"), &pending)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_future_payment_executes_when_its_day_comes_or_is_rejected_without_funds() {
        let ledger = ledger();
        let day = TODAY + Duration::days(3);
        let small = ledger
            .initiate_payment("1000002", payment(Decimal::TEN, Some(day)), None)
            .unwrap();
        let big = ledger
            .initiate_payment("1000002", payment(Decimal::from(900_000), Some(day)), None)
            .unwrap();
        sign(&ledger, "1000002", &small.payment).unwrap();
        sign(&ledger, "1000002", &big.payment).unwrap();
        ledger.set_today(day).unwrap();
        assert_eq!(
            ledger.payment_status_for_test("1000002", &small.payment.id),
            PaymentStatus::AcceptedSettlementCompleted
        );
        assert_eq!(
            ledger.payment_status_for_test("1000002", &big.payment.id),
            PaymentStatus::Rejected
        );
    }

    #[test]
    fn standing_orders_execute_on_schedule_until_cancelled() {
        let ledger = ledger();
        let request = StandingOrderRequest {
            payment: payment(Decimal::from(25), None),
            start_date: TODAY + Duration::days(1),
            end_date: None,
            frequency: psd2_fallback_engine::model::Frequency::Weekly,
            day_of_execution: None,
            execution_rule: ExecutionRule::Following,
        };
        let order = ledger
            .create_standing_order("1000002", request, None)
            .unwrap();
        sign(&ledger, "1000002", &order.payment).unwrap();
        ledger.set_today(TODAY + Duration::days(22)).unwrap();
        let recurring = TransactionFilter {
            recurrence: Some(Recurrence::Recurring),
            date_from: Some(TODAY),
            ..Default::default()
        };
        let made: Vec<_> = ledger
            .transactions("1000002", &AccountId::new("acc-03"), &recurring)
            .unwrap()
            .into_iter()
            .filter(|t| t.standing_order.as_ref() == Some(&order.payment.id))
            .collect();
        assert_eq!(
            made.len(),
            4,
            "weekly from {} to {}",
            TODAY + Duration::days(1),
            TODAY + Duration::days(22)
        );
        assert_eq!(
            ledger.cancel("1000002", &order.payment.id).unwrap(),
            PaymentStatus::Cancelled
        );
        ledger.set_today(TODAY + Duration::days(40)).unwrap();
        let after = ledger
            .transactions("1000002", &AccountId::new("acc-03"), &recurring)
            .unwrap();
        assert_eq!(
            after
                .iter()
                .filter(|t| t.standing_order.as_ref() == Some(&order.payment.id))
                .count(),
            4
        );
    }
}
