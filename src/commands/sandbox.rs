//! `psd2-fallback sandbox`: runs the sandbox bank — its website and its Berlin Group API — until Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use psd2_fallback_engine::model::belgian::parse_iso_date;
use psd2_fallback_sandbox::{
    ApiFault, CUSTOMERS, Sandbox, SandboxConfig, SandboxSca, WebsiteFault,
};
use tokio::net::TcpListener;

/// Where the sandbox bank listens and how it behaves at start.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
    /// bad-field, processed-but-no-answer, answer:<4xx status>.
    #[arg(long, default_value = "up")]
    api_fault: ApiFault,
    /// The website's behaviour at start: up, maintenance, layout-v2, slow:<ms>.
    #[arg(long, default_value = "up")]
    website_fault: WebsiteFault,
    /// The SCA approach of the API: choice (the TPP's, per request), embedded, redirect, decoupled,
    /// methods (card reader or app) or oauth2 (Berlin Group OAUTH: authorization code with PKCE).
    #[arg(long, default_value = "choice")]
    sca: SandboxSca,
    /// Cancellations must be authorised: a DELETE of a payment or standing order answers 202 with
    /// `_links.startAuthorisation`; the payment is cancelled once that authorisation finalises.
    #[arg(long)]
    cancel_sca: bool,
    /// How long a redirect or decoupled approval waits for the customer, in seconds.
    #[arg(long, default_value_t = 300)]
    approval_expiry_secs: u64,
    /// A customer (number) who signs orders on the website in the banking app; repeatable.
    #[arg(long = "app-signer")]
    app_signers: Vec<String>,
    /// A customer (number) who confirms website logins in the banking app; repeatable.
    #[arg(long = "app-login")]
    app_logins: Vec<String>,
    /// A customer (number) offered a choice at the website's login: card reader or banking app;
    /// repeatable.
    #[arg(long = "login-choice")]
    login_choices: Vec<String>,
    /// A customer (number) whose website login continues at the bank's own page (a link to open,
    /// card reader there); repeatable.
    #[arg(long = "login-redirect")]
    login_redirects: Vec<String>,
    /// How long an OAuth2 access token lasts (--sca oauth2), in seconds.
    #[arg(long, default_value_t = 300)]
    access_token_expiry_secs: u64,
}

/// Opens the sandbox bank, prints where and who, and serves until Ctrl-C.
pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let today = args
        .today
        .map(|d| parse_iso_date(&d))
        .transpose()
        .context("--today")?;
    let web = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let api = TcpListener::bind(args.api_addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.api_addr))?;
    let config = SandboxConfig {
        today,
        settle_after: Duration::from_millis(args.settle_ms),
        session_idle: Duration::from_secs(args.session_idle_secs),
        sca: args.sca,
        approval_expiry: Duration::from_secs(args.approval_expiry_secs),
        cancel_sca: args.cancel_sca,
        app_signers: args.app_signers,
        app_logins: args.app_logins,
        login_choices: args.login_choices,
        login_redirects: args.login_redirects,
        access_token_expiry: Duration::from_secs(args.access_token_expiry_secs),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start_on(api, web, config)?;
    sandbox.set_api_fault(args.api_fault);
    sandbox.set_website_fault(args.website_fault);
    println!("Sandbox bank open.");
    println!(
        "  website: {}/   (faults: PUT {}/_sandbox/faults/api | /website)",
        sandbox.web_url(),
        sandbox.web_url()
    );
    println!("  second website (Dutch): {}/", sandbox.web2_url());
    println!("  API:     {}/v1/", sandbox.api_url());
    println!("  customers (number / password):");
    for customer in CUSTOMERS {
        println!(
            "    {} / {}   {}",
            customer.number, customer.password, customer.name
        );
    }
    println!("  card reader: psd2-fallback card-reader <customer> <challenge>");
    println!(
        "  banking app: {}/app/<customer>   (or PUT {}/_sandbox/app/<customer>/approve | refuse)",
        sandbox.web_url(),
        sandbox.web_url()
    );
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}
