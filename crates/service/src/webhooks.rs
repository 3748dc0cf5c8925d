//! Events for applications, made and delivered: a bank degraded or recovered (from its switches),
//! consents expiring (within [`ServiceLimits::consent_notice`](crate::ServiceLimits)) and expired
//! (from the owner store), an account's unattended-read budget low and exhausted (RTS Art. 36(5), from
//! the journal's counter), a payment left in doubt and settled, a TPP certificate expiring (30 days
//! before its `notAfter`), each recorded once in the outbox; then delivered to each caller's webhook
//! as a signed POST, retried with exponential back-off until its receiver answers 2xx.
//!
//! A delivery is `POST <url>` with the event as its JSON body and the headers `X-Event-ID` (the event's
//! id: a receiver that sees one twice drops the second — delivery is at least once) and
//! `X-Signature-SHA256` (hex HMAC-SHA256 of the exact body under the caller's webhook key). Keys are
//! secrets: never logged; a webhook URL is logged without its query.

use std::time::Duration;

use psd2_fallback_engine::health::{Mode, SwitchEvent};
use psd2_fallback_engine::model::{PaymentRef, PaymentStatus};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::outbox::{Due, Outbox, shown, signature};
use crate::state::ServiceState;

fn subscribers(state: &ServiceState) -> Vec<String> {
    state.webhooks().keys().cloned().collect()
}

/// Records what a switch means for applications: `bank.degraded` when a bank leaves its API for the
/// fallback, `bank.recovered` when it is back on its API.
pub(crate) fn record_switch(state: &ServiceState, outbox: &Outbox, event: &SwitchEvent) {
    let kind = match (event.from, event.to) {
        (Mode::Api, Mode::Fallback) => "bank.degraded",
        (_, Mode::Api) => "bank.recovered",
        _ => return,
    };
    // To the microsecond, as the journal keeps it: a replica that adopted the switch reads the same
    // instant back, so every replica makes the same key and the event is recorded once.
    let at = event
        .at
        .replace_nanosecond(event.at.nanosecond() / 1000 * 1000)
        .unwrap_or(event.at)
        .format(&Rfc3339)
        .unwrap_or_default();
    let key = format!("{kind}:{}:{at}", event.bank);
    let fields = json!({"reason": event.reason.to_string(), "switchedAt": at});
    if let Err(error) = outbox.record(&key, None, &event.bank, kind, fields, &subscribers(state)) {
        tracing::warn!(%error, "an event for applications could not be recorded");
    }
    state.inner.outbox_changed.notify_waiters();
}

/// Records `consent.expiring` for each consent whose `validUntil` is within the notice, and
/// `consent.expired` for each past it, once per consent, for the caller that made it.
pub(crate) fn scan_consents(state: &ServiceState, outbox: &Outbox) {
    let today = OffsetDateTime::now_utc().date();
    let notice = time::Duration::days(i64::from(state.inner.limits.consent_notice_days));
    let found = match state.inner.owners.consents_until(today + notice) {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "consents could not be read for their expiry events");
            return;
        }
    };
    let hooks = subscribers(state);
    for (bank, consent, caller, valid_until) in found {
        let kind = if valid_until < today {
            "consent.expired"
        } else {
            "consent.expiring"
        };
        let key = format!("{kind}:{bank}:{consent}");
        let fields = json!({"consentId": consent, "validUntil": valid_until.to_string()});
        if let Err(error) = outbox.record(&key, Some(&caller), &bank, kind, fields, &hooks) {
            tracing::warn!(%error, "an event for applications could not be recorded");
        }
    }
    state.inner.outbox_changed.notify_waiters();
}

/// Records `certificate.expiring` for each of the TPP's certificates within
/// [`CERTIFICATE_NOTICE_DAYS`](crate::identity::CERTIFICATE_NOTICE_DAYS) of its `notAfter` (or past
/// it): once per certificate (bank, `qwac`/`qseal`, serial), for every caller with a webhook. Public
/// facts only: whose, which roles, when.
pub(crate) fn scan_certificates(state: &ServiceState, outbox: &Outbox) {
    let now = OffsetDateTime::now_utc();
    let notice = time::Duration::days(crate::identity::CERTIFICATE_NOTICE_DAYS);
    let hooks = subscribers(state);
    for bank in &state.inner.banks {
        for (kind, facts) in &bank.certificates {
            if facts.not_after - now > notice {
                continue;
            }
            let key = format!("certificate.expiring:{}:{kind}:{}", bank.name, facts.serial);
            let mut fields = crate::identity::certificate_json(kind, facts, now);
            if let Some(fields) = fields.as_object_mut() {
                fields.remove("expiring");
            }
            if let Err(error) = outbox.record(
                &key,
                None,
                &bank.name,
                "certificate.expiring",
                fields,
                &hooks,
            ) {
                tracing::warn!(%error, "an event for applications could not be recorded");
            }
        }
    }
    state.inner.outbox_changed.notify_waiters();
}

