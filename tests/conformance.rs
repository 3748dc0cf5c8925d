//! The conformance checker itself (`support::conformance`): it finds the spec's operation for a
//! concrete path, catches a body that is wrong (a missing field, a wrong type, a bad format), passes one
//! that is right, fails the test that owns a checker which saw a violation, and its allow-list names
//! defects that are real.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::support::conformance::{Checked, Checker, KNOWN, Side, Violation, spec, translate};

fn request(method: &str, path: &str, content_type: &str, body: &[u8]) -> Checked {
    let op = spec()
        .operation(method, path)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    spec().check_request(op, content_type, body)
}

fn response(method: &str, path: &str, status: u16, content_type: &str, body: &[u8]) -> Checked {
    let op = spec()
        .operation(method, path)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    spec().check_response(op, status, content_type, body)
}

fn json_response(method: &str, path: &str, status: u16, body: Value) -> Checked {
    response(
        method,
        path,
        status,
        "application/json",
        body.to_string().as_bytes(),
    )
}

fn json_request(method: &str, path: &str, body: Value) -> Checked {
    request(
        method,
        path,
        "application/json",
        body.to_string().as_bytes(),
    )
}

/// The parameters of a request with `query`, an `X-Request-ID`, and a `Consent-ID` if `consent`.
fn parameters(method: &str, path: &str, query: &str, consent: bool) -> Checked {
    let op = spec().operation(method, path).unwrap();
    let mut headers = vec![(
        "x-request-id".to_owned(),
        "99391c7e-ad88-49ec-a2ad-99ddcb1f7721".to_owned(),
    )];
    if consent {
        headers.push(("consent-id".to_owned(), "c-1".to_owned()));
    }
    Checked {
        validated: false,
        violations: spec().check_parameters(op, Some(query), &headers),
    }
}

/// The violations as `(pointer, message)`.
fn found(checked: &Checked) -> Vec<(&str, &str)> {
    checked
        .violations
        .iter()
        .map(|v| (v.pointer.as_str(), v.message.as_str()))
        .collect()
}

#[test]
fn concrete_paths_find_their_operations() {
    let cases = [
        ("GET", "/v1/accounts", Ok("getAccountList")),
        ("GET", "/v1/accounts?withBalance=true", Ok("getAccountList")),
        ("GET", "/v1/accounts/acc-01", Ok("readAccountDetails")),
        ("GET", "/v1/accounts/acc-01/balances", Ok("getBalances")),
        (
            "GET",
            "/v1/accounts/acc-01/transactions?bookingStatus=both",
            Ok("getTransactionList"),
        ),
        (
            "POST",
            "/v1/payments/sepa-credit-transfers",
            Ok("initiatePayment"),
        ),
        (
            "POST",
            "/v1/bulk-payments/pain.001-sepa-credit-transfers",
            Ok("initiatePayment"),
        ),
        (
            "GET",
            "/v1/periodic-payments/sepa-credit-transfers/p-1/status",
            Ok("getPaymentInitiationStatus"),
        ),
        (
            "DELETE",
            "/v1/payments/sepa-credit-transfers/p-1",
            Ok("cancelPayment"),
        ),
        (
            "PUT",
            "/v1/payments/sepa-credit-transfers/p-1/authorisations/a-1",
            Ok("updatePaymentPsuData"),
        ),
        // `consents` is not a payment service: the consent's own path wins.
        ("GET", "/v1/consents/c-1", Ok("getConsentInformation")),
        ("POST", "/v1/consents", Ok("createConsent")),
        (
            "POST",
            "/v1/consents/c-1/authorisations",
            Ok("startConsentAuthorisation"),
        ),
        (
            "POST",
            "/v1/funds-confirmations",
            Ok("checkAvailabilityOfFunds"),
        ),
        (
            "POST",
            "/v1/cheques/sepa-credit-transfers",
            Err("no path of the spec is /v1/cheques/sepa-credit-transfers"),
        ),
        (
            "DELETE",
            "/v1/accounts",
            Err("the spec has no DELETE on /v1/accounts"),
        ),
        (
            "GET",
            "/v2/accounts",
            Err("no path of the spec is /v2/accounts"),
        ),
    ];
    for (method, path, expected) in cases {
        let found = spec().operation(method, path).map(|op| op.id.to_owned());
        assert_eq!(
            found,
            expected.map(str::to_owned).map_err(str::to_owned),
            "{method} {path}"
        );
    }
}

