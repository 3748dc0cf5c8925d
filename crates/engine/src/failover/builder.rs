//! `FailoverBuilder`: the one way to put a bank's engine together — the API channel, its health and
//! the prober that watches it, the website channel, and the `Failover` over them — with the
//! regulation's defaults. The demo, `pay`, the service, the tests and the benchmarks all build
//! through it.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::{Failover, FailoverConfig, WarmStandbyConfig};
use crate::api::{ApiBank, ApiBankConfig, ApiConfigError};
use crate::bank::{Bank, ScaRelay};
use crate::health::{Health, HealthConfig, Probe, spawn_prober};
use crate::journal::JournalStore;
use crate::screen::{ScreenBank, ScreenBankConfig, ScreenSetupError};

/// The API channel a builder starts from.
#[derive(Debug)]
pub enum ApiChannel {
    /// An `ApiBank` already made.
    Bank(ApiBank),
    /// The configuration to make one from.
    Config(ApiBankConfig),
}

impl From<ApiBank> for ApiChannel {
    fn from(bank: ApiBank) -> Self {
        ApiChannel::Bank(bank)
    }
}

impl From<ApiBankConfig> for ApiChannel {
    fn from(config: ApiBankConfig) -> Self {
        ApiChannel::Config(config)
    }
}

/// The website channel a builder starts from.
#[derive(Debug)]
pub enum ScreenChannel {
    /// A `ScreenBank` already started.
    Bank(ScreenBank),
    /// A `ScreenBank` to start.
    Config {
        /// Its configuration.
        config: Box<ScreenBankConfig>,
        /// What answers the website's login challenges for reads without the customer present.
        relay: Option<Arc<dyn ScaRelay>>,
    },
    /// Any other `Bank` standing in for the website: a bank without a website channel, or a test's
    /// stand-in.
    Other(Arc<dyn Bank>),
}

impl ScreenChannel {
    /// A `ScreenBank` to start from `config`, logging in through `relay` when the customer is absent.
    pub fn config(config: ScreenBankConfig, relay: Option<Arc<dyn ScaRelay>>) -> Self {
        ScreenChannel::Config {
            config: Box::new(config),
            relay,
        }
    }
}

impl From<ScreenBank> for ScreenChannel {
    fn from(bank: ScreenBank) -> Self {
        ScreenChannel::Bank(bank)
    }
}

impl From<Arc<dyn Bank>> for ScreenChannel {
    fn from(bank: Arc<dyn Bank>) -> Self {
        ScreenChannel::Other(bank)
    }
}

/// What the prober asks.
#[derive(Debug)]
enum Prober {
    /// The API channel's own probe (`ApiBank::health_probe`).
    Api,
    /// Another probe.
    Probe(Probe),
    /// No prober: health is fed by real calls only, so it never leaves `Fallback` by itself.
    Off,
}

/// Why a bank's engine could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The API channel's configuration cannot make a client.
    #[error(transparent)]
    Api(#[from] ApiConfigError),
    /// The website channel could not start (its screen map, its browser side).
    #[error(transparent)]
    Screen(#[from] ScreenSetupError),
}

/// Builds one bank's engine. Defaults: the regulation's health policy (`HealthConfig::default()`),
/// 4 unattended reads of an account a day (RTS Art. 36(5)), and a prober that probes the API channel
/// from the start.
///
/// ```no_run
/// # async fn run(journal: std::sync::Arc<dyn psd2_fallback_engine::journal::JournalStore>) -> Result<(), Box<dyn std::error::Error>> {
/// use psd2_fallback_engine::api::ApiBankConfig;
/// use psd2_fallback_engine::failover::{FailoverBuilder, ScreenChannel};
/// use psd2_fallback_engine::screen::ScreenBankConfig;
///
/// let engine = FailoverBuilder::new(
///     "sandbox",
///     ApiBankConfig::new("https://api.bank.example/psd2"),
///     ScreenChannel::config(
///         ScreenBankConfig::new("selectors/sandbox.toml", "https://bank.example"),
///         None,
///     ),
/// )
/// .build(journal)
/// .await?;
/// // `engine.failover` is a `Bank`; at the end:
/// engine.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FailoverBuilder {
    config: FailoverConfig,
    api: ApiChannel,
    screen: ScreenChannel,
    health: HealthConfig,
    prober: Prober,
    warm: Option<WarmStandbyConfig>,
}

