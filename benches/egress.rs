//! What the website channel's egress costs per page: the sandbox bank's login page fetched through the
//! egress proxy beside the same page fetched directly, and the bank's API over `https` through an egress
//! tunnel (the browser's TLS ended by the egress, the bank's opened with the QWAC) beside a direct
//! mutual-TLS client. Connections are kept alive on both routes, as a browser keeps them. Prints
//! medians, p99 and the ratio proxy/direct.
//!
//! Run: `cargo bench --bench egress` (optionally `-- <iterations>`).

use std::time::{Duration, Instant};

use psd2_fallback_engine::egress::{Egress, EgressConfig};
use psd2_fallback_engine::identity::test_pki::{TestPki, TppSpec};
use psd2_fallback_sandbox::{Sandbox, SandboxConfig, TppChecks};

fn quantiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

async fn measure(iterations: usize, client: &reqwest::Client, url: &str) -> (Duration, Duration) {
    // Warm up: connections, tunnels, leaf certificates.
    for _ in 0..5 {
        let _ = client.get(url).send().await.unwrap().bytes().await.unwrap();
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let body = client
            .get(url)
            .header("X-Request-ID", "5a1e2b5e-0000-4000-8000-000000000001")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(!body.is_empty());
        samples.push(started.elapsed());
    }
    quantiles(samples)
}

fn row(name: &str, direct: (Duration, Duration), proxied: (Duration, Duration)) {
    println!(
        "{name:<34} direct median {:>8.3} ms p99 {:>8.3} ms | egress median {:>8.3} ms p99 {:>8.3} ms | ratio {:.2}x",
        direct.0.as_secs_f64() * 1e3,
        direct.1.as_secs_f64() * 1e3,
        proxied.0.as_secs_f64() * 1e3,
        proxied.1.as_secs_f64() * 1e3,
        proxied.0.as_secs_f64() / direct.0.as_secs_f64()
    );
}

fn host_port(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let pki = TestPki::new("Bench QTSP").unwrap();
    let qwac_pem = pki.tpp(&TppSpec::default()).unwrap();
    let qwac = psd2_fallback_engine::identity::TppCertificate::from_pem(
        "bench-qwac.pem",
        qwac_pem.clone().into_bytes(),
    )
    .unwrap();

    // The website, plain HTTP on loopback.
    let website = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let egress = Egress::start(EgressConfig {
        bank: "sandbox".to_owned(),
        allowed_hosts: vec![host_port(&website.web_url())],
        ..EgressConfig::default()
    })
    .await
    .unwrap();
    let direct = reqwest::Client::builder().no_proxy().build().unwrap();
    let proxied = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", egress.addr())).unwrap())
        .build()
        .unwrap();
    let page = format!("{}/", website.web_url());
    let d = measure(iterations, &direct, &page).await;
    let p = measure(iterations, &proxied, &page).await;
    row("website page (http)", d, p);

    // The API over TLS demanding the QWAC: direct mutual TLS beside the egress tunnel.
    let (server_cert_pem, server_key_pem) = pki.server(&["localhost"]).unwrap();
    let bank = Sandbox::start_identified(
        SandboxConfig::default(),
        TppChecks {
            server_cert_pem,
            server_key_pem,
            client_ca_pem: pki.ca_pem(),
            require_signature: false,
        },
    )
    .await
    .unwrap();
    let tls_egress = Egress::start(EgressConfig {
        bank: "sandbox".to_owned(),
        allowed_hosts: vec![host_port(&bank.api_url())],
        qwac: Some(qwac),
        server_roots_pem: Some(pki.ca_pem().into_bytes()),
        ..EgressConfig::default()
    })
    .await
    .unwrap();
    let roots = reqwest::Certificate::from_pem_bundle(pki.ca_pem().as_bytes()).unwrap();
    let direct_tls = reqwest::Client::builder()
        .no_proxy()
        .identity(reqwest::Identity::from_pem(qwac_pem.as_bytes()).unwrap())
        .tls_certs_only(roots)
        .build()
        .unwrap();
    let egress_roots =
        reqwest::Certificate::from_pem_bundle(tls_egress.ca_pem().as_bytes()).unwrap();
    let proxied_tls = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{}", tls_egress.addr())).unwrap())
        .tls_certs_only(egress_roots)
        .build()
        .unwrap();
    let api = format!("{}/v1/accounts", bank.api_url());
    let d = measure(iterations, &direct_tls, &api).await;
    let p = measure(iterations, &proxied_tls, &api).await;
    row("api answer (https, QWAC)", d, p);
    println!(
        "({iterations} requests per row; the egress logged {} + {} requests)",
        egress.records().len(),
        tls_egress.records().len()
    );
    website.shutdown().await;
    bank.shutdown().await;
}