#[test]
fn the_validator_passes_a_right_body_and_catches_missing_fields_wrong_types_and_formats() {
    let path = "/v1/accounts/acc-01/balances";
    let right = json!({"balances": [{
        "balanceAmount": {"currency": "EUR", "amount": "-1234.56"},
        "balanceType": "closingBooked",
        "referenceDate": "2026-11-23",
    }]});
    let checked = json_response("GET", path, 200, right.clone());
    assert!(checked.validated);
    assert_eq!(found(&checked), []);

    let cases = [
        (
            json!({"account": {"iban": "BE68539007547034"}}),
            "",
            "\"balances\" is a required property",
        ),
        (
            json!({"balances": [{"balanceType": "closingBooked"}]}),
            "/balances/0",
            "\"balanceAmount\" is a required property",
        ),
        (
            json!({"balances": [{"balanceAmount": {"currency": "EUR", "amount": 12.5},
                                 "balanceType": "closingBooked"}]}),
            "/balances/0/balanceAmount/amount",
            "12.5 is not of type \"string\"",
        ),
        // The spec's amount pattern is not anchored (yaml 5352), so only an amount without a digit
        // fails it: "1,5" passes.
        (
            json!({"balances": [{"balanceAmount": {"currency": "EUR", "amount": "one"},
                                 "balanceType": "closingBooked"}]}),
            "/balances/0/balanceAmount/amount",
            "does not match",
        ),
        (
            json!({"balances": [{"balanceAmount": {"currency": "EUR", "amount": "1"},
                                 "balanceType": "closing"}]}),
            "/balances/0/balanceType",
            "\"closing\" is not one of",
        ),
        (
            json!({"balances": [{"balanceAmount": {"currency": "EUR", "amount": "1"},
                                 "balanceType": "closingBooked", "referenceDate": "23/11/2026"}]}),
            "/balances/0/referenceDate",
            "\"23/11/2026\" is not a \"date\"",
        ),
    ];
    for (body, pointer, message) in cases {
        let checked = json_response("GET", path, 200, body.clone());
        assert!(
            checked
                .violations
                .iter()
                .any(|v| v.pointer == pointer && v.message.contains(message)),
            "{body}: expected {message:?} at {pointer:?}, found {:?}",
            found(&checked)
        );
    }

    // The funds-confirmation answer that mock servers echo from the spec's examples: a string for a
    // boolean (../shared/spec/SOURCES.md).
    let echoed = json_response(
        "POST",
        "/v1/funds-confirmations",
        200,
        json!({"fundsAvailable": "true"}),
    );
    assert_eq!(
        found(&echoed),
        [("/fundsAvailable", "\"true\" is not of type \"boolean\"")]
    );

    // A request: a payment without its amount fits none of the payment bodies.
    let no_amount = json_request(
        "POST",
        "/v1/payments/sepa-credit-transfers",
        json!({
            "debtorAccount": {"iban": "BE68539007547034"},
            "creditorAccount": {"iban": "BE71096123456769"},
            "creditorName": "Garage",
        }),
    );
    let [(pointer, message)] = found(&no_amount)[..] else {
        panic!("one violation: {:?}", found(&no_amount));
    };
    assert_eq!(pointer, "");
    assert!(
        message.starts_with("fits no branch of oneOf")
            && message.contains("\"instructedAmount\" is a required property"),
        "{message}"
    );
}