/// Records what an unattended read of an account (RTS Art. 36(5)) means for the caller that owns
/// the consent: `budget.low` once the day's reads left are at most
/// [`ServiceLimits::budget_low_remaining`](crate::ServiceLimits), `budget.exhausted` when a read was
/// refused for the day's limit (`refused`). Each once per caller, bank, account and day. The count is
/// the journal's own, read with a limit of 0 (a read that counts nothing); the limit is the one the
/// failover enforces: the bank's, or the consent's `frequencyPerDay` when lower.
pub(crate) struct UnattendedRead<'a> {
    pub(crate) caller: &'a str,
    pub(crate) bank: &'a str,
    pub(crate) bank_limit: u32,
    pub(crate) consent: &'a str,
    pub(crate) psu: &'a str,
    pub(crate) account: &'a str,
    pub(crate) refused: bool,
}

pub(crate) fn record_budget(state: &ServiceState, read: &UnattendedRead<'_>) {
    let Some(outbox) = state.inner.outbox.get().cloned() else {
        return;
    };
    let journal = &state.inner.journal;
    let day = OffsetDateTime::now_utc().date();
    let limit = match journal.consent(read.bank, read.consent) {
        Ok(Some((_, consent))) => consent.request.frequency_per_day.min(read.bank_limit),
        _ => read.bank_limit,
    };
    let count = match journal.count_unattended(read.bank, read.psu, read.account, day, 0) {
        Ok(Ok(count) | Err(count)) => count,
        Err(error) => {
            tracing::warn!(%error, "the unattended-read count could not be read for its events");
            return;
        }
    };
    let left = limit.saturating_sub(count);
    let kind = if read.refused && left == 0 {
        "budget.exhausted"
    } else if !read.refused && left <= state.inner.limits.budget_low_remaining {
        "budget.low"
    } else {
        return;
    };
    let key = format!(
        "{kind}:{}:{}:{}:{}:{day}",
        read.bank, read.caller, read.consent, read.account
    );
    let fields = json!({
        "consentId": read.consent,
        "account": read.account,
        "day": day.to_string(),
        "unattendedReads": count,
        "limit": limit,
        "remaining": left,
    });
    let hooks = subscribers(state);
    match outbox.record(&key, Some(read.caller), read.bank, kind, fields, &hooks) {
        // Its account and consent stay out of the log: the event names them to their caller only.
        Ok(Some(_)) => tracing::info!(
            caller = %read.caller,
            bank = %read.bank,
            %day,
            kind,
            "an unattended-read budget event was recorded"
        ),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "an event for applications could not be recorded"),
    }
    state.inner.outbox_changed.notify_waiters();
}

/// A payment initiation of `caller`, named by its `X-Request-ID`, as the bank's answer left it.
pub(crate) enum PaymentOutcome<'a> {
    /// Its outcome is unknown: the write may or may not have been made; it stays open in the journal.
    InDoubt,
    /// The bank made it (found by reconciliation, or sent again after proven absent).
    Made(&'a PaymentRef, PaymentStatus),
    /// It was not made (refused after its absence was proven).
    NotMade(&'a str),
}

/// Records `payment.in_doubt` when a payment initiation's outcome is unknown, and `payment.settled`
/// when a later answer to the same request (the caller repeats it with the same `X-Request-ID`, and
/// the engine reconciles it) settles one that was in doubt, made or not; once each per caller, bank
/// and request.
pub(crate) fn record_payment(
    state: &ServiceState,
    caller: &str,
    bank: &str,
    request_id: &str,
    outcome: &PaymentOutcome<'_>,
) {
    let Some(outbox) = state.inner.outbox.get().cloned() else {
        return;
    };
    let in_doubt = format!("payment.in_doubt:{bank}:{caller}:{request_id}");
    let (kind, key, fields) = match outcome {
        PaymentOutcome::InDoubt => (
            "payment.in_doubt",
            in_doubt,
            json!({"requestId": request_id}),
        ),
        settled => {
            match outbox.recorded(&in_doubt) {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(%error, "the outbox could not be read");
                    return;
                }
            }
            let fields = match settled {
                PaymentOutcome::Made(payment, status) => json!({
                    "requestId": request_id,
                    "executed": true,
                    "paymentId": payment.id.as_str(),
                    "transactionStatus": status.code(),
                }),
                PaymentOutcome::NotMade(why) => json!({
                    "requestId": request_id,
                    "executed": false,
                    "reason": why,
                }),
                PaymentOutcome::InDoubt => return,
            };
            (
                "payment.settled",
                format!("payment.settled:{bank}:{caller}:{request_id}"),
                fields,
            )
        }
    };
    let hooks = subscribers(state);
    if let Err(error) = outbox.record(&key, Some(caller), bank, kind, fields, &hooks) {
        tracing::warn!(%error, "an event for applications could not be recorded");
    }
    state.inner.outbox_changed.notify_waiters();
}

