//! The website channel's admission control (issue 15), over real HTTP: with the API down and the bank
//! on the fallback, callers beyond the browser queue's bound are answered 503 with `Retry-After` at
//! once, never a wrong answer; each turned-away caller that retries after `Retry-After` is served.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::Bank;
use psd2_fallback_engine::model::{ConsentAccess, ConsentRequest, ScaStatus, ScaTarget};
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_sandbox::CardReaderRelay;
use psd2_fallback_service::ServiceLimits;
use time::Duration as Days;

use crate::support::service::{TOKEN_A, api_bank, fast_health, set_override, start};
use crate::support::{TODAY, browser, psu, sandbox, sign};

const ANNA: &str = "1000001";

/// One caller's read of an account's balances, straight to the service: its status, its
/// `Retry-After`, and its body.
async fn balances(
    http: &reqwest::Client,
    url: &str,
    consent: &str,
) -> (u16, Option<String>, serde_json::Value) {
    let answer = http
        .get(url)
        .bearer_auth(TOKEN_A)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("Consent-ID", consent)
        .header("PSU-IP-Address", "192.0.2.7")
        .send()
        .await
        .expect("the service answers");
    let status = answer.status().as_u16();
    let retry_after = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = answer.json().await.unwrap_or(serde_json::Value::Null);
    (status, retry_after, body)
}

#[tokio::test]
async fn r15_over_the_browser_queue_the_service_answers_503_with_retry_after_at_once() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = sandbox().await;
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 1;
    config.max_queue = 1;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .expect("the screen channel starts");
    let service = start(
        &sandbox,
        Arc::new(screen.clone()),
        ServiceLimits::default(),
        fast_health(),
    )
    .await;
    let client = api_bank(&service.bank_url(), Some(TOKEN_A));
    let anna = psu(ANNA);
    let ibans = sandbox
        .ledger()
        .accounts(ANNA)
        .into_iter()
        .map(|a| a.iban)
        .collect();
    let request = ConsentRequest {
        access: ConsentAccess::full(ibans),
        recurring: true,
        valid_until: TODAY + Days::days(90),
        frequency_per_day: 4,
    };
    let consent = client.create_consent(&anna, &request).await.unwrap();
    let target = ScaTarget::Consent(consent.clone());
    assert_eq!(sign(&client, &anna, &target).await, ScaStatus::Finalised);
    let http = reqwest::Client::new();
    let url = format!("{}/banks/sandbox/v1/accounts/acc-01/balances", service.url);
    let (status, _, expected) = balances(&http, &url, consent.as_str()).await;
    assert_eq!(status, 200, "{expected}");

    set_override(&service.url, "force-fallback").await;
    // Bursts of eight callers at once, until one burst finds the queue full (the first burst
    // usually does: its first read logs in to the website while the others arrive).
    let mut turned_away = Vec::new();
    let mut served = 0;
    for _ in 0..5 {
        let burst = (0..8).map(|_| balances(&http, &url, consent.as_str()));
        for (status, retry_after, body) in futures_util::future::join_all(burst).await {
            match status {
                200 => {
                    assert_eq!(body, expected, "a served read is the API's answer");
                    served += 1;
                }
                503 => {
                    assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
                    assert_eq!(body["tppMessages"][0]["code"], "SERVICE_UNAVAILABLE");
                    turned_away.push(retry_after);
                }
                other => panic!("a caller got {other}: {body}"),
            }
        }
        if !turned_away.is_empty() {
            break;
        }
    }
    assert!(!turned_away.is_empty(), "no caller was turned away");
    assert!(served >= 1, "the queue's bound lets some callers through");
    // Each turned-away caller retries after `Retry-After`, and is served.
    for _ in &turned_away {
        let mut answer = balances(&http, &url, consent.as_str()).await;
        for _ in 0..20 {
            if answer.0 != 503 {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            answer = balances(&http, &url, consent.as_str()).await;
        }
        assert_eq!(answer.0, 200, "{}", answer.2);
        assert_eq!(answer.2, expected);
    }
    service.stop().await;
    screen.close().await;
}
