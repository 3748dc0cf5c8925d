//! The `psd2-fallback` command: parses arguments and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use psd2_fallback::journal::{JournalStore, SqliteJournal};
use psd2_fallback::model::belgian::parse_iso_date;
use psd2_fallback::report::daily_availability;
use psd2_fallback::sandbox::{
    ApiFault, CUSTOMERS, Sandbox, SandboxConfig, WebsiteFault, card_reader_response,
};
use psd2_fallback::service::{ServiceConfig, serve};
use tokio::net::TcpListener;

/// Keeps open-banking apps working when a bank's PSD2 API goes down.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the sandbox bank: its online-banking website and its Berlin Group API, with fault injection.
    Sandbox {
        /// Where the website (and the admin routes under /_sandbox/) listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Where the API listens (paths under /v1/).
        #[arg(long, default_value = "127.0.0.1:8081")]
        api_addr: SocketAddr,
        /// The bank's business day (YYYY-MM-DD); today by default.
        #[arg(long)]
        today: Option<String>,
        /// How long an accepted payment waits before it settles, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        settle_ms: u64,
        /// How long a website session may stay idle, in seconds.
        #[arg(long, default_value_t = 600)]
        session_idle_secs: u64,
        /// The API's behaviour at start: up, down, refuse, hang, slow:<ms>, flap:<ms>, garbage,
        /// processed-but-no-answer.
        #[arg(long, default_value = "up")]
        api_fault: ApiFault,
        /// The website's behaviour at start: up, maintenance, layout-v2, slow:<ms>.
        #[arg(long, default_value = "up")]
        website_fault: WebsiteFault,
    },
    /// Runs the resilience service: Berlin Group routes served through the failover, per its config file.
    Serve {
        /// The configuration file.
        #[arg(long, default_value = "psd2-fallback.toml")]
        config: PathBuf,
    },
    /// Tails a service's switch events (Server-Sent Events), one line per switch.
    Events {
        /// The service's `/events` URL.
        #[arg(long, default_value = "http://127.0.0.1:8443/events")]
        url: String,
    },
    /// Prints one day's availability per bank (EBA method) and the fallback data-access log.
    Report {
        /// The journal file.
        #[arg(long)]
        journal: PathBuf,
        /// The day, YYYY-MM-DD (UTC).
        #[arg(long)]
        day: String,
        /// A bank to report on (repeatable); banks seen in the day's access log are always included.
        #[arg(long = "bank")]
        banks: Vec<String>,
    },
    /// Shows what a sandbox customer's card reader answers to a challenge, for signing in a browser.
    CardReader {
        /// The customer number.
        customer: String,
        /// The challenge the website or API shows.
        challenge: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Sandbox {
            addr,
            api_addr,
            today,
            settle_ms,
            session_idle_secs,
            api_fault,
            website_fault,
        } => {
            let today = today
                .map(|d| parse_iso_date(&d))
                .transpose()
                .context("--today")?;
            let web = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let api = TcpListener::bind(api_addr)
                .await
                .with_context(|| format!("cannot listen on {api_addr}"))?;
            let config = SandboxConfig {
                today,
                settle_after: Duration::from_millis(settle_ms),
                session_idle: Duration::from_secs(session_idle_secs),
            };
            let sandbox = Sandbox::start_on(api, web, config)?;
            sandbox.set_api_fault(api_fault);
            sandbox.set_website_fault(website_fault);
            println!("Sandbox bank open.");
            println!(
                "  website: {}/   (faults: PUT {}/_sandbox/faults/api | /website)",
                sandbox.web_url(),
                sandbox.web_url()
            );
            println!("  API:     {}/v1/", sandbox.api_url());
            println!("  customers (number / password):");
            for customer in CUSTOMERS {
                println!(
                    "    {} / {}   {}",
                    customer.number, customer.password, customer.name
                );
            }
            println!("  card reader: psd2-fallback card-reader <customer> <challenge>");
            println!("Ctrl-C to stop.");
            tokio::signal::ctrl_c().await?;
            sandbox.shutdown().await;
        }
        Command::Serve { config } => {
            let config = ServiceConfig::load(&config)?;
            let (state, probers) = config.build()?;
            let listener = TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            println!(
                "psd2-fallback service on http://{} ({} banks, {} callers). Ctrl-C to stop.",
                config.listen,
                config.banks.len(),
                config.callers.len()
            );
            serve(listener, state, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
            for prober in probers {
                prober.abort();
            }
        }
        Command::Events { url } => tail_events(&url).await?,
        Command::Report {
            journal,
            day,
            banks,
        } => {
            let day = parse_iso_date(&day).context("--day")?;
            if !journal.is_file() {
                anyhow::bail!("{}: no such journal file", journal.display());
            }
            let journal = SqliteJournal::open(&journal)?;
            report(&journal, day, banks)?;
        }
        Command::CardReader {
            customer,
            challenge,
        } => {
            println!("{}", card_reader_response(&customer, &challenge));
        }
    }
    Ok(())
}

/// Prints each `switch` event of an SSE stream as one line, until the stream ends.
async fn tail_events(url: &str) -> anyhow::Result<()> {
    let mut response = reqwest::get(url)
        .await
        .with_context(|| format!("cannot reach {url}"))?
        .error_for_status()?;
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            if data.is_empty() {
                continue;
            }
            let event: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
            let text = |key: &str| event[key].as_str().unwrap_or("").to_owned();
            println!(
                "{}  {:<12} {:>8} -> {:<8} {}  ({})",
                text("at"),
                text("bank"),
                text("from"),
                text("to"),
                text("reason"),
                text("evidence")
            );
        }
    }
    Ok(())
}

/// The day's availability per bank and the fallback access log.
fn report(
    journal: &dyn JournalStore,
    day: time::Date,
    mut banks: Vec<String>,
) -> anyhow::Result<()> {
    let access = journal.access_log(day)?;
    banks.extend(access.iter().map(|a| a.bank.clone()));
    let from = day.midnight().assume_utc() - time::Duration::days(30);
    let to = day.midnight().assume_utc() + time::Duration::days(1);
    for intent in journal.open_intents()? {
        banks.push(intent.bank);
    }
    banks.sort();
    banks.dedup();
    println!("Availability on {day} (UTC, EBA/GL/2018/07 method)");
    if banks.is_empty() {
        println!("  no bank had an outage or a fallback access that day");
    }
    for bank in &banks {
        let a = daily_availability(journal, bank, day)?;
        println!(
            "  {bank:<16} {:>8.4} % available, {} s down, {} outage(s)",
            a.availability_percent(),
            a.downtime_seconds,
            a.outages.len()
        );
        for (start, end) in &a.outages {
            println!("      {start} .. {end}");
        }
        let switches = journal.switches(bank, from, to)?;
        for s in switches.iter().filter(|s| s.at.date() == day) {
            println!(
                "      switch #{} {} -> {} at {}: {}",
                s.id, s.from, s.to, s.at, s.reason
            );
        }
    }
    println!("Fallback data-access log ({} entries)", access.len());
    for entry in &access {
        println!(
            "  {}  {:<12} PSU {:<10} {}  (switch #{})",
            entry.at,
            entry.bank,
            entry.psu,
            entry.data,
            entry
                .switch_event
                .map(|id| id.to_string())
                .unwrap_or_else(|| "-".to_owned())
        );
    }
    Ok(())
}