#[test]
fn bodies_and_answers_the_spec_does_not_give_are_violations() {
    let accounts = "/v1/accounts";
    let cases = [
        (
            json_response("GET", accounts, 201, json!({"accounts": []})),
            "the spec gives no 201 answer here",
        ),
        (
            response("GET", accounts, 200, "application/json", b""),
            "no body, where the spec gives one",
        ),
        (
            response("GET", accounts, 200, "application/json", b"{\"accounts\":"),
            "not JSON",
        ),
        (
            response("GET", accounts, 400, "text/plain", b"bad request"),
            "content type \"text/plain\", where the spec gives application/json",
        ),
        (
            json_request("GET", accounts, json!({})),
            "a body, where the spec takes none",
        ),
        (
            request(
                "POST",
                "/v1/payments/sepa-credit-transfers",
                "application/json",
                b"",
            ),
            "the spec needs a body",
        ),
    ];
    for (checked, message) in cases {
        assert!(
            checked
                .violations
                .iter()
                .any(|v| v.message.contains(message)),
            "expected {message:?}, found {:?}",
            found(&checked)
        );
    }
    // A pain.001 file is not JSON: its operation exists, its content is not schema-checked here.
    let file = crate::support::spec_file("sample-pain.001.001.03.xml");
    let checked = request(
        "POST",
        "/v1/bulk-payments/pain.001-sepa-credit-transfers",
        "application/xml",
        file.as_bytes(),
    );
    assert_eq!(checked, Checked::default());
    // An error answer with its `tppMessages` conforms; one whose message has no code does not.
    let error =
        |message: Value| json_response("GET", accounts, 401, json!({"tppMessages": [message]}));
    assert_eq!(
        found(&error(
            json!({"category": "ERROR", "code": "CONSENT_INVALID", "text": "no"})
        )),
        []
    );
    assert!(!found(&error(json!({"category": "ERROR", "text": "no"}))).is_empty());
}

#[test]
fn request_parameters_are_checked_present_and_fitting() {
    let op = spec()
        .operation("GET", "/v1/accounts/acc-01/transactions")
        .unwrap();
    let headers = |request_id: &str| {
        vec![
            ("x-request-id".to_owned(), request_id.to_owned()),
            ("consent-id".to_owned(), "c-1".to_owned()),
        ]
    };
    let good = "99391c7e-ad88-49ec-a2ad-99ddcb1f7721";
    let right = spec().check_parameters(
        op,
        Some("bookingStatus=booked&dateFrom=2026-09-01&withBalance=true"),
        &headers(good),
    );
    assert_eq!(right, []);
    let cases = [
        (
            "dateFrom=2026-09-01",
            good,
            "query bookingStatus",
            "required, missing",
        ),
        (
            "bookingStatus=everything",
            good,
            "query bookingStatus",
            "\"everything\" is not one of",
        ),
        (
            "bookingStatus=both&dateFrom=01/09/2026",
            good,
            "query dateFrom",
            "is not a \"date\"",
        ),
        (
            "bookingStatus=both&withBalance=yes",
            good,
            "query withBalance",
            "\"yes\" is not of type \"boolean\"",
        ),
        (
            "bookingStatus=both",
            "request-1",
            "header X-Request-ID",
            "is not a \"uuid\"",
        ),
        (
            "bookingStatus=both&datefrom=2026-09-01",
            good,
            "query datefrom",
            "does not declare",
        ),
    ];
    for (query, request_id, pointer, message) in cases {
        let found = spec().check_parameters(op, Some(query), &headers(request_id));
        assert!(
            found
                .iter()
                .any(|v| v.pointer == pointer && v.message.contains(message)),
            "{query} {request_id}: expected {message:?} at {pointer:?}, found {found:?}"
        );
    }
}

#[test]
fn nullable_becomes_a_null_type_and_enum_value() {
    let mut schema = json!({"properties": {"a": {"type": "string", "enum": ["x"], "nullable": true},
                                           "b": {"type": "string", "nullable": false}}});
    translate(&mut schema);
    assert_eq!(
        schema,
        json!({"properties": {"a": {"type": ["string", "null"], "enum": ["x", null]},
                              "b": {"type": "string"}}})
    );
}

