//! Signing on the website in the bank's app, with a real Chromium: the sandbox website's "confirm in
//! your app" page for a customer who signs that way, described by `selectors/sandbox.toml`
//! (`screens.sign_app`), relayed by the engine as a decoupled authorisation and followed on the page —
//! approved, or refused with the bank's words — on the channel that started it even after the API is
//! back.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::failover::FailoverBuilder;
use psd2_fallback_engine::health::Override;
use psd2_fallback_engine::journal::SqliteJournal;
use psd2_fallback_engine::model::{
    Amount, EndToEndId, Iban, PaymentProduct, PaymentRequest, PaymentStatus, ScaProgress,
    ScaStatus, ScaStep, ScaTarget,
};
use psd2_fallback_engine::screen::{ScreenBank, ScreenBankConfig};
use psd2_fallback_engine::{Bank, PsuContext};
use psd2_fallback_sandbox::ledger::REFUSED_IN_APP;
use psd2_fallback_sandbox::{ApiFault, CardReaderRelay, Sandbox, SandboxConfig};
use rust_decimal::dec;

use crate::support::service::{api_bank, fast_health};
use crate::support::{TODAY, browser, psu};

const LUC: &str = "1000002";

fn luc_payment(amount: rust_decimal::Decimal) -> PaymentRequest {
    PaymentRequest {
        product: PaymentProduct::SepaCreditTransfer,
        debtor: Iban::parse("BE33738234567846").unwrap(),
        creditor_name: "Garage Vermeulen".to_owned(),
        creditor: Iban::parse("BE71096123456769").unwrap(),
        amount: Amount::eur(amount).unwrap(),
        remittance: Some("Onderhoud".to_owned()),
        requested_execution_date: None,
        end_to_end_id: EndToEndId::generate(),
    }
}

/// Polls through `bank` at the step's pace until the approval has ended (at most 20 s).
async fn follow(
    bank: &dyn Bank,
    psu: &PsuContext,
    target: &ScaTarget,
    step: &ScaStep,
) -> ScaProgress {
    let ScaStep::Decoupled {
        authorisation_id,
        poll_every,
        ..
    } = step
    else {
        panic!("the website waits for the app: decoupled, not {step:?}");
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let progress = bank
            .authorisation_status(psu, target, authorisation_id)
            .await
            .expect("the website's page tells where the approval stands");
        if progress.has_ended() || tokio::time::Instant::now() > deadline {
            return progress;
        }
        tokio::time::sleep(*poll_every).await;
    }
}

async fn in_app(sandbox: &Sandbox, decision: &str) {
    let answer = reqwest::Client::new()
        .put(format!(
            "{}/_sandbox/app/{LUC}/{decision}",
            sandbox.web_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_website_signing_in_the_app_is_relayed_as_decoupled_and_followed_on_its_channel() {
    let Some(_permit) = browser::permit().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        settle_after: Duration::from_millis(200),
        app_signers: vec![LUC.to_owned()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let mut config = ScreenBankConfig::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/selectors/sandbox.toml"),
        sandbox.web_url(),
    );
    config.spare = false;
    config.max_active = 1;
    config.pacing_per_second = 200;
    let screen = ScreenBank::new(config, Some(Arc::new(CardReaderRelay)))
        .await
        .unwrap();
    let scratch =
        std::env::temp_dir().join(format!("psd2-fallback-sca-{}.sqlite", uuid::Uuid::new_v4()));
    let built = FailoverBuilder::new("sandbox", api_bank(&sandbox.api_url(), None), screen)
        .health(fast_health())
        .build(Arc::new(SqliteJournal::open(&scratch).unwrap()))
        .await
        .unwrap();
    let failover = &built.failover;
    let luc = psu(LUC);

    // The API is down: the order is made on the website, and its signing waits for the app.
    sandbox.set_api_fault(ApiFault::Down);
    failover.health().set_override(Override::ForceFallback);
    let approved = failover
        .initiate_payment(&luc, &luc_payment(dec!(12.50)))
        .await
        .expect("initiated through the website");
    let target = ScaTarget::Payment(approved.payment.clone());
    let step = failover.start_authorisation(&luc, &target).await.unwrap();
    let ScaStep::Decoupled { message, .. } = &step else {
        panic!("decoupled, not {step:?}");
    };
    assert_eq!(message, "Confirm this order in your banking app.");
    assert_eq!(
        failover
            .authorisation_status(&luc, &target, step.authorisation_id().unwrap())
            .await
            .unwrap()
            .status,
        ScaStatus::Started,
        "nobody approved yet"
    );
    // The API is back; the approval is still followed on the website, which started it.
    sandbox.set_api_fault(ApiFault::Up);
    failover.health().set_override(Override::ForceApi);
    in_app(&sandbox, "approve").await;
    assert_eq!(
        follow(failover, &luc, &target, &step).await.status,
        ScaStatus::Finalised
    );
    assert_ne!(
        failover
            .payment_status(&luc, &approved.payment)
            .await
            .unwrap(),
        PaymentStatus::Received
    );

    // A second order, refused in the app: the page shows the bank's words, which reach the caller.
    sandbox.set_api_fault(ApiFault::Down);
    failover.health().set_override(Override::ForceFallback);
    let refused = failover
        .initiate_payment(&luc, &luc_payment(dec!(7.25)))
        .await
        .expect("initiated through the website");
    let target = ScaTarget::Payment(refused.payment.clone());
    let step = failover.start_authorisation(&luc, &target).await.unwrap();
    in_app(&sandbox, "refuse").await;
    let ended = follow(failover, &luc, &target, &step).await;
    assert_eq!(ended.status, ScaStatus::Failed);
    assert_eq!(ended.message.as_deref(), Some(REFUSED_IN_APP));
    assert_eq!(
        sandbox
            .ledger()
            .payment(LUC, &refused.payment.id)
            .unwrap()
            .status,
        PaymentStatus::Rejected
    );
    built.shutdown().await;
    sandbox.shutdown().await;
    let _ = std::fs::remove_file(&scratch);
}
