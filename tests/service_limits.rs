//! The service under load it did not ask for (r11): slow clients that never finish their headers are
//! cut off, requests beyond the in-flight bound are turned away at once with `Retry-After` while the
//! operators' `/health` still answers, and a request that takes too long is ended with an answer.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_service::ServiceLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::sandbox;
use crate::support::service::{ADMIN, TOKEN_A, api_bank, fast_health, start};

/// Whether the server closed `stream` (end of file or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 512];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An answer (a 408) is fine; keep reading until the close.
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_the_in_flight_bound_answers_at_once() {
    let sandbox = sandbox().await;
    let limits = ServiceLimits {
        header_read_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(1500),
        max_in_flight: 2,
        ..ServiceLimits::default()
    };
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, limits, fast_health()).await;
    let address = service.url.trim_start_matches("http://").to_owned();

    // 200 slowloris connections: headers begun, never finished.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    let mut cut = 0;
    for stream in &mut slow {
        if closed_within(stream, Duration::from_secs(5)).await {
            cut += 1;
        }
    }
    assert_eq!(cut, 200, "every slow connection is closed by the service");

    // Two requests that never finish their bodies hold the two places in flight.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /banks/sandbox/v1/payments/sepa-credit-transfers HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {TOKEN_A}\r\nX-Request-ID: {}\r\nPSU-ID: 1000001\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"debtor",
            uuid::Uuid::new_v4()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        holders.push(stream);
    }
    let http = reqwest::Client::new();
    // Straight to the service, not through its conformance checker: the spec gives a 503 no body, and
    // the service's 503 carries a `tppMessages` entry saying why (the checker would count that).
    let accounts = format!("{}/banks/sandbox/v1/accounts", service.url);
    let mut turned_away = None;
    for _ in 0..50 {
        let answer = http
            .get(&accounts)
            .bearer_auth(TOKEN_A)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .header("Consent-ID", "no-such-consent")
            .send()
            .await
            .unwrap();
        if answer.status() == 503 {
            turned_away = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answer = turned_away.expect("a request over the bound is turned away");
    assert_eq!(answer.headers()["retry-after"], "1");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["tppMessages"][0]["code"], "SERVICE_UNAVAILABLE");
    // The operators still see the service.
    let health = http
        .get(format!("{}/health", service.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // The held requests are ended by the request timeout, with an answer.
    for stream in &mut holders {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            let mut buffer = [0u8; 1024];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        answer.extend_from_slice(&buffer[..n]);
                        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                }
            }
        })
        .await;
        assert!(read.is_ok(), "the held request is answered");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    }
    // And the places are free again.
    let after = http
        .get(format!("{}/v1/accounts", service.bank_url()))
        .bearer_auth(TOKEN_A)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("Consent-ID", "no-such-consent")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 403, "a bound request is served again");
    sandbox.shutdown().await;
}

/// r11: an upload far above the file limit is refused like every other refusal — JSON `tppMessages`
/// naming `body` — not with the framework's plain text.
#[tokio::test]
async fn an_oversized_upload_is_refused_in_json_naming_the_body() {
    let sandbox = sandbox().await;
    let limits = ServiceLimits {
        max_file_bytes: 4096,
        ..ServiceLimits::default()
    };
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, limits, fast_health()).await;
    let http = reqwest::Client::new();
    for size in [10_000, 300_000] {
        let answer = http
            .post(format!(
                "{}/banks/sandbox/v1/bulk-payments/pain.001-sepa-credit-transfers",
                service.url
            ))
            .bearer_auth(TOKEN_A)
            .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
            .header("PSU-ID", "1000001")
            .header("Content-Type", "application/xml")
            .body("<".repeat(size))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        assert!(status == 413 || status == 400, "{size}: {status}");
        let body: serde_json::Value = answer.json().await.expect("a JSON answer");
        assert_eq!(body["tppMessages"][0]["path"], "body", "{size}: {body}");
    }
    sandbox.shutdown().await;
}

/// r11: `/metrics` and `/events` show which banks are down and every switch: only the operator token
/// (or the admin token) opens them, never a caller's token or none; `/health` stays open.
#[tokio::test]
async fn metrics_and_events_need_the_operator_token() {
    let sandbox = sandbox().await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    service
        .state
        .set_operator_token(Some(psd2_fallback_service::TokenHash::of("operator-token")));
    let http = reqwest::Client::new();
    for route in ["/metrics", "/events"] {
        let url = format!("{}{route}", service.url);
        let status = |token: Option<&'static str>| {
            let mut request = http.get(&url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(status(None).await, 401, "{route} without a token");
        assert_eq!(
            status(Some(TOKEN_A)).await,
            401,
            "{route} with a caller's token"
        );
        assert_eq!(status(Some("operator-token")).await, 200, "{route}");
        assert_eq!(
            status(Some(ADMIN)).await,
            200,
            "{route} with the admin token"
        );
    }
    let health = http
        .get(format!("{}/health", service.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    sandbox.shutdown().await;
}

/// Hostile pain.001 files just under the size limit (elements nested 60,000 deep, 40,000 attributes
/// on one element, 60,000 empty elements), several at once: each is refused naming what it exceeded
/// (the shape's limits, or the schema's rule), and the operators' `/health` keeps answering within a second while they are in flight (parsing
/// never holds the service's async threads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_are_refused_by_name_and_never_stall_health() {
    let sandbox = sandbox().await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    let head = "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\">";
    let deep = format!("{head}{}", "<a>".repeat(60_000));
    let wide = format!(
        "{head}<a {}/>",
        (0..40_000)
            .map(|i| format!("x{i}=\"1\" "))
            .collect::<String>()
    );
    let many = format!("{head}{}</Document>", "<a/>".repeat(60_000));
    let files = [deep, wide, many];
    assert!(
        files.iter().all(|f| f.len() < 1024 * 1024),
        "under the size limit"
    );
    let http = reqwest::Client::new();
    let uploads: Vec<_> = files
        .iter()
        .chain(files.iter())
        .map(|file| {
            let request = http
                .post(format!(
                    "{}/banks/sandbox/v1/bulk-payments/pain.001-sepa-credit-transfers",
                    service.url
                ))
                .bearer_auth(TOKEN_A)
                .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
                .header("PSU-ID", "1000001")
                .header("Content-Type", "application/xml")
                .body(file.clone());
            tokio::spawn(async move {
                let answer = request.send().await.unwrap();
                let status = answer.status().as_u16();
                let body: serde_json::Value = answer.json().await.expect("a JSON answer");
                (status, body)
            })
        })
        .collect();
    let mut polls = 0;
    while !uploads.iter().all(|u| u.is_finished()) {
        let health = tokio::time::timeout(
            Duration::from_secs(1),
            http.get(format!("{}/health", service.url)).send(),
        )
        .await
        .expect("/health answers within a second while the uploads are in flight")
        .unwrap();
        assert_eq!(health.status(), 200);
        polls += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for upload in uploads {
        let (status, body) = upload.await.unwrap();
        assert_eq!(status, 400, "{body}");
        let text = body["tppMessages"][0]["text"].as_str().unwrap_or_default();
        assert!(
            ["depth", "attributes", "elements", "not valid pain.001"]
                .iter()
                .any(|what| text.contains(what)),
            "the refusal names what was exceeded, or the schema's rule: {body}"
        );
    }
    eprintln!("/health answered {polls} times while the uploads were in flight");
    sandbox.shutdown().await;
}
