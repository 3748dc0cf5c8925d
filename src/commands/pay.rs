//! `psd2-fallback pay`: one payment initiated through the engine, from the command line — with the
//! journal, so a run that dies is reconciled by the next one before it sends anything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use psd2_fallback_engine::api::ApiBankConfig;
use psd2_fallback_engine::bank::{Bank, BankError, PsuContext, ScaRelay};
use psd2_fallback_engine::failover::{FailoverBuilder, ScreenChannel};
use psd2_fallback_engine::journal::{JournalStore, SqliteJournal};
use psd2_fallback_engine::model::{PaymentInitiation, PaymentRequest, PsuId};
use psd2_fallback_engine::screen::ScreenBankConfig;
use psd2_fallback_engine::screen::WebDriverTarget;

/// Where the bank is and how to reach it.
#[derive(Debug, Clone)]
pub(crate) struct PayOptions {
    /// The bank's name in the journal.
    pub(crate) bank: String,
    /// The API root.
    pub(crate) api_url: String,
    /// The website root.
    pub(crate) website_url: String,
    /// The website's screen map.
    pub(crate) map: PathBuf,
    /// Where browsers come from.
    pub(crate) webdriver: WebDriverTarget,
    /// The journal file.
    pub(crate) journal: PathBuf,
    /// The customer.
    pub(crate) psu: String,
    /// The customer's password (from the environment, never the command line).
    pub(crate) password: SecretString,
    /// How long the API may take.
    pub(crate) api_timeout: Duration,
}

/// What a run did.
#[derive(Debug)]
pub(crate) struct PayOutcome {
    /// Intents left open by earlier runs that this run settled, and those still in doubt.
    pub(crate) resumed: (usize, usize),
    /// The payment, or why there is none.
    pub(crate) result: Result<PaymentInitiation, BankError>,
}

/// Resumes what earlier runs left open, then initiates the payment.
pub(crate) async fn pay(
    options: PayOptions,
    relay: Option<Arc<dyn ScaRelay>>,
    request: &PaymentRequest,
) -> anyhow::Result<PayOutcome> {
    let journal: Arc<dyn JournalStore> = Arc::new(SqliteJournal::open(&options.journal)?);
    let mut api_config = ApiBankConfig::new(&options.api_url);
    api_config.request_timeout = options.api_timeout;
    let mut screen_config = ScreenBankConfig::new(&options.map, &options.website_url);
    screen_config.webdriver = options.webdriver.clone();
    screen_config.spare = false;
    // One payment and done: only the payment's own calls reach the API, no background probes.
    let engine = FailoverBuilder::new(
        options.bank.clone(),
        api_config,
        ScreenChannel::config(screen_config, relay),
    )
    .without_prober()
    .build(journal)
    .await?;
    let failover = &engine.failover;
    let psu = PsuContext::new(PsuId::new(&options.psu)).with_password(options.password.clone());
    // Each open intent is looked up as its own customer: this run can do so for its own customer only,
    // and leaves the others for a run that has their context.
    let resumed = match failover
        .resume(|intent| (intent.psu == options.psu).then(|| psu.clone()))
        .await
    {
        Ok(counts) => counts,
        Err(error) => {
            engine.shutdown().await;
            return Ok(PayOutcome {
                resumed: (0, 0),
                result: Err(error),
            });
        }
    };
    let result = failover.initiate_payment(&psu, request).await;
    engine.shutdown().await;
    Ok(PayOutcome { resumed, result })
}
