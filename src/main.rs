//! The `psd2-fallback` command: parses arguments and calls the library.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod commands;
mod logging;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    Sandbox(commands::sandbox::Args),
    /// Screen maps: check a map against a live website.
    Selectors {
        #[command(subcommand)]
        command: commands::selectors::Command,
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
    Serve(commands::serve::Args),
    /// Tails a service's switch events (Server-Sent Events), one line per switch.
    Events(commands::events::Args),
    /// Prints one day's availability per bank (EBA method) and the fallback data-access log.
    Report(commands::report::Args),
    /// Shows what a sandbox customer's card reader answers to a challenge, for signing in a browser.
    CardReader(commands::card_reader::Args),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The demo and one-shot commands print their own story; the servers log what they do.
    let quiet = matches!(cli.command, Command::Demo { .. } | Command::Pay(_));
    let requested = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| if quiet { "error" } else { "info" }.to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(logging::directives(&requested))
        .context("RUST_LOG")?;
    tracing_subscriber::fmt().with_env_filter(filter).init();
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
                webdriver: psd2_fallback_engine::screen::WebDriverTarget::default(),
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
        Command::Sandbox(args) => commands::sandbox::run(args).await?,
        Command::Selectors { command } => commands::selectors::run(command).await?,
        Command::Serve(args) => commands::serve::run(args).await?,
        Command::Events(args) => commands::events::run(&args).await?,
        Command::Report(args) => commands::report::run(args)?,
        Command::CardReader(args) => commands::card_reader::run(&args),
    }
    Ok(())
}
