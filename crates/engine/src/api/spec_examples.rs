//! The Berlin Group specification's own example answers, read by the API client: every example
//! response of the account, payment, consent and funds operations goes through [`super::wire`] into
//! `model` values, or fails for a reason named here — the example itself being invalid, or an answer
//! `ApiBank` does not read.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::wire;
use crate::model::BookingStatus;

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/spec/berlin-group-psd2-api-1.3.12.yaml"
);

/// The operation groups (OpenAPI tags) whose answers the engine reads; signing baskets are not a
/// `Bank` operation.
const TAGS: [&str; 3] = [
    "Account Information Service (AIS)",
    "Payment Initiation Service (PIS)",
    "Confirmation of Funds Service (PIIS)",
];

/// Why an example does not become `model` values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Unread {
    /// Not JSON (a pain.001 or pain.002 document): `ApiBank` reads JSON answers only.
    NotJson(String),
    /// An answer `ApiBank` never reads (an operation it does not call, or a body it ignores).
    NotRead(&'static str),
    /// Not the shape of the wire type (serde's words).
    Shape(String),
    /// The example's value is a string of JSON text, not JSON: the example is invalid.
    Text,
    /// A field that does not convert to a model value (the wire's words): the example is invalid.
    Malformed(String),
}

fn shape<T: DeserializeOwned>(value: &Value) -> Result<T, Unread> {
    serde_json::from_value(value.clone()).map_err(|e| Unread::Shape(e.to_string()))
}

fn malformed(e: wire::Malformed) -> Unread {
    Unread::Malformed(e.to_string())
}

/// Reads one JSON example of `operation`'s answer as `ApiBank` would; describes the model values.
fn read(operation: &str, value: &Value) -> Result<String, Unread> {
    match operation {
        "getAccountList" => {
            let list: wire::AccountList = shape(value)?;
            let accounts = (list.accounts.iter().enumerate())
                .map(|(i, a)| a.to_account(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed)?;
            Ok(format!("{} accounts", accounts.len()))
        }
        "readAccountDetails" => {
            let details: wire::AccountDetails = shape(&value["account"])?;
            let account = details.to_account(0).map_err(malformed)?;
            Ok(format!("account {}", account.id.as_str()))
        }
        "getBalances" => {
            let list: wire::BalanceList = shape(value)?;
            let balances = (list.balances.iter().enumerate())
                .map(|(i, b)| b.to_balance(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed)?;
            Ok(format!(
                "{} balances ({} of a modelled type)",
                balances.len(),
                balances.iter().flatten().count()
            ))
        }
        "getTransactionList" => {
            let answer: wire::TransactionsResponse = shape(value)?;
            let report = &answer.transactions;
            let booked = (report.booked.iter().enumerate())
                .map(|(i, t)| t.to_transaction(BookingStatus::Booked, &format!("booked[{i}]")));
            let pending = (report.pending.iter().enumerate())
                .map(|(i, t)| t.to_transaction(BookingStatus::Pending, &format!("pending[{i}]")));
            let all = booked
                .chain(pending)
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed)?;
            Ok(format!("{} transactions", all.len()))
        }
        "getTransactionDetails" => {
            let details: wire::WireTransaction = shape(&value["transactionsDetails"])?;
            details
                .to_transaction(BookingStatus::Booked, "transactionsDetails")
                .map_err(malformed)?;
            Ok("1 transaction".to_owned())
        }
        "initiatePayment" => {
            let created: wire::PaymentInitiationResponse = shape(value)?;
            let (id, status) = created.to_parts().map_err(malformed)?;
            Ok(format!("payment {} {}", id.as_str(), status.code()))
        }
        "getPaymentInitiationStatus" => {
            let answer: wire::PaymentStatusResponse = shape(value)?;
            Ok(answer.status().map_err(malformed)?.code().to_owned())
        }
        "checkAvailabilityOfFunds" => {
            let answer: wire::FundsConfirmationResponse = shape(value)?;
            Ok(format!(
                "funds available: {}",
                answer.available().map_err(malformed)?
            ))
        }
        "createConsent" => {
            let created: wire::ConsentCreated = shape(value)?;
            Ok(format!("consent {}", created.consent_id))
        }
        "getConsentStatus" | "getConsentInformation" => {
            let answer: wire::ConsentStatusResponse = shape(value)?;
            Ok(answer.status().map_err(malformed)?.code().to_owned())
        }
        "startPaymentAuthorisation"
        | "startConsentAuthorisation"
        | "startPaymentInitiationCancellationAuthorisation" => {
            // As `ApiBank::start_authorisation`: what the bank asks of the customer, whatever the
            // approach.
            let answer: wire::StartAuthorisationResponse = shape(value)?;
            let step = answer.to_step(None).map_err(malformed)?;
            Ok(format!(
                "authorisation {} {} {}: {}",
                step.authorisation_id().map_or("-", |id| id.as_str()),
                step.approach().code(),
                step.status().code(),
                describe(&step)
            ))
        }
        "updatePaymentPsuData" | "updateConsentsPsuData" | "updatePaymentCancellationPsuData" => {
            let answer: wire::ScaStatusResponse = shape(value)?;
            Ok(answer.status().map_err(malformed)?.code().to_owned())
        }
        "cancelPayment" => {
            // As `ApiBank::cancel_payment` on a `202`: the status, and whether to authorise.
            let answer: wire::CancelResponse = shape(value)?;
            let cancellation = answer.to_cancellation().map_err(malformed)?;
            Ok(format!(
                "{}, authorisation needed: {}",
                cancellation.status.code(),
                cancellation.authorisation_needed
            ))
        }
        "getCardAccountList" | "readCardAccountDetails" | "getCardAccountBalances" => {
            Err(Unread::NotRead("card accounts are not a Bank operation"))
        }
        _ => Err(Unread::NotRead("an operation ApiBank does not call")),
    }
}

/// One line about a step, for the test's listing.
fn describe(step: &crate::model::ScaStep) -> String {
    use crate::model::ScaStep;
    match step {
        ScaStep::Challenge(c) => format!("challenge {:?}", c.method),
        ScaStep::ChooseMethod { methods, .. } => format!("{} methods", methods.len()),
        ScaStep::Redirect { url, .. } => format!("redirect to {url}"),
        ScaStep::OAuth { metadata_url, .. } => format!("OAuth2 at {metadata_url}"),
        ScaStep::Decoupled { message, .. } => format!("decoupled: {message}"),
        ScaStep::ActionNeeded { what, .. } => format!("action needed: {what}"),
        ScaStep::Done { status, .. } => format!("done: {}", status.code()),
    }
}

/// Follows `$ref`s (`#/components/...`) inside the spec.
fn resolve<'a>(spec: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        value = reference
            .strip_prefix('#')
            .and_then(|pointer| spec.pointer(pointer))
            .unwrap_or_else(|| panic!("the spec has {reference}"));
    }
    value
}

