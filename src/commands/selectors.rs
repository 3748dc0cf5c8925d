//! `psd2-fallback selectors check`: the map doctor. It checks a screen map as it loads (every problem
//! at once), then logs in to the live website — answering the login challenge from the terminal or
//! through a command — walks every screen the map declares and prints, per screen and selector,
//! whether it matched. It exits non-zero when the map does not load or a required selector is missing.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use psd2_fallback_engine::model::{PsuId, ScaAnswer, ScaChallenge};
use psd2_fallback_engine::screen::map::ScreenMap;
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{PsuContext, ScaRelay};

/// What to do with screen maps.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Checks a map, logs in, walks the screens and prints, per screen and selector, matched / missing.
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
    /// A command that prints the answer to the login challenge, with `{customer}` and `{challenge}`
    /// replaced (`'psd2-fallback card-reader {customer} {challenge}'`); run without a shell. Without
    /// it, the challenge is printed and the answer read from the terminal.
    #[arg(long)]
    challenge_command: Option<String>,
    /// The chromedriver binary.
    #[arg(long, default_value = "/usr/bin/chromedriver")]
    chromedriver: PathBuf,
    /// The Chromium binary.
    #[arg(long, default_value = "/usr/bin/chromium")]
    chromium: PathBuf,
}

/// Answers a challenge by running a command and taking its first line of output.
#[derive(Debug)]
struct CommandRelay {
    /// The command's words, before `{customer}` and `{challenge}` are replaced.
    words: Vec<String>,
}

#[async_trait]
impl ScaRelay for CommandRelay {
    async fn answer(&self, psu: &PsuId, challenge: &ScaChallenge) -> Option<ScaAnswer> {
        let words: Vec<String> = self
            .words
            .iter()
            .map(|w| {
                w.replace("{customer}", psu.as_str())
                    .replace("{challenge}", &challenge.data)
            })
            .collect();
        let output = tokio::task::spawn_blocking(move || {
            let (program, args) = words.split_first()?;
            Some(
                std::process::Command::new(program)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .output(),
            )
        })
        .await
        .ok()??;
        match output {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let line = text.lines().next().unwrap_or_default().trim().to_owned();
                (!line.is_empty()).then(|| ScaAnswer::new(line))
            }
            Ok(out) => {
                eprintln!("the challenge command failed ({})", out.status);
                None
            }
            Err(e) => {
                eprintln!("the challenge command could not run: {e}");
                None
            }
        }
    }
}

/// Answers a challenge from the terminal: prints it and reads the customer's answer.
#[derive(Debug)]
struct TerminalRelay;

#[async_trait]
impl ScaRelay for TerminalRelay {
    async fn answer(&self, _psu: &PsuId, challenge: &ScaChallenge) -> Option<ScaAnswer> {
        eprintln!(
            "{} ({}): {}\nchallenge: {}\nanswer: ",
            challenge.method, challenge.authorisation_id, challenge.instructions, challenge.data
        );
        let line = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        })
        .await
        .ok()?
        .ok()?;
        let line = line.trim().to_owned();
        (!line.is_empty()).then(|| ScaAnswer::new(line))
    }
}

/// Runs the command.
pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    let Command::Check(args) = command;
    // The map first, every problem at once, before any browser starts.
    let file = args.map.display().to_string();
    let text = std::fs::read_to_string(&args.map)
        .map_err(|e| anyhow::anyhow!("screen map {file}: cannot read: {e}"))?;
    let problems = ScreenMap::problems(&file, &text);
    if !problems.is_empty() {
        for problem in &problems {
            println!("{problem}");
        }
        anyhow::bail!("{} problem(s) in {file}", problems.len());
    }
    let relay: Arc<dyn ScaRelay> = match &args.challenge_command {
        Some(command) => {
            let words = shlex::split(command)
                .filter(|w| !w.is_empty())
                .ok_or_else(|| anyhow::anyhow!("--challenge-command: unbalanced quotes"))?;
            Arc::new(CommandRelay { words })
        }
        None => Arc::new(TerminalRelay),
    };
    let mut config = ScreenBankConfig::new(args.map, args.url);
    config.spare = false;
    config.webdriver = psd2_fallback_engine::screen::WebDriverTarget::Local {
        chromedriver: args.chromedriver,
        chromium: args.chromium,
    };
    let bank = ScreenBank::new(config, Some(relay)).await?;
    let psu = PsuContext::new(PsuId::new(args.customer)).with_password(args.password.into());
    let checks = bank.check_selectors(&psu).await;
    bank.close().await;
    let checks = checks?;
    let mut missing = 0;
    for check in &checks {
        let verdict = match check.matched {
            Some(true) => "matched",
            Some(false) if check.required => {
                missing += 1;
                "MISSING"
            }
            Some(false) => "absent (optional)",
            None => "not visited",
        };
        let note = check
            .note
            .as_deref()
            .map(|n| format!("  ({n})"))
            .unwrap_or_default();
        println!(
            "{}: screens.{}.{}: {verdict}: {}{note}",
            check.file, check.screen, check.key, check.selector
        );
    }
    println!("{missing} required selector(s) missing");
    if missing > 0 {
        anyhow::bail!("{missing} required selector(s) of {file} missing on the website");
    }
    Ok(())
}
