//! `psd2-fallback selectors check`: logs in to a live website with a screen map, walks its screens and
//! prints, per screen and selector, whether it matched.

use std::path::PathBuf;
use std::sync::Arc;

use psd2_fallback_engine::model::PsuId;
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{PsuContext, ScaRelay};

/// What to do with screen maps.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Logs in, walks the screens and prints, per screen and selector, matched / missing.
    Check(CheckArgs),
}

/// The map, the website and who logs in.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The screen map file (`selectors/sandbox.toml`).
    map: PathBuf,
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
    chromedriver: PathBuf,
}

/// Runs the command.
pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    let Command::Check(args) = command;
    let mut config = ScreenBankConfig::new(args.map, args.url);
    config.spare = false;
    config.webdriver = psd2_fallback_engine::screen::WebDriverTarget::Local {
        chromedriver: args.chromedriver,
        chromium: "/usr/bin/chromium".into(),
    };
    let relay: Option<Arc<dyn ScaRelay>> = args
        .sandbox_card_reader
        .then(|| Arc::new(psd2_fallback_sandbox::CardReaderRelay) as _);
    let bank = ScreenBank::new(config, relay).await?;
    let psu = PsuContext::new(PsuId::new(args.customer)).with_password(args.password.into());
    let checks = bank.check_selectors(&psu).await;
    bank.close().await;
    let mut missing = 0;
    for check in checks? {
        let verdict = match check.matched {
            Some(true) => "matched",
            Some(false) => {
                missing += 1;
                "MISSING"
            }
            None => "not visited",
        };
        println!(
            "{:<16} {:<40} {:<8} {}",
            check.screen, check.key, verdict, check.selector
        );
    }
    println!("{missing} selector(s) missing");
    Ok(())
}