/// One example answer: its operation, status, media type, name, and value.
struct Example<'a> {
    operation: &'a str,
    status: &'a str,
    media: &'a str,
    name: String,
    value: &'a Value,
}

/// Every example answer of the operations tagged [`TAGS`].
fn examples(spec: &Value) -> Vec<Example<'_>> {
    let mut out = Vec::new();
    for item in spec["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("a path item").values() {
            let tagged = (op["tags"].as_array().into_iter().flatten())
                .any(|t| TAGS.iter().any(|tag| t == tag));
            if !tagged {
                continue;
            }
            let operation = op["operationId"].as_str().expect("an operationId");
            for (status, response) in op["responses"].as_object().expect("responses") {
                let response = resolve(spec, response);
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    let named = (content["examples"].as_object().into_iter().flatten())
                        .map(|(name, e)| (name.clone(), &resolve(spec, e)["value"]));
                    let single = content.get("example").map(|e| ("example".to_owned(), e));
                    for (name, value) in named.chain(single) {
                        out.push(Example {
                            operation,
                            status,
                            media,
                            name,
                            value,
                        });
                    }
                }
            }
        }
    }
    out
}

/// The examples that do not become model values, each with its reason (see the test's table).
fn unread(example: &Example<'_>) -> Option<Unread> {
    if example.media != "application/json" {
        return Some(Unread::NotJson(example.media.to_owned()));
    }
    if example.value.is_string() {
        return Some(Unread::Text);
    }
    read(example.operation, example.value).err()
}

