//! The `psd2-fallback` command: parses arguments and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod commands;

use anyhow::Context;
use clap::{Parser, Subcommand};
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::belgian::parse_iso_date;
use psd2_fallback_engine::report::daily_availability;
use psd2_fallback_sandbox::{
    ApiFault, CUSTOMERS, Sandbox, SandboxConfig, WebsiteFault, card_reader_response,
};
use psd2_fallback_service::{ServiceConfig, serve};
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
    /// Screen maps: check a map against a live website.
    Selectors {
        #[command(subcommand)]
        command: SelectorsCommand,
    },
    /// The demo: the engine against the built-in sandbox bank, through a simulated API outage.
    Demo {
        /// How long the API stays down, in seconds.
        #[arg(long, default_value_t = 8)]
        outage_secs: u64,
        /// The sandbox website's screen map.
        #[arg(long, default_value = "selectors/sandbox.toml")]
        map: PathBuf,
    },
    /// Initiates one payment through the engine (the API, or the website when the API is down),
    /// journalled: a run first reconciles what an earlier run left in doubt.
    Pay(Box<PayArgs>),
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

/// Where a payment goes, for `pay`.
#[derive(Debug, clap::Args)]
struct PayArgs {
    /// The bank's name, as in the journal.
    #[arg(long, default_value = "sandbox")]
    bank: String,
    /// The bank API's root URL.
    #[arg(long)]
    api_url: String,
    /// The bank website's root URL.
    #[arg(long)]
    website_url: String,
    /// The website's screen map.
    #[arg(long, default_value = "selectors/sandbox.toml")]
    map: PathBuf,
    /// The journal file (created when missing).
    #[arg(long)]
    journal: PathBuf,
    /// The customer number.
    #[arg(long)]
    psu: String,
    /// The customer's online-banking password.
    #[arg(long, env = "PSD2_FALLBACK_PASSWORD", hide_env_values = true)]
    password: String,
    /// The account to pay from (IBAN).
    #[arg(long)]
    from: String,
    /// The account to pay (IBAN).
    #[arg(long)]
    to: String,
    /// The beneficiary's name.
    #[arg(long)]
    name: String,
    /// The amount in euro, e.g. 12.34.
    #[arg(long)]
    amount: String,
    /// The end-to-end id: the same id is the same payment, whatever happens.
    #[arg(long)]
    reference: String,
    /// The communication.
    #[arg(long)]
    communication: Option<String>,
    /// How long the API may take, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    api_timeout_ms: u64,
    /// Answer login challenges on the website with the sandbox customer's card reader.
    #[arg(long)]
    sandbox_card_reader: bool,
}

