//! Cancellations the bank wants authorised (`psd2-fallback sandbox --cancel-sca`), over real HTTP:
//! a `DELETE` answered `202` with `_links.startAuthorisation`, followed by the engine as an
//! authorisation of [`ScaTarget::Cancellation`] (Berlin Group `…/cancellation-authorisations`), on the
//! sandbox bank directly and through the service, every exchange checked against the specification.
//! The payment is cancelled only when that authorisation finalises; a refused one leaves it as it was.

use std::sync::Arc;
use std::time::Duration;

use psd2_fallback_engine::api::ApiBank;
use psd2_fallback_engine::model::{
    Amount, Cancellation, ConsentAccess, ConsentRequest, Currency, EndToEndId, PaymentProduct,
    PaymentRef, PaymentRequest, PaymentStatus, ScaAnswer, ScaPreference, ScaStatus, ScaStep,
    ScaTarget,
};
use psd2_fallback_engine::{Bank, PsuContext};
use psd2_fallback_sandbox::ledger::SCA_ATTEMPTS;
use psd2_fallback_sandbox::{Sandbox, SandboxConfig, SandboxSca, card_reader_response};
use psd2_fallback_service::ServiceLimits;
use rust_decimal::dec;

use crate::sca::{in_app, poll_until_ended};
use crate::support::conformance::{Checker, Conforming};
use crate::support::service::{TOKEN_A, TOKEN_B, api_bank, fast_health, start};
use crate::support::{TODAY, ibans, psu};

const ANNA: &str = "1000001";
const LUC: &str = "1000002";

/// A sandbox whose cancellations must be authorised, with the card reader.
async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        settle_after: Duration::from_millis(200),
        sca: SandboxSca::Embedded,
        cancel_sca: true,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts")
}

/// An `ApiBank` on the sandbox, through a conformance checker.
fn checked(sandbox: &Sandbox) -> Conforming<ApiBank> {
    let checker = Checker::sandbox(sandbox);
    let client = api_bank(&checker.url, None);
    Conforming { client, checker }
}

/// A payment from `psu`'s first account to the other customer, executed `in_days` from today (at
/// once when `None`), signed with the card reader: `ACTC`.
async fn signed_payment(
    bank: &dyn Bank,
    sandbox: &Sandbox,
    psu: &PsuContext,
    in_days: Option<i64>,
) -> PaymentRef {
    let customer = psu.psu_id.as_str();
    let other = if customer == ANNA { LUC } else { ANNA };
    let payment = bank
        .initiate_payment(
            psu,
            &PaymentRequest {
                product: PaymentProduct::SepaCreditTransfer,
                debtor: sandbox.ledger().accounts(customer)[0].iban.clone(),
                creditor_name: "Someone".into(),
                creditor: sandbox.ledger().accounts(other)[0].iban.clone(),
                amount: Amount::new(dec!(7.50), Currency::from_code("EUR").unwrap()).unwrap(),
                remittance: Some("cancellation test".into()),
                requested_execution_date: in_days.map(|d| TODAY + time::Duration::days(d)),
                end_to_end_id: EndToEndId::generate(),
            },
        )
        .await
        .unwrap()
        .payment;
    let target = ScaTarget::Payment(payment.clone());
    assert_eq!(answer(bank, psu, &target, true).await, ScaStatus::Finalised);
    payment
}

/// Starts an authorisation of `target` and answers its challenge, rightly or wrongly (until the bank
/// gives up); the authorisation's end.
async fn answer(bank: &dyn Bank, psu: &PsuContext, target: &ScaTarget, right: bool) -> ScaStatus {
    let challenge = bank
        .start_authorisation(psu, target)
        .await
        .unwrap()
        .into_challenge()
        .expect("the card reader's challenge");
    assert_eq!(challenge.method, "CHIP_OTP");
    if right {
        let response = card_reader_response(psu.psu_id.as_str(), &challenge.data);
        return bank
            .authorise(
                psu,
                target,
                &challenge.authorisation_id,
                &ScaAnswer::new(response),
            )
            .await
            .unwrap();
    }
    for _ in 0..SCA_ATTEMPTS {
        let refused = bank
            .authorise(
                psu,
                target,
                &challenge.authorisation_id,
                &ScaAnswer::new("00000000"),
            )
            .await
            .unwrap_err();
        assert!(refused.is_rejected(), "{refused}");
    }
    bank.authorisation_status(psu, target, &challenge.authorisation_id)
        .await
        .unwrap()
        .status
}