/// Every entry of the allow-list is reproduced by a body of the shape our side sends: the defect is
/// real, and the entry excuses exactly it. A stale entry (no longer reproduced) fails here.
#[test]
fn every_known_departure_is_real_and_excuses_exactly_itself() {
    let payment = json!({
        "endToEndIdentification": "E2E-1",
        "debtorAccount": {"iban": "BE68539007547034"},
        "instructedAmount": {"currency": "EUR", "amount": "12.34"},
        "creditorAccount": {"iban": "BE71096123456769"},
        "creditorName": "Garage",
    });
    let mut periodic = payment.clone();
    periodic["startDate"] = json!("2026-12-01");
    periodic["frequency"] = json!("Monthly");
    periodic["executionRule"] = json!("following");
    let mut periodic_status = periodic.clone();
    periodic_status["transactionStatus"] = json!("ACTC");
    let sca_done = json!({"scaStatus": "finalised",
                          "_links": {"scaStatus": {"href": "/v1/consents/c-1/authorisations/a-1"}}});
    let password = json!({"psuData": {"password": "secret"}});
    let answer = json!({"scaAuthenticationData": "12345678"});
    let method = json!({"authenticationMethodId": "app"});
    let in_app = json!({"scaStatus": "started", "authorisationId": "a-1",
                        "psuMessage": "Please confirm in your banking app",
                        "_links": {"scaStatus": {"href": "/v1/consents/c-1/authorisations/a-1"}}});
    let cases: Vec<Checked> = vec![
        json_request(
            "POST",
            "/v1/payments/sepa-credit-transfers/p-1/authorisations",
            password.clone(),
        ),
        json_request("POST", "/v1/consents/c-1/authorisations", password.clone()),
        json_request(
            "POST",
            "/v1/payments/sepa-credit-transfers/p-1/cancellation-authorisations",
            password.clone(),
        ),
        json_request(
            "PUT",
            "/v1/payments/sepa-credit-transfers/p-1/cancellation-authorisations/a-1",
            answer.clone(),
        ),
        json_response(
            "PUT",
            "/v1/payments/sepa-credit-transfers/p-1/cancellation-authorisations/a-1",
            200,
            sca_done.clone(),
        ),
        json_request(
            "PUT",
            "/v1/payments/sepa-credit-transfers/p-1/authorisations/a-1",
            answer.clone(),
        ),
        json_request("PUT", "/v1/consents/c-1/authorisations/a-1", answer),
        json_response(
            "PUT",
            "/v1/payments/sepa-credit-transfers/p-1/authorisations/a-1",
            200,
            sca_done.clone(),
        ),
        json_response("PUT", "/v1/consents/c-1/authorisations/a-1", 200, sca_done),
        json_request(
            "PUT",
            "/v1/payments/sepa-credit-transfers/p-1/authorisations/a-1",
            method.clone(),
        ),
        json_request("PUT", "/v1/consents/c-1/authorisations/a-1", method),
        json_response(
            "PUT",
            "/v1/payments/sepa-credit-transfers/p-1/authorisations/a-1",
            200,
            in_app.clone(),
        ),
        json_response("PUT", "/v1/consents/c-1/authorisations/a-1", 200, in_app),
        json_request(
            "POST",
            "/v1/periodic-payments/sepa-credit-transfers",
            periodic,
        ),
        json_response(
            "GET",
            "/v1/periodic-payments/sepa-credit-transfers/p-1",
            200,
            periodic_status,
        ),
        parameters(
            "GET",
            "/v1/accounts/acc-01/balances",
            "referenceDate=2026-11-20",
            true,
        ),
        parameters(
            "GET",
            "/v1/accounts/acc-01/transactions",
            "bookingStatus=both&pageToken=t-1&pageIndex=1",
            true,
        ),
        parameters("GET", "/v1/accounts", "", false),
        json_response(
            "GET",
            "/v1/consents/c-1",
            200,
            json!({
                "access": {"accounts": [{"iban": "BE68539007547034"}]},
                "recurringIndicator": true,
                "validUntil": "2027-02-01",
                "frequencyPerDay": 4,
                "consentStatus": "valid",
            }),
        ),
        json_response(
            "GET",
            "/v1/accounts/acc-01/balances",
            503,
            json!({"tppMessages": [{"category": "ERROR", "code": "SERVICE_UNAVAILABLE",
                                    "text": "the bank cannot be reached at the moment"}]}),
        ),
        json_response(
            "POST",
            "/v1/payments/sepa-credit-transfers",
            503,
            json!({"tppMessages": [{"category": "ERROR", "code": "SERVICE_UNAVAILABLE",
                                    "text": "the customer must confirm the login to the bank's website"}]}),
        ),
        json_response(
            "POST",
            "/v1/payments/sepa-credit-transfers",
            502,
            json!({"tppMessages": [{"category": "ERROR", "code": "SERVICE_UNAVAILABLE",
                                    "text": "the bank did not confirm the outcome"}]}),
        ),
    ];
    let mut excused = Vec::new();
    for checked in &cases {
        let [violation] = &checked.violations[..] else {
            panic!("one violation: {:?}", checked.violations);
        };
        let known = violation
            .known()
            .unwrap_or_else(|| panic!("not on the allow-list: {violation}"));
        assert!(!known.why.is_empty());
        excused.push((known.operation, known.side));
    }
    let listed: Vec<_> = KNOWN.iter().map(|k| (k.operation, k.side)).collect();
    assert_eq!(excused, listed, "each entry once, in order");

    // The same operation, other departures: not excused.
    let other = Violation {
        operation: "startPaymentAuthorisation".into(),
        side: Side::Request,
        pointer: "".into(),
        message: "fits no branch of oneOf (nearest, branch 1: …)".into(),
    };
    assert!(other.known().is_none());
}

