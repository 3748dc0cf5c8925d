//! Events for applications, made and delivered: a bank degraded or recovered (from its switches),
//! consents expiring (within [`ServiceLimits::consent_notice`](crate::ServiceLimits)) and expired
//! (from the owner store), each recorded once in the outbox; then delivered to each caller's webhook
//! as a signed POST, retried with exponential back-off until its receiver answers 2xx.
//!
//! A delivery is `POST <url>` with the event as its JSON body and the headers `X-Event-ID` (the event's
//! id: a receiver that sees one twice drops the second — delivery is at least once) and
//! `X-Signature-SHA256` (hex HMAC-SHA256 of the exact body under the caller's webhook key). Keys are
//! secrets: never logged; a webhook URL is logged without its query.

use std::time::Duration;

use psd2_fallback_engine::health::{Mode, SwitchEvent};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::outbox::{Due, SqliteOutbox, shown, signature};
use crate::state::ServiceState;

fn subscribers(state: &ServiceState) -> Vec<String> {
    state.webhooks().keys().cloned().collect()
}

/// Records what a switch means for applications: `bank.degraded` when a bank leaves its API for the
/// fallback, `bank.recovered` when it is back on its API.
pub(crate) fn record_switch(state: &ServiceState, outbox: &SqliteOutbox, event: &SwitchEvent) {
    let kind = match (event.from, event.to) {
        (Mode::Api, Mode::Fallback) => "bank.degraded",
        (_, Mode::Api) => "bank.recovered",
        _ => return,
    };
    let at = event.at.format(&Rfc3339).unwrap_or_default();
    let key = format!("{kind}:{}:{at}", event.bank);
    let fields = json!({"reason": event.reason.to_string(), "switchedAt": at});
    if let Err(error) = outbox.record(&key, None, &event.bank, kind, fields, &subscribers(state)) {
        tracing::warn!(%error, "an event for applications could not be recorded");
    }
    state.inner.outbox_changed.notify_waiters();
}

/// Records `consent.expiring` for each consent whose `validUntil` is within the notice, and
/// `consent.expired` for each past it, once per consent, for the caller that made it.
pub(crate) fn scan_consents(state: &ServiceState, outbox: &SqliteOutbox) {
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

/// How long to wait before attempt `attempts + 1`: the base doubled per attempt, at most the cap.
fn back_off(state: &ServiceState, attempts: u32) -> Duration {
    let limits = &state.inner.limits;
    limits
        .webhook_retry
        .saturating_mul(2u32.saturating_pow(attempts.min(20)))
        .min(limits.webhook_retry_max)
}

/// Delivers due webhooks until the task is aborted; also re-scans consents for their expiry events
/// every `consent_scan`. Idle until the service has an outbox.
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
                    scanned = Some(tokio::time::Instant::now());
                }
                let due = outbox.due(64).unwrap_or_else(|error| {
                    tracing::warn!(%error, "the outbox could not be read");
                    Vec::new()
                });
                for delivery in due {
                    attempt(&state, &outbox, &client, delivery).await;
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

async fn attempt(state: &ServiceState, outbox: &SqliteOutbox, client: &reqwest::Client, due: Due) {
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
