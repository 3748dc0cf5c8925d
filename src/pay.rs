//! `psd2-fallback pay`: one payment initiated through the engine, from the command line — with the
//! journal, so a run that dies is reconciled by the next one before it sends anything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::api::{ApiBank, ApiBankConfig};
use crate::bank::{Bank, BankError, PsuContext, ScaRelay};
use crate::failover::{Failover, FailoverConfig};
use crate::health::{Health, HealthConfig};
use crate::journal::{JournalStore, SqliteJournal};
use crate::model::{PaymentInitiation, PaymentRequest, PsuId};
use crate::screen::driver::WebDriverTarget;
use crate::screen::{ScreenBank, ScreenBankConfig};

/// Where the bank is and how to reach it.
#[derive(Debug, Clone)]
pub struct PayOptions {
    /// The bank's name in the journal.
    pub bank: String,
    /// The API root.
    pub api_url: String,
    /// The website root.
    pub website_url: String,
    /// The website's screen map.
    pub map: PathBuf,
    /// Where browsers come from.
    pub webdriver: WebDriverTarget,
    /// The journal file.
    pub journal: PathBuf,
    /// The customer.
    pub psu: String,
    /// The customer's password (from the environment, never the command line).
    pub password: SecretString,
    /// How long the API may take.
    pub api_timeout: Duration,
}

/// What a run did.
#[derive(Debug)]
pub struct PayOutcome {
    /// Intents left open by earlier runs that this run settled, and those still in doubt.
    pub resumed: (usize, usize),
    /// The payment, or why there is none.
    pub result: Result<PaymentInitiation, BankError>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// The API channel could not be set up.
    #[error(transparent)]
    Api(#[from] crate::api::ApiConfigError),
    /// The screen channel could not be set up.
    #[error(transparent)]
    Screen(#[from] crate::screen::ScreenSetupError),
    /// The journal could not be opened.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

/// Resumes what earlier runs left open, then initiates the payment.
pub async fn pay(
    options: PayOptions,
    relay: Option<Arc<dyn ScaRelay>>,
    request: &PaymentRequest,
) -> Result<PayOutcome, PayError> {
    let journal: Arc<dyn JournalStore> = Arc::new(SqliteJournal::open(&options.journal)?);
    let mut api_config = ApiBankConfig::new(&options.api_url);
    api_config.request_timeout = options.api_timeout;
    let api = Arc::new(ApiBank::new(api_config)?);
    let mut screen_config = ScreenBankConfig::new(&options.map, &options.website_url);
    screen_config.webdriver = options.webdriver.clone();
    screen_config.spare = false;
    let screen = ScreenBank::new(screen_config, relay).await?;
    let health = Health::new(options.bank.clone(), HealthConfig::default());
    let failover = Failover::new(
        FailoverConfig::new(options.bank.clone()),
        api,
        Arc::new(screen.clone()),
        health,
        journal,
    );
    let psu = PsuContext::new(PsuId::new(&options.psu)).with_password(options.password.clone());
    let resumed = match failover.resume(|_| psu.clone()).await {
        Ok(counts) => counts,
        Err(error) => {
            screen.close().await;
            return Ok(PayOutcome {
                resumed: (0, 0),
                result: Err(error),
            });
        }
    };
    let result = failover.initiate_payment(&psu, request).await;
    screen.close().await;
    Ok(PayOutcome { resumed, result })
}