/// The spec's example answers against the spec's own schemas: each is valid, or listed here with
/// what is wrong with it. (The engine reads the same examples into `model` values in its unit test
/// `api::spec_examples`.)
#[test]
fn the_specs_example_answers_fit_its_own_schemas_but_for_the_listed_ones() {
    let tags = [
        "Account Information Service (AIS)",
        "Payment Initiation Service (PIS)",
        "Confirmation of Funds Service (PIIS)",
    ];
    let doc = spec().doc();
    let mut checked = 0;
    let mut invalid = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if !(op["tags"].as_array().into_iter().flatten())
                .any(|t| tags.iter().any(|tag| t == tag))
            {
                continue;
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                let content = &spec().resolve(response)["content"]["application/json"];
                let examples = (content["examples"].as_object().into_iter().flatten())
                    .map(|(name, e)| (name.clone(), &spec().resolve(e)["value"]))
                    .chain(content.get("example").map(|e| ("example".to_owned(), e)));
                for (name, value) in examples {
                    checked += 1;
                    for (pointer, message) in spec().validate(&content["schema"], value) {
                        invalid.push(format!(
                            "{} {status} {name:?} at {pointer:?}: {message}",
                            op["operationId"].as_str().unwrap()
                        ));
                    }
                }
            }
        }
    }
    println!(
        "{checked} JSON example answers, {} violations",
        invalid.len()
    );
    // (operation, example, pointer, message); the yaml lines are of shared/spec's copy.
    let update_psu_data = |operation: &'static str| {
        [
            // The five answer shapes of OK_200_UpdatePsuData are not exclusive (yaml 12052).
            (
                operation,
                "Authorisation confirmation",
                "",
                "fits more than one branch of oneOf: [0, 1, 2, 3, 4]",
            ),
            (
                operation,
                "Select PSU authentication - payment initiation method (Embedded Approach)",
                "",
                "fits more than one branch of oneOf: [0, 3]",
            ),
            (
                operation,
                "Transaction authorisation (Embedded Approach)",
                "",
                "fits more than one branch of oneOf: [1, 2, 3]",
            ),
            (
                operation,
                "Update PSU authentication - payment initiation (Embedded Approach)",
                "",
                "fits more than one branch of oneOf: [0, 1, 2, 3]",
            ),
            // `scatransactionStatus` for `scaStatus` (yaml 13733).
            (
                operation,
                "Update PSU identification - payment initiation (Decoupled Approach)",
                "",
                "fits no branch of oneOf (nearest, branch 0: \"scaStatus\" is a required property at \"\")",
            ),
        ]
    };
    let mut expected = vec![
        // `"debitAccounting": true` inside the balances list (yaml 13884), which YAML reads as one
        // more balance, without an amount or a type.
        (
            "getCardAccountBalances",
            "Example:",
            "/balances/0",
            "\"balanceAmount\" is a required property",
        ),
        (
            "getCardAccountBalances",
            "Example:",
            "/balances/0",
            "\"balanceType\" is a required property",
        ),
        // No `lastActionDate`, and a string for a boolean (yaml 13541).
        (
            "getConsentInformation",
            "Example",
            "",
            "\"lastActionDate\" is a required property",
        ),
        (
            "getConsentInformation",
            "Example",
            "/recurringIndicator",
            "\"true\" is not of type \"boolean\"",
        ),
        // A string for a boolean (yaml 13803; ../shared/spec/SOURCES.md). The engine's wire reads
        // it leniently, as servers echo it.
        (
            "checkAvailabilityOfFunds",
            "Example",
            "/fundsAvailable",
            "\"true\" is not of type \"boolean\"",
        ),
        // JSON text in a YAML string (yaml 13722): a string, not an object.
        (
            "getPaymentInitiationStatus",
            "extended",
            "",
            "is not of type \"object\"",
        ),
    ];
    expected.extend(update_psu_data("updateConsentsPsuData"));
    expected.extend(update_psu_data("updatePaymentPsuData"));
    expected.extend(update_psu_data("updatePaymentCancellationPsuData"));
    let mut unexplained: Vec<&String> = invalid
        .iter()
        .filter(|line| {
            !expected.iter().any(|(op, name, pointer, message)| {
                line.starts_with(&format!("{op} 200 {name:?} at {pointer:?}: "))
                    && line.contains(message)
            })
        })
        .collect();
    unexplained.dedup();
    assert_eq!(
        unexplained,
        Vec::<&String>::new(),
        "examples invalid for no listed reason"
    );
    assert_eq!(
        (checked, invalid.len(), expected.len()),
        (52, 21, 21),
        "each listed defect is seen once"
    );
}