/// How long to wait before attempt `attempts + 1`: the base doubled per attempt, at most the cap.
fn back_off(state: &ServiceState, attempts: u32) -> Duration {
    let limits = &state.inner.limits;
    limits
        .webhook_retry
        .saturating_mul(2u32.saturating_pow(attempts.min(20)))
        .min(limits.webhook_retry_max)
}

/// Delivers due webhooks until the task is aborted; also re-scans consents and the TPP's certificates
/// for their expiry events every `consent_scan`. Idle until the service has an outbox.
pub(crate) fn deliver(state: ServiceState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let mut scanned: Option<tokio::time::Instant> = None;
        loop {
            let changed = state.inner.outbox_changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let mut wait = Duration::from_secs(1);
            if let Some(outbox) = state.inner.outbox.get().cloned() {
                if scanned.is_none_or(|at| at.elapsed() >= state.inner.limits.consent_scan) {
                    scan_consents(&state, &outbox);
                    scan_certificates(&state, &outbox);
                    scanned = Some(tokio::time::Instant::now());
                }
                let due = outbox.due(64).unwrap_or_else(|error| {
                    tracing::warn!(%error, "the outbox could not be read");
                    Vec::new()
                });
                for delivery in due {
                    // Across replicas, one at a time: a delivery another replica claimed is its.
                    match outbox.claim(delivery.event.id, &delivery.caller) {
                        Ok(true) => attempt(&state, &outbox, &client, delivery).await,
                        Ok(false) => {}
                        Err(error) => tracing::warn!(%error, "a delivery could not be claimed"),
                    }
                }
                let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
                if let Ok(Some(at)) = outbox.next_due() {
                    let until = u64::try_from(i128::from(at) - now_ms).unwrap_or(0);
                    wait = wait.min(Duration::from_millis(until.max(10)));
                }
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
}

async fn attempt(state: &ServiceState, outbox: &Outbox, client: &reqwest::Client, due: Due) {
    let Some(hook) = state.webhooks().get(&due.caller).cloned() else {
        // The caller's webhook was removed: keep the delivery, try again much later.
        let _ = outbox.failed(
            due.event.id,
            &due.caller,
            state.inner.limits.webhook_retry_max,
        );
        return;
    };
    let body = due.event.body.to_string();
    let sent = client
        .post(hook.url.clone())
        .header("Content-Type", "application/json")
        .header("X-Event-ID", due.event.id.to_string())
        .header("X-Signature-SHA256", signature(&hook.key, body.as_bytes()))
        .body(body)
        .send()
        .await;
    let outcome = match sent {
        Ok(answer) if answer.status().is_success() => Ok(()),
        Ok(answer) => Err(format!("answered {}", answer.status().as_u16())),
        Err(error) => Err(error.without_url().to_string()),
    };
    let recorded = match outcome {
        Ok(()) => outbox.delivered(due.event.id, &due.caller),
        Err(why) => {
            let retry = back_off(state, due.attempts);
            tracing::warn!(
                caller = %due.caller,
                url = %shown(&hook.url),
                event = due.event.id,
                attempts = due.attempts + 1,
                retry_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX),
                %why,
                "a webhook delivery failed; kept for a retry"
            );
            outbox.failed(due.event.id, &due.caller, retry)
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, "the outbox could not be updated");
    }
}
