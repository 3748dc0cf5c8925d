//! The `psd2-fallback` command: parses arguments and calls the library.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use psd2_fallback::model::belgian::parse_iso_date;
use psd2_fallback::sandbox::{
    ApiFault, CUSTOMERS, Sandbox, SandboxConfig, WebsiteFault, card_reader_response,
};
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
        Command::CardReader {
            customer,
            challenge,
        } => {
            println!("{}", card_reader_response(&customer, &challenge));
        }
    }
    Ok(())
}
