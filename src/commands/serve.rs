//! `psd2-fallback serve`: the resilience service, per its configuration file, until Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use psd2_fallback_service::{ServiceConfig, serve};
use tokio::net::TcpListener;

/// The configuration file.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration file.
    #[arg(long, default_value = "psd2-fallback.toml")]
    config: PathBuf,
}

/// Builds the service from its file and serves until Ctrl-C. Banks whose config sets
/// `sandbox_card_reader` get the sandbox bank's card-reader simulation for their website logins.
pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let config = ServiceConfig::load(&args.config)?;
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
    serve(listener, state, stop_signal()).await?;
    for prober in probers {
        prober.abort();
    }
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, what a process manager sends: either way the service stops
/// taking requests, finishes those in flight, and its website channels close their browsers and
/// remove their folders before the process ends.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