impl FailoverBuilder {
    /// A bank's engine over these two channels, with the defaults.
    pub fn new(
        bank: impl Into<String>,
        api: impl Into<ApiChannel>,
        screen: impl Into<ScreenChannel>,
    ) -> Self {
        Self {
            config: FailoverConfig::new(bank),
            api: api.into(),
            screen: screen.into(),
            health: HealthConfig::default(),
            prober: Prober::Api,
            warm: None,
        }
    }

    /// Prepares the website channel ahead of a switch for the recent callers (when it is a
    /// `ScreenBank`; see [`Failover::with_warm_standby`]). Off by default.
    pub fn warm_standby(mut self, config: WarmStandbyConfig) -> Self {
        self.warm = Some(config);
        self
    }

    /// How the bank's health is judged.
    pub fn health(mut self, config: HealthConfig) -> Self {
        self.health = config;
        self
    }

    /// Unattended reads of one account a day (RTS Art. 36(5): 4, or the consent's `frequencyPerDay`).
    pub fn unattended_reads_per_day(mut self, limit: u32) -> Self {
        self.config.unattended_reads_per_day = limit;
        self
    }

    /// Probes with `probe` instead of the API channel's own probe.
    pub fn probe(mut self, probe: Probe) -> Self {
        self.prober = Prober::Probe(probe);
        self
    }

    /// Starts no prober: for a short run (one command, one benchmark) where only real calls should
    /// reach the API. Health then never leaves `Fallback` by itself.
    pub fn without_prober(mut self) -> Self {
        self.prober = Prober::Off;
        self
    }

    /// Makes and starts the parts without joining them: the API channel, the health, the website
    /// channel, then the prober (started last, so a part that fails to start leaves nothing running).
    /// For a caller that wraps the channels before making the `Failover` itself, as the service does.
    pub async fn parts(self) -> Result<FailoverParts, BuildError> {
        let api = match self.api {
            ApiChannel::Bank(bank) => bank,
            ApiChannel::Config(config) => ApiBank::new(config)?,
        };
        let health = Health::new(self.config.bank.clone(), self.health);
        let (screen, screen_bank): (Arc<dyn Bank>, _) = match self.screen {
            ScreenChannel::Bank(bank) => (Arc::new(bank.clone()), Some(bank)),
            ScreenChannel::Config { config, relay } => {
                let bank = ScreenBank::new(*config, relay).await?;
                (Arc::new(bank.clone()), Some(bank))
            }
            ScreenChannel::Other(bank) => (bank, None),
        };
        let prober = match self.prober {
            Prober::Api => Some(spawn_prober(health.clone(), api.health_probe())),
            Prober::Probe(probe) => Some(spawn_prober(health.clone(), probe)),
            Prober::Off => None,
        };
        Ok(FailoverParts {
            config: self.config,
            api,
            screen,
            screen_bank,
            health,
            prober,
        })
    }

    /// Makes and starts everything, and the `Failover` over it, journalling into `journal` (switch
    /// events included, before they are announced).
    pub async fn build(self, journal: Arc<dyn JournalStore>) -> Result<BuiltFailover, BuildError> {
        let warm = self.warm.clone();
        let parts = self.parts().await?;
        let mut failover = Failover::new(
            parts.config,
            Arc::new(parts.api),
            parts.screen,
            parts.health,
            journal,
        );
        if let (Some(config), Some(screen)) = (warm, &parts.screen_bank) {
            failover = failover.with_warm_standby(screen.clone(), config);
        }
        Ok(BuiltFailover {
            failover,
            screen_bank: parts.screen_bank,
            prober: parts.prober,
        })
    }
}