/// A small server that gets the spec wrong in two ways, and the checker in front of it.
async fn wrong_server() -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route(
            "/v1/accounts",
            get(|| async { axum::Json(json!({"accounts": "none"})) }),
        )
        .route(
            "/v1/consents",
            post(|| async {
                (
                    StatusCode::CREATED,
                    axum::Json(json!({"consentStatus": "received", "consentId": "c-1",
                                      "_links": {"startAuthorisation": {"href": "/v1/consents/c-1/authorisations"}}})),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

#[tokio::test]
async fn a_checker_forwards_unchanged_records_violations_and_fails_its_test() {
    let (server, task) = wrong_server().await;
    let checker = Checker::start(server, "", None);
    let http = reqwest::Client::new();

    // The client gets what the server said, unchanged.
    let answer = http
        .get(format!("{}/v1/accounts", checker.url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"accounts": "none"})
    );
    // An invalid consent from `ApiBank` is its violation; from test code, accepted, the server's.
    let invalid = json!({"access": {}, "recurringIndicator": "yes"});
    for agent in ["psd2-fallback/test", "a test"] {
        let status = http
            .post(format!("{}/v1/consents", checker.url))
            .header("user-agent", agent)
            .json(&invalid)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201);
    }
    // A path the spec does not have, refused by the server (404): a test of the server's, not a
    // violation.
    let status = http
        .get(format!("{}/v1/nothing-here", checker.url))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);

    let record = checker.take();
    assert_eq!((record.exchanges, record.refused_invalid), (4, 1));
    let seen: Vec<String> = record.violations.iter().map(|v| v.to_string()).collect();
    let expected = [
        "getAccountList response 200 at \"/accounts\": \"none\" is not of type \"array\"",
        "createConsent request at \"\": \"frequencyPerDay\" is a required property",
        "createConsent request at \"/recurringIndicator\": \"yes\" is not of type \"boolean\"",
        "createConsent response 201 at \"\": the server accepted a request the spec refuses",
    ];
    for line in expected {
        assert!(seen.iter().any(|s| s == line), "{line:?} not in {seen:#?}");
    }
    assert!(
        seen.iter()
            .filter(|s| s.starts_with("createConsent request"))
            .count()
            >= 2 * 3,
        "both senders' requests were checked: {seen:#?}"
    );

    // A checker that saw a violation fails the test that drops it.
    let failing = Checker::start(checker.url.clone(), "", None);
    http.get(format!("{}/v1/accounts", failing.url))
        .send()
        .await
        .unwrap();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(failing)));
    let message = dropped.expect_err("the drop fails");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.contains("getAccountList response 200 at \"/accounts\""),
        "{message}"
    );
    // The first checker, behind `failing`, saw the same answer; emptied, it passes its own drop.
    assert_eq!(checker.take().violations.len(), 1);
    task.abort();
}