/// One customer cancels and authorises it, the other refuses at the card reader, at the same time:
/// the first payment is `CANC`, the second keeps `ACTC`.
async fn cancel_one_and_refuse_other(bank: &dyn Bank, sandbox: &Sandbox) {
    let (anna, luc) = (psu(ANNA), psu(LUC));
    let (kept, dropped) = tokio::join!(
        signed_payment(bank, sandbox, &anna, Some(5)),
        signed_payment(bank, sandbox, &luc, Some(5)),
    );
    let asked = Cancellation {
        status: PaymentStatus::AcceptedTechnical,
        authorisation_needed: true,
    };
    let (a, l) = tokio::join!(
        bank.cancel_payment(&anna, &kept),
        bank.cancel_payment(&luc, &dropped)
    );
    assert_eq!((a.unwrap(), l.unwrap()), (asked, asked));
    // Nothing is cancelled before the authorisation.
    assert_eq!(
        bank.payment_status(&anna, &kept).await.unwrap(),
        PaymentStatus::AcceptedTechnical
    );
    let (cancel_kept, cancel_dropped) = (
        ScaTarget::Cancellation(kept.clone()),
        ScaTarget::Cancellation(dropped.clone()),
    );
    let (a, l) = tokio::join!(
        answer(bank, &anna, &cancel_kept, true),
        answer(bank, &luc, &cancel_dropped, false),
    );
    assert_eq!((a, l), (ScaStatus::Finalised, ScaStatus::Failed));
    assert_eq!(
        bank.payment_status(&anna, &kept).await.unwrap(),
        PaymentStatus::Cancelled
    );
    assert_eq!(
        bank.payment_status(&luc, &dropped).await.unwrap(),
        PaymentStatus::AcceptedTechnical,
        "a refused cancellation leaves the payment as it was"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancellations_of_two_customers_at_once_end_authorised_and_refused() {
    let sandbox = sandbox().await;
    let bank = checked(&sandbox);
    cancel_one_and_refuse_other(&bank.client, &sandbox).await;

    // A standing order too: cancelled once its cancellation is authorised.
    let anna = psu(ANNA);
    let order = bank
        .create_standing_order(
            &anna,
            &psd2_fallback_engine::model::StandingOrderRequest {
                payment: PaymentRequest {
                    product: PaymentProduct::SepaCreditTransfer,
                    debtor: sandbox.ledger().accounts(ANNA)[0].iban.clone(),
                    creditor_name: "Landlord".into(),
                    creditor: sandbox.ledger().accounts(LUC)[0].iban.clone(),
                    amount: Amount::new(dec!(600), Currency::from_code("EUR").unwrap()).unwrap(),
                    remittance: Some("rent".into()),
                    requested_execution_date: None,
                    end_to_end_id: EndToEndId::generate(),
                },
                start_date: TODAY + time::Duration::days(3),
                end_date: None,
                frequency: psd2_fallback_engine::model::Frequency::Monthly,
                execution_rule: psd2_fallback_engine::model::ExecutionRule::Following,
                day_of_execution: None,
            },
        )
        .await
        .unwrap()
        .payment;
    let target = ScaTarget::Payment(order.clone());
    assert_eq!(
        answer(&bank.client, &anna, &target, true).await,
        ScaStatus::Finalised
    );
    let asked = bank.cancel_standing_order(&anna, &order).await.unwrap();
    assert!(asked.authorisation_needed, "{asked:?}");
    assert_eq!(
        answer(
            &bank.client,
            &anna,
            &ScaTarget::Cancellation(order.clone()),
            true
        )
        .await,
        ScaStatus::Finalised
    );
    assert_eq!(
        bank.payment_status(&anna, &order).await.unwrap(),
        PaymentStatus::Cancelled
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancellation_too_late_or_never_asked_for_is_refused_clearly() {
    let sandbox = sandbox().await;
    let bank = checked(&sandbox);
    let luc = psu(LUC);

    // Executed already (settles 200 ms after signing): the bank refuses, saying why.
    let executed = signed_payment(&bank.client, &sandbox, &luc, None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while bank.payment_status(&luc, &executed).await.unwrap()
        != PaymentStatus::AcceptedSettlementCompleted
    {
        assert!(tokio::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let late = bank.cancel_payment(&luc, &executed).await.unwrap_err();
    assert!(late.is_rejected(), "{late}");
    assert!(
        late.to_string().contains("can no longer be cancelled"),
        "{late}"
    );

    // An authorisation of a cancellation nobody asked for (no DELETE first) is refused, saying so.
    let later = signed_payment(&bank.client, &sandbox, &luc, Some(5)).await;
    let unasked = bank
        .start_authorisation(&luc, &ScaTarget::Cancellation(later.clone()))
        .await
        .unwrap_err();
    assert!(unasked.is_rejected(), "{unasked}");
    assert!(unasked.to_string().contains("DELETE"), "{unasked}");
    assert_eq!(
        bank.payment_status(&luc, &later).await.unwrap(),
        PaymentStatus::AcceptedTechnical
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_follows_cancellation_authorisations_only_for_their_caller() {
    let sandbox = sandbox().await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    let client = api_bank(&service.bank_url(), Some(TOKEN_A));

    // Two customers of one caller, through the service: one authorised, one refused.
    cancel_one_and_refuse_other(&client, &sandbox).await;

    // Another caller can neither start nor answer nor read the cancellation's authorisation.
    let anna = psu(ANNA);
    let paid = signed_payment(&client, &sandbox, &anna, Some(4)).await;
    assert!(
        client
            .cancel_payment(&anna, &paid)
            .await
            .unwrap()
            .authorisation_needed
    );
    let target = ScaTarget::Cancellation(paid.clone());
    let challenge = client
        .start_authorisation(&anna, &target)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    let other = api_bank(&service.bank_url(), Some(TOKEN_B));
    let started = other.start_authorisation(&anna, &target).await.unwrap_err();
    let answered = other
        .authorise(
            &anna,
            &target,
            &challenge.authorisation_id,
            &ScaAnswer::new(card_reader_response(ANNA, &challenge.data)),
        )
        .await
        .unwrap_err();
    let read = other
        .authorisation_status(&anna, &target, &challenge.authorisation_id)
        .await
        .unwrap_err();
    // The list of the cancellation's authorisations (`GET …/cancellation-authorisations`): the bank's,
    // for its own caller only.
    let listed = client.authorisation_ids(&anna, &target).await.unwrap();
    assert!(
        listed.contains(&challenge.authorisation_id),
        "{listed:?} lists the authorisation started"
    );
    let listed_by_other = other.authorisation_ids(&anna, &target).await.unwrap_err();
    // The payment's own authorisations and a consent's (`GET …/authorisations`): listed for their
    // caller as the bank holds them, unknown to another caller.
    let signing = ScaTarget::Payment(paid.clone());
    let signings = client.authorisation_ids(&anna, &signing).await.unwrap();
    assert_eq!(signings.len(), 1, "the payment's one signing: {signings:?}");
    let consent = client
        .create_consent(
            &anna,
            &ConsentRequest {
                access: ConsentAccess::full(ibans(&sandbox, ANNA)),
                recurring: true,
                valid_until: TODAY + time::Duration::days(90),
                frequency_per_day: 4,
            },
        )
        .await
        .unwrap();
    let consenting = ScaTarget::Consent(consent);
    let consent_challenge = client
        .start_authorisation(&anna, &consenting)
        .await
        .unwrap()
        .into_challenge()
        .unwrap();
    assert_eq!(
        client.authorisation_ids(&anna, &consenting).await.unwrap(),
        vec![consent_challenge.authorisation_id.clone()]
    );
    let signings_by_other = other.authorisation_ids(&anna, &signing).await.unwrap_err();
    let consent_by_other = other
        .authorisation_ids(&anna, &consenting)
        .await
        .unwrap_err();
    for refused in [
        &started,
        &answered,
        &read,
        &listed_by_other,
        &signings_by_other,
    ] {
        assert!(refused.is_rejected(), "{refused}");
        assert!(
            refused.to_string().contains("RESOURCE_UNKNOWN"),
            "{refused}"
        );
    }
    // Another caller's consent is, to this caller, no consent at all (as the bank's API says it).
    assert!(consent_by_other.is_rejected(), "{consent_by_other}");
    assert!(
        consent_by_other.to_string().contains("CONSENT_UNKNOWN"),
        "{consent_by_other}"
    );
    assert_eq!(
        client.payment_status(&anna, &paid).await.unwrap(),
        PaymentStatus::AcceptedTechnical
    );
    // Its own caller finishes it.
    let done = client
        .authorise(
            &anna,
            &target,
            &challenge.authorisation_id,
            &ScaAnswer::new(card_reader_response(ANNA, &challenge.data)),
        )
        .await
        .unwrap();
    assert_eq!(done, ScaStatus::Finalised);
    assert_eq!(
        client.payment_status(&anna, &paid).await.unwrap(),
        PaymentStatus::Cancelled
    );
    service.stop().await;
    sandbox.shutdown().await;
}

/// Decoupled comes free: the cancellation is approved in one customer's banking app and refused in
/// the other's, no password given.
#[tokio::test(flavor = "multi_thread")]
async fn decoupled_cancellations_approved_and_refused_in_the_app() {
    let sandbox = Sandbox::start(SandboxConfig {
        today: Some(TODAY),
        settle_after: Duration::from_millis(200),
        sca: SandboxSca::Choice,
        cancel_sca: true,
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let bank = checked(&sandbox);
    let mut ended_as = Vec::new();
    for (customer, decision) in [(ANNA, "approve"), (LUC, "refuse")] {
        let paid = signed_payment(&bank.client, &sandbox, &psu(customer), Some(6)).await;
        let mut app = psu(customer);
        app.password = None;
        app.sca = ScaPreference {
            decoupled_preferred: Some(true),
            ..ScaPreference::default()
        };
        assert!(
            bank.cancel_payment(&app, &paid)
                .await
                .unwrap()
                .authorisation_needed
        );
        let target = ScaTarget::Cancellation(paid.clone());
        let step = bank.start_authorisation(&app, &target).await.unwrap();
        assert!(matches!(step, ScaStep::Decoupled { .. }), "{step:?}");
        assert_eq!(in_app(&sandbox, customer, decision).await.status(), 200);
        ended_as.push((
            poll_until_ended(&bank.client, &app, &target, &step)
                .await
                .status,
            bank.payment_status(&app, &paid).await.unwrap(),
        ));
    }
    assert_eq!(
        ended_as,
        [
            (ScaStatus::Finalised, PaymentStatus::Cancelled),
            (ScaStatus::Failed, PaymentStatus::AcceptedTechnical)
        ]
    );
    sandbox.shutdown().await;
}