#[test]
fn spec_example_answers_parse_into_model_values_or_fail_for_a_named_reason() {
    let text = std::fs::read_to_string(SPEC)
        .unwrap_or_else(|e| panic!("the Berlin Group spec is needed at {SPEC}: {e}"));
    let spec: Value = serde_norway::from_str(&text).expect("the spec is YAML");
    let all = examples(&spec);
    let mut parsed = Vec::new();
    let mut failed = Vec::new();
    for example in &all {
        match unread(example) {
            None => parsed.push(format!(
                "{} {} {:?}: {}",
                example.operation,
                example.status,
                example.name,
                read(example.operation, example.value).expect("read once already")
            )),
            Some(reason) => failed.push((example.operation, example.name.clone(), reason)),
        }
    }
    println!(
        "spec examples: {} answers, {} parsed into model values, {} not:",
        all.len(),
        parsed.len(),
        failed.len()
    );
    for line in &parsed {
        println!("  parsed  {line}");
    }
    for (operation, name, reason) in &failed {
        println!("  unread  {operation} {name:?}: {reason:?}");
    }
    // Each example that is not read, and why (yaml lines of shared/spec's copy); all else must parse.
    let not_called = || Unread::NotRead("an operation ApiBank does not call");
    let card = || Unread::NotRead("card accounts are not a Bank operation");
    // Invalid examples: an IBAN of 21 characters (a German IBAN has 22; yaml 13238 and the other
    // account lists), so its check digits cannot match.
    let short_iban = || {
        Unread::Malformed(
            "malformed answer: accounts[0].iban: check digits do not match (ISO 13616 mod-97)"
                .to_owned(),
        )
    };
    // Invalid examples: `scatransactionStatus` for `scaStatus` (yaml 13733), which the schema requires.
    let typo = || Unread::Shape("missing field `scaStatus`".to_owned());
    let update_psu = "Update PSU identification - payment initiation (Decoupled Approach)";
    let expected: Vec<(&str, &str, Unread)> = vec![
        ("getAccountList", "Example 1", short_iban()),
        ("getAccountList", "Example 2", short_iban()),
        ("getAccountList", "Example 3", short_iban()),
        // Valid, but not transactions: a download link for a large report (yaml 13940), which the
        // engine does not follow.
        (
            "getTransactionList",
            "Example 2",
            Unread::Shape("missing field `transactions`".to_owned()),
        ),
        ("getCardAccountList", "Example 1", card()),
        ("readCardAccountDetails", "Card Account", card()),
        ("getCardAccountBalances", "Example:", card()),
        ("getConsentAuthorisation", "Example", not_called()),
        ("updateConsentsPsuData", update_psu, typo()),
        (
            "getPaymentInformation",
            "Example 1: 'payments' - 'pain.001-sepa-credit-transfers'",
            Unread::NotJson("application/xml".to_owned()),
        ),
        ("getPaymentInitiationAuthorisation", "Example", not_called()),
        ("updatePaymentPsuData", update_psu, typo()),
        (
            "getPaymentInitiationCancellationAuthorisationInformation",
            "Example",
            not_called(),
        ),
        ("updatePaymentCancellationPsuData", update_psu, typo()),
        // Invalid example: JSON text in a YAML string (yaml 13722).
        ("getPaymentInitiationStatus", "extended", Unread::Text),
        (
            "getPaymentInitiationStatus",
            "Payment Initiation Status Response Body XML for SCT",
            Unread::NotJson("application/xml".to_owned()),
        ),
    ];
    let failed: Vec<(&str, &str, Unread)> = failed
        .iter()
        .map(|(op, name, reason)| (*op, name.as_str(), reason.clone()))
        .collect();
    assert_eq!(failed, expected);
    assert_eq!((all.len(), parsed.len()), (54, 38), "{parsed:#?}");
    // The specification's cancellation answer asks for an authorisation, as `ApiBank` reads it.
    assert!(
        parsed.contains(
            &"cancelPayment 202 \"Example\": ACTC, authorisation needed: true".to_owned()
        ),
        "{parsed:#?}"
    );
    // The specification's own start-authorisation answer is decoupled, and reads as such.
    let decoupled = "authorisation 123auth456 DECOUPLED started: decoupled: Please use your BankApp for transaction Authorisation.";
    for operation in [
        "startPaymentAuthorisation",
        "startConsentAuthorisation",
        "startPaymentInitiationCancellationAuthorisation",
    ] {
        assert!(
            parsed.contains(&format!(
                "{operation} 201 \"Example 1: payments - Decoupled Approach\": {decoupled}"
            )),
            "{parsed:#?}"
        );
    }
}