#[derive(Debug, Subcommand)]
enum SelectorsCommand {
    /// Logs in, walks the screens and prints, per screen and selector, matched / missing.
    Check {
        /// The screen map file (`selectors/sandbox.toml`).
        map: std::path::PathBuf,
        /// The website's root URL.
        #[arg(long)]
        url: String,
        /// The customer number to log in with.
        #[arg(long)]
        customer: String,
        /// The customer's password (better given in the environment than on the command line).
        #[arg(long, env = "PSD2_FALLBACK_PASSWORD", hide_env_values = true)]
        password: String,
        /// Answer the login challenge with the sandbox customer's card reader.
        #[arg(long)]
        sandbox_card_reader: bool,
        /// The chromedriver binary.
        #[arg(long, default_value = "/usr/bin/chromedriver")]
        chromedriver: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The demo and one-shot commands print their own story; the servers log what they do.
    let quiet = matches!(cli.command, Command::Demo { .. } | Command::Pay(_));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| if quiet { "error" } else { "info" }.into()),
        )
        .init();
    match cli.command {
        Command::Demo { outage_secs, map } => {
            let options = commands::demo::DemoOptions {
                map,
                outage: Duration::from_secs(outage_secs),
                ..commands::demo::DemoOptions::default()
            };
            let summary = commands::demo::run(options).await?;
            if summary.failed > 0 || summary.payments_executed != summary.payments_intended {
                anyhow::bail!("the demo saw failed requests or missing payments");
            }
        }
        Command::Pay(args) => {
            let amount = psd2_fallback_engine::model::Amount::parse_api(
                &args.amount,
                psd2_fallback_engine::model::Currency::EUR,
            )
            .context("--amount")?;
            let request = psd2_fallback_engine::model::PaymentRequest {
                product: psd2_fallback_engine::model::PaymentProduct::SepaCreditTransfer,
                debtor: psd2_fallback_engine::model::Iban::parse(&args.from).context("--from")?,
                creditor_name: args.name.clone(),
                creditor: psd2_fallback_engine::model::Iban::parse(&args.to).context("--to")?,
                amount,
                remittance: args.communication.clone(),
                requested_execution_date: None,
                end_to_end_id: psd2_fallback_engine::model::EndToEndId::new(args.reference.clone())
                    .context("--reference")?,
            };
            let relay: Option<Arc<dyn psd2_fallback_engine::ScaRelay>> = args
                .sandbox_card_reader
                .then(|| Arc::new(psd2_fallback_sandbox::CardReaderRelay) as _);
            let options = commands::pay::PayOptions {
                bank: args.bank.clone(),
                api_url: args.api_url.clone(),
                website_url: args.website_url.clone(),
                map: args.map.clone(),
                webdriver: psd2_fallback_engine::screen::driver::WebDriverTarget::default(),
                journal: args.journal.clone(),
                psu: args.psu.clone(),
                password: secrecy::SecretString::from(args.password.clone()),
                api_timeout: Duration::from_millis(args.api_timeout_ms),
            };
            let outcome = commands::pay::pay(options, relay, &request).await?;
            println!(
                "resumed: {} settled, {} in doubt",
                outcome.resumed.0, outcome.resumed.1
            );
            match outcome.result {
                Ok(done) => println!("payment {} {}", done.payment.id, done.status.code()),
                Err(error) => {
                    println!("no payment: {error}");
                    std::process::exit(if error.is_outcome_unknown() { 3 } else { 2 });
                }
            }
        }
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
        Command::Selectors {
            command:
                SelectorsCommand::Check {
                    map,
                    url,
                    customer,
                    password,
                    sandbox_card_reader,
                    chromedriver,
                },
        } => {
            let mut config = psd2_fallback_engine::screen::ScreenBankConfig::new(map, url);
            config.spare = false;
            config.webdriver = psd2_fallback_engine::screen::driver::WebDriverTarget::Local {
                chromedriver,
                chromium: "/usr/bin/chromium".into(),
            };
            let relay: Option<std::sync::Arc<dyn psd2_fallback_engine::ScaRelay>> =
                sandbox_card_reader
                    .then(|| std::sync::Arc::new(psd2_fallback_sandbox::CardReaderRelay) as _);
            let bank = psd2_fallback_engine::screen::ScreenBank::new(config, relay).await?;
            let psu = psd2_fallback_engine::PsuContext::new(
                psd2_fallback_engine::model::PsuId::new(customer),
            )
            .with_password(password.into());
            let checks = bank.check_selectors(&psu).await;
            bank.close().await;
            let mut missing = 0;
            for c in checks? {
                let verdict = match c.matched {
                    Some(true) => "matched",
                    Some(false) => {
                        missing += 1;
                        "MISSING"
                    }
                    None => "not visited",
                };
                println!(
                    "{:<16} {:<40} {:<8} {}",
                    c.screen, c.key, verdict, c.selector
                );
            }
            println!("{missing} selector(s) missing");
        }
        Command::Serve { config } => {
            let config = ServiceConfig::load(&config)?;
            let (state, probers) = config
                .build(Some(Arc::new(psd2_fallback_sandbox::CardReaderRelay)))
                .await?;
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
