//! The standing-order schedule: each active order's execution dates (frequency, day of execution,
//! the weekend rule), executed in date order across orders up to the bank's day.

use std::time::Duration as StdDuration;

use time::{Date, Duration, Month, Weekday};
use tokio::time::Instant;

use super::book::{Book, PaymentState};
use psd2_fallback_engine::model::{ExecutionRule, PaymentId, PaymentStatus, StandingOrderRequest};

impl Book {
    /// Runs every active standing order up to today: each due execution is booked if the funds are there
    /// and skipped otherwise, as banks do.
    pub(super) fn run_standing_orders(&mut self, now: Instant, settle_after: StdDuration) {
        let today = self.today;
        let mut ids: Vec<PaymentId> = self
            .payments
            .iter()
            .filter(|(_, p)| {
                p.status == PaymentStatus::AcceptedTechnical
                    && matches!(p.state, PaymentState::Periodic { .. })
            })
            .filter(|(_, p)| {
                p.authorised_at
                    .is_some_and(|at| now.duration_since(at) >= settle_after)
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        // Executions across standing orders are interleaved by date, so balances see them in order.
        loop {
            let mut next: Option<(Date, PaymentId)> = None;
            for id in &ids {
                let PaymentState::Periodic {
                    request,
                    executions,
                } = &self.payments[id].state
                else {
                    continue;
                };
                let Some(nominal) = nominal_date(request, *executions) else {
                    continue;
                };
                if request.end_date.is_some_and(|end| nominal > end) {
                    continue;
                }
                let date = adjust(nominal, request.execution_rule);
                if date <= today && next.as_ref().is_none_or(|(d, _)| date < *d) {
                    next = Some((date, id.clone()));
                }
            }
            let Some((date, id)) = next else { break };
            let PaymentState::Periodic { request, .. } = self.payments[&id].state.clone() else {
                break;
            };
            let p = &request.payment;
            let code = "PMNT-ICDT-STDO";
            let saved_today = self.today;
            self.today = date;
            let _ = self.transfer(
                &p.debtor,
                &p.creditor_name,
                &p.creditor,
                p.amount.value(),
                p.remittance.clone(),
                Some(p.end_to_end_id.clone()),
                Some(id.clone()),
                code,
            );
            self.today = saved_today;
            if let PaymentState::Periodic { executions, .. } =
                &mut self.payments.get_mut(&id).expect("present").state
            {
                *executions += 1;
            }
        }
    }
}

/// The `k`-th nominal execution date of a standing order (before the weekend rule), if it exists.
fn nominal_date(request: &StandingOrderRequest, k: u32) -> Option<Date> {
    let start = request.start_date;
    if let Some(days) = request.frequency.days() {
        return start.checked_add(Duration::days(days * i64::from(k)));
    }
    let months = i64::from(request.frequency.months().expect("a month-based frequency"));
    let day = request.day_of_execution.unwrap_or(start.day());
    // The first execution is the first such day on or after the start date.
    let base = i64::from(start.year()) * 12 + i64::from(u8::from(start.month())) - 1;
    let mut first = base;
    let in_month = |m: i64| -> Option<Date> {
        let year = i32::try_from(m.div_euclid(12)).ok()?;
        let month = Month::try_from(u8::try_from(m.rem_euclid(12) + 1).ok()?).ok()?;
        let last = time::util::days_in_month(month, year);
        Date::from_calendar_date(year, month, day.min(last)).ok()
    };
    if in_month(first)? < start {
        first += 1;
    }
    in_month(first + months * i64::from(k))
}

/// Moves a weekend date to a business day by the execution rule.
fn adjust(date: Date, rule: ExecutionRule) -> Date {
    let step = match rule {
        ExecutionRule::Following => Duration::days(1),
        ExecutionRule::Preceding => Duration::days(-1),
    };
    let mut d = date;
    while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
        d += step;
    }
    d
}