/// One bank's parts, made and started, not yet joined into a `Failover`.
#[derive(Debug)]
pub struct FailoverParts {
    /// The bank's name and its unattended-read limit.
    pub config: FailoverConfig,
    /// The API channel.
    pub api: ApiBank,
    /// The website channel, as the failover is to use it.
    pub screen: Arc<dyn Bank>,
    /// The website channel again when it is a `ScreenBank`, to close its browsers at the end.
    pub screen_bank: Option<ScreenBank>,
    /// The bank's health, which the prober feeds.
    pub health: Arc<Health>,
    /// The task probing the API (none when the builder was told not to probe). It runs until aborted.
    pub prober: Option<JoinHandle<()>>,
}

/// One bank's engine, built and running.
#[derive(Debug)]
pub struct BuiltFailover {
    /// The failover: a `Bank`. Its health is `failover.health()`, its journal `failover.journal()`.
    pub failover: Failover,
    /// The website channel when it is a `ScreenBank`, to close its browsers at the end.
    pub screen_bank: Option<ScreenBank>,
    /// The task probing the API (none when the builder was told not to probe). It runs until aborted.
    pub prober: Option<JoinHandle<()>>,
}

impl BuiltFailover {
    /// Stops the prober and closes the website channel's browsers.
    pub async fn shutdown(&self) {
        if let Some(prober) = &self.prober {
            prober.abort();
        }
        if let Some(screen) = &self.screen_bank {
            screen.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::health::{Mode, SwitchCause};
    use crate::journal::SqliteJournal;

    /// An API that refuses every connection: nothing listens on the port once the listener is gone.
    fn refused_api() -> ApiBank {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        ApiBank::new(ApiBankConfig::new(url)).unwrap()
    }

    fn stand_in() -> ScreenChannel {
        let bank: Arc<dyn Bank> = Arc::new(refused_api());
        ScreenChannel::Other(bank)
    }

    /// The builder's defaults: a prober on the API channel feeds the health, and the failover's
    /// journal holds the switch that the probes caused, measured.
    #[tokio::test(start_paused = true)]
    async fn the_built_engine_probes_the_api_and_journals_its_switches() {
        let dir =
            std::env::temp_dir().join(format!("psd2-fallback-builder-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = Arc::new(SqliteJournal::open(&dir.join("journal.sqlite")).unwrap());
        let started = time::OffsetDateTime::now_utc();
        let engine = FailoverBuilder::new("sandbox", refused_api(), stand_in())
            .health(HealthConfig {
                probe_interval: Duration::from_secs(1),
                ..HealthConfig::default()
            })
            .build(journal.clone())
            .await
            .unwrap();
        assert!(engine.prober.is_some() && engine.screen_bank.is_none());
        let health = engine.failover.health().clone();
        assert_eq!(health.bank(), "sandbox");
        health
            .watch()
            .wait_for(|mode| *mode == Mode::Fallback)
            .await
            .unwrap();
        engine.shutdown().await;
        let switches = journal
            .switches(
                "sandbox",
                started,
                time::OffsetDateTime::now_utc() + time::Duration::seconds(1),
            )
            .unwrap();
        assert_eq!(
            switches
                .iter()
                .map(|s| (s.from, s.to, s.cause))
                .collect::<Vec<_>>(),
            [(Mode::Api, Mode::Fallback, SwitchCause::Measured)]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Without a prober nothing reaches the API but real calls, and the parts keep the settings given.
    #[tokio::test(start_paused = true)]
    async fn without_a_prober_health_moves_only_with_real_calls() {
        let parts = FailoverBuilder::new("sandbox", refused_api(), stand_in())
            .unattended_reads_per_day(2)
            .without_prober()
            .parts()
            .await
            .unwrap();
        assert!(parts.prober.is_none());
        assert_eq!(parts.config.unattended_reads_per_day, 2);
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(parts.health.mode(), Mode::Api);
    }

    #[tokio::test]
    async fn a_configuration_that_cannot_make_a_client_is_a_build_error() {
        let error = FailoverBuilder::new("sandbox", ApiBankConfig::new("ftp://bank"), stand_in())
            .parts()
            .await
            .unwrap_err();
        assert!(matches!(error, BuildError::Api(_)), "{error:?}");
        assert_eq!(
            error.to_string(),
            "base_url \"ftp://bank\" is not an http:// or https:// URL"
        );
    }
}
