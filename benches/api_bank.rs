//! `ApiBank` on loopback against the sandbox bank: balances, 500 transactions and payment initiation,
//! each beside the floor — the same HTTP exchange made with a bare `reqwest` client and parsed into
//! untyped JSON — so the overhead of the channel shows as a ratio. Prints medians and p99.
//!
//! Run: `cargo bench --bench api_bank` (optionally `-- <iterations>`).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use psd2_fallback_engine::api::{ApiBank, ApiBankConfig};
use psd2_fallback_engine::failover::{FailoverBuilder, ScreenChannel};
use psd2_fallback_engine::model::{
    AccountId, Amount, ConsentAccess, ConsentRequest, EndToEndId, Iban, PaymentProduct,
    PaymentRequest, PsuId, ScaAnswer, ScaTarget, TransactionFilter,
};
use psd2_fallback_engine::{Bank, PsuContext};
use psd2_fallback_sandbox::{Sandbox, SandboxConfig, card_reader_response};
use rust_decimal::dec;
use secrecy::SecretString;
use time::macros::date;

#[derive(Debug)]
struct Stats {
    median: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p99: at(0.99),
    }
}

async fn measure<F, Fut>(iterations: usize, mut f: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iterations.min(20) {
        f().await;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        f().await;
        samples.push(start.elapsed());
    }
    stats(samples)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn row(name: &str, engine: &Stats, floor: &Stats) {
    println!(
        "{name:<28} {:>12} {:>12}   {:>12} {:>12}   {:>6.2}x",
        ms(engine.median),
        ms(engine.p99),
        ms(floor.median),
        ms(floor.p99),
        engine.median.as_secs_f64() / floor.median.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300);
    let today = date!(2026 - 11 - 23);
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(today),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let bank = ApiBank::new(ApiBankConfig::new(sandbox.api_url())).unwrap();
    let raw = reqwest::Client::new();

    let customer = "1000001";
    let psu = PsuContext::new(PsuId::new(customer))
        .present_at(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_password(SecretString::from("anna-sandbox"));
    let ibans = sandbox
        .ledger()
        .accounts(customer)
        .into_iter()
        .map(|a| a.iban)
        .collect();
    let consent = bank
        .create_consent(
            &psu,
            &ConsentRequest {
                access: ConsentAccess::full(ibans),
                recurring: true,
                valid_until: date!(2027 - 02 - 01),
                frequency_per_day: 4,
            },
        )
        .await
        .unwrap();
    let target = ScaTarget::Consent(consent.clone());
    let challenge = bank
        .start_authorisation(&psu, &target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    bank.authorise(
        &psu,
        &target,
        &challenge.authorisation_id,
        &ScaAnswer::new(card_reader_response(customer, &challenge.data)),
    )
    .await
    .unwrap();
    let psu = psu.with_consent(consent.clone());
    let account = AccountId::new("acc-01");

    // A window that holds about 500 transactions.
    let from = {
        let all = sandbox
            .ledger()
            .transactions(customer, &account, &TransactionFilter::default())
            .unwrap();
        all[499].date()
    };
    let filter = TransactionFilter {
        date_from: Some(from),
        ..TransactionFilter::default()
    };
    let count = bank
        .transactions(&psu, &account, &filter)
        .await
        .unwrap()
        .len();

    let get_raw = |path: String| {
        let raw = raw.clone();
        let url = format!("{}{path}", sandbox.api_url());
        let consent = consent.to_string();
        async move {
            let mut next = Some(url);
            while let Some(url) = next.take() {
                let body: serde_json::Value = raw
                    .get(&url)
                    .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
                    .header("Consent-ID", &consent)
                    .header("PSU-IP-Address", "127.0.0.1")
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                next = body["transactions"]["_links"]["next"]["href"]
                    .as_str()
                    .map(|h| format!("{}{h}", url.split("/v1/").next().unwrap()));
            }
        }
    };

    println!(
        "ApiBank against the sandbox API on loopback, {iterations} iterations each (debug assertions off)."
    );
    println!(
        "{:<28} {:>12} {:>12}   {:>12} {:>12}   {:>7}",
        "operation", "median", "p99", "floor median", "floor p99", "ratio"
    );

    let balances = measure(iterations, || async {
        bank.balances(&psu, &account, None).await.unwrap();
    })
    .await;
    let balances_floor = measure(iterations, || {
        get_raw("/v1/accounts/acc-01/balances".to_owned())
    })
    .await;
    row("balances", &balances, &balances_floor);

    let query = format!(
        "/v1/accounts/acc-01/transactions?bookingStatus=both&dateFrom={}",
        psd2_fallback_engine::model::belgian::format_iso_date(from)
    );
    let tx = measure(iterations / 3, || async {
        assert_eq!(
            bank.transactions(&psu, &account, &filter)
                .await
                .unwrap()
                .len(),
            count
        );
    })
    .await;
    let tx_floor = measure(iterations / 3, || get_raw(query.clone())).await;
    row(&format!("{count} transactions (5 pages)"), &tx, &tx_floor);

    let debtor = Iban::parse("BE60738123456770").unwrap();
    let payment = || PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: debtor.clone(),
        creditor_name: "Garage Vermeulen".to_owned(),
        creditor: Iban::parse("BE71096123456769").unwrap(),
        amount: Amount::eur(dec!(1.00)).unwrap(),
        remittance: Some("bench".to_owned()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    };
    // The same reads through `Failover` over this `ApiBank` (the website channel idle beside it): the
    // cost of routing and health bookkeeping. Target: at most 1.05x the channel alone.
    let scratch =
        std::env::temp_dir().join(format!("psd2-fallback-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).unwrap();
    let journal: std::sync::Arc<dyn psd2_fallback_engine::journal::JournalStore> =
        std::sync::Arc::new(
            psd2_fallback_engine::journal::SqliteJournal::open(&scratch.join("journal.sqlite"))
                .unwrap(),
        );
    let mut screen_config = psd2_fallback_engine::screen::ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    screen_config.spare = false;
    // No prober: only the measured calls reach the API.
    let engine = FailoverBuilder::new(
        "sandbox",
        bank.clone(),
        ScreenChannel::config(screen_config, None),
    )
    .without_prober()
    .build(journal)
    .await
    .unwrap();
    let failover = &engine.failover;
    let direct = measure(iterations, || async {
        bank.balances(&psu, &account, None).await.unwrap();
    })
    .await;
    let through = measure(iterations, || async {
        failover.balances(&psu, &account, None).await.unwrap();
    })
    .await;
    row("balances via Failover", &through, &direct);
    let tx_direct = measure(iterations / 3, || async {
        bank.transactions(&psu, &account, &filter).await.unwrap();
    })
    .await;
    let tx_through = measure(iterations / 3, || async {
        failover
            .transactions(&psu, &account, &filter)
            .await
            .unwrap();
    })
    .await;
    row(&format!("{count} tx via Failover"), &tx_through, &tx_direct);
    println!("(rows \"via Failover\": the floor is ApiBank alone; target <= 1.05x)");
    engine.shutdown().await;
    let _ = std::fs::remove_dir_all(&scratch);

    let initiation = measure(iterations, || async {
        bank.initiate_payment(&psu, &payment()).await.unwrap();
    })
    .await;
    let initiation_floor = measure(iterations, || {
        let raw = raw.clone();
        let url = format!("{}/v1/payments/sepa-credit-transfers", sandbox.api_url());
        let body = serde_json::json!({
            "endToEndIdentification": EndToEndId::generate().to_string(),
            "debtorAccount": {"iban": debtor.as_str()},
            "instructedAmount": {"currency": "EUR", "amount": "1.00"},
            "creditorAccount": {"iban": "BE71096123456769"},
            "creditorName": "Garage Vermeulen",
            "remittanceInformationUnstructured": "bench",
        });
        async move {
            let _: serde_json::Value = raw
                .post(url)
                .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
                .header("PSU-ID", "1000001")
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        }
    })
    .await;
    row("payment initiation", &initiation, &initiation_floor);
    sandbox.shutdown().await;
}
