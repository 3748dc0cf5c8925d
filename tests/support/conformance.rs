//! Conformance to the Berlin Group NextGenPSD2 1.3.12 specification (`../shared/spec/`).
//!
//! [`Spec`] is the OpenAPI 3.0.1 file, loaded once: it finds the operation for a method and a concrete
//! path (`/v1/accounts/acc-01/transactions` → `getTransactionList`), picks the request body's or the
//! answer's schema (by status code, else `default`; by content type `application/json`), and validates
//! a JSON body against it with `jsonschema` (draft 4 semantics, which OpenAPI 3.0 schema objects follow;
//! `$ref`s to `#/components/...` resolve inside the spec itself). Bodies that are not JSON (pain.001
//! uploads) are not schema-checked, but their operation must exist.
//!
//! [`Checker`] is a forwarding proxy for tests: it carries every exchange between a client and a server
//! over real HTTP, checks both bodies, and, when dropped, fails the test that owns it if it saw a
//! violation that is not on the allow-list [`KNOWN`]. Requests are held to the spec as follows:
//! - a request sent by `ApiBank` (its `User-Agent` is `psd2-fallback/…`) must conform, body and
//!   parameters (required headers and query parameters present, each fitting its schema, and no query
//!   parameter the spec does not declare: stricter than OpenAPI, which is silent on those);
//! - any other request comes from test code, which sends invalid ones on purpose to test the server's
//!   400s: such a request's body may violate the spec, but then the server must refuse it (a `4xx`).
//!   A server that accepts a body the spec refuses is a violation of its own. Test code's headers
//!   and query parameters are its own business and are not checked.
//!
//! Answers given while the sandbox bank was made to misbehave on purpose (a fault other than `up` or
//! `slow`, such as `garbage`) are not held to the spec: breaking it is their point. They are counted.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// The specification's file in `../shared/spec/`.
pub const SPEC_FILE: &str = "berlin-group-psd2-api-1.3.12.yaml";

/// The `User-Agent` prefix of `ApiBank`, whose requests must all conform.
const API_BANK_AGENT: &str = "psd2-fallback/";

/// Known departures from the specification, each with its reason. A violation is allowed only when
/// its operation, side and JSON pointer are equal to an entry's and its message contains the entry's
/// words; the validator itself is never loosened.
pub const KNOWN: &[Known] = &[
    // The spec's own defects: `oneOf` whose branches are not exclusive. JSON Schema's `oneOf` demands
    // exactly one fitting branch; the authors meant "one of these shapes". Each entry names the
    // branches a conforming body fits, so a body that fits none (or other ones) still fails.
    Known {
        operation: "startPaymentAuthorisation",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1]",
        why: "yaml 591-592: the body's oneOf has `{}` as a branch, which every body fits; \
              `{\"psuData\":…}` fits it and updatePsuAuthentication",
    },
    Known {
        operation: "startConsentAuthorisation",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1]",
        why: "yaml 2632-2633: `{}` is a branch of the body's oneOf (as for payments)",
    },
    Known {
        operation: "startPaymentInitiationCancellationAuthorisation",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1]",
        why: "yaml 1031-1032: `{}` is a branch of the body's oneOf (as for payments)",
    },
    Known {
        operation: "updatePaymentCancellationPsuData",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 3]",
        why: "yaml 1326-1327: `{}` is a branch of the body's oneOf (as for payments)",
    },
    Known {
        operation: "updatePaymentCancellationPsuData",
        side: "response 200",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1, 2, 3, 4]",
        why: "yaml 12052: the same OK_200_UpdatePsuData as for payments",
    },
    Known {
        operation: "updatePaymentPsuData",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 3]",
        why: "yaml 887-888: `{}` is a branch of the body's oneOf; `{\"scaAuthenticationData\":…}` \
              fits it and transactionAuthorisation",
    },
    Known {
        operation: "updateConsentsPsuData",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 3]",
        why: "yaml 2927-2928: `{}` is a branch of the body's oneOf (as for payments)",
    },
    Known {
        operation: "updatePaymentPsuData",
        side: "response 200",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1, 2, 3, 4]",
        why: "yaml 12052 (OK_200_UpdatePsuData): five answer shapes that each need little more \
              than `scaStatus` and forbid no other field, so a final `{scaStatus, _links}` fits all",
    },
    Known {
        operation: "updateConsentsPsuData",
        side: "response 200",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1, 2, 3, 4]",
        why: "yaml 12052: the same OK_200_UpdatePsuData as for payments",
    },
    // A choice of SCA method (`{"authenticationMethodId": …}`) and what it leads to.
    Known {
        operation: "updatePaymentPsuData",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 2]",
        why: "yaml 887-888: `{}` is a branch of the body's oneOf; `{\"authenticationMethodId\":…}` \
              fits it and selectPsuAuthenticationMethod",
    },
    Known {
        operation: "updateConsentsPsuData",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 2]",
        why: "yaml 2927-2928: `{}` is a branch of the body's oneOf (as for payments)",
    },
    Known {
        operation: "updatePaymentPsuData",
        side: "response 200",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1, 2, 3]",
        why: "yaml 12052: the answer shapes forbid no other field, so the step after a method choice \
              (`scaStatus`, `authorisationId`, `challengeData` or `psuMessage`, `_links`) fits four",
    },
    Known {
        operation: "updateConsentsPsuData",
        side: "response 200",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1, 2, 3]",
        why: "yaml 12052: the same OK_200_UpdatePsuData as for payments",
    },
    Known {
        operation: "initiatePayment",
        side: "request",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1]",
        why: "yaml 11578-11580: a standing order's body (periodicPaymentInitiation_json) is also a \
              valid single payment's body (paymentInitiation_json forbids no extra field)",
    },
    Known {
        operation: "getPaymentInformation",
        side: "response 200",
        pointer: "",
        message: "fits more than one branch of oneOf: [0, 1]",
        why: "yaml 11732-11734: a standing order's details (periodic…WithStatusResponse) are also \
              valid single payment details (paymentInitiationWithStatusResponse)",
    },
    // Our deviations, on purpose.
    Known {
        operation: "getBalances",
        side: "request",
        pointer: "query referenceDate",
        message: "a query parameter the spec does not declare here",
        why: "ApiBank asks for an earlier day's closing balance with `referenceDate`, which 1.3.12's \
              getBalances does not define (yaml 1601-1620); a bank that ignores it is detected and \
              the balance derived from history instead (api/mod.rs balances, r10-9)",
    },
    Known {
        operation: "getTransactionList",
        side: "request",
        pointer: "query pageToken",
        message: "a query parameter the spec does not declare here",
        why: "the resilience service's `_links.next` carries its own `pageToken` \
              (crates/service/src/routes.rs, transactions); links are the server's, and a TPP \
              follows them as given, as ApiBank does",
    },
    Known {
        operation: "getAccountList",
        side: "request",
        pointer: "header Consent-ID",
        message: "required, missing",
        why: "ApiBank::probe asks GET /v1/accounts without a consent on purpose: any answer, a 4xx \
              too, shows the API is up; ApiBank::accounts never sends without one",
    },
    Known {
        operation: "getConsentInformation",
        side: "response 200",
        pointer: "",
        message: "\"lastActionDate\" is a required property",
        why: "the resilience service leaves `lastActionDate` out of a consent's details (yaml 7428 \
              requires it): no channel reads the bank's own date, and the service does not guess \
              it (crates/service/src/routes.rs, consent_details)",
    },
    Known {
        operation: "getBalances",
        side: "response 503",
        pointer: "",
        message: "a body, where the spec gives none",
        why: "the resilience service gives every refusal one shape, a `tppMessages` body, 503s \
              included (yaml SERVICE_UNAVAILABLE_503 has none): a TPP reads why in the same place \
              whatever the status (crates/service/src/errors.rs)",
    },
    Known {
        operation: "initiatePayment",
        side: "response 503",
        pointer: "",
        message: "a body, where the spec gives none",
        why: "the resilience service gives every refusal one shape, a `tppMessages` body, 503s \
              included (yaml SERVICE_UNAVAILABLE_503 has none): a payment refused because the \
              customer must first confirm the website's login (nothing sent) says so there, with \
              `Retry-After` (crates/service/src/errors.rs)",
    },
    Known {
        operation: "initiatePayment",
        side: "response 502",
        pointer: "",
        message: "the spec gives no 502 answer here",
        why: "the resilience service answers 502 when a payment was sent and its outcome is unknown \
              (README, Invariants: 503 nothing sent, 502 outcome unknown); the spec lists no 5xx \
              for it, and a 4xx would tell the TPP the bank refused. The TPP retries with the same \
              X-Request-ID and gets the one payment (crates/service/src/replay.rs)",
    },
];

/// One entry of [`KNOWN`].
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// The `operationId`.
    pub operation: &'static str,
    /// `request`, or `response <status>`.
    pub side: &'static str,
    /// The JSON pointer into the body (`""` for the whole body).
    pub pointer: &'static str,
    /// Words the violation's message contains.
    pub message: &'static str,
    /// Why it is allowed: the spec's own defect (with the line of the yaml), or our deviation.
    pub why: &'static str,
}

/// Which body of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The request's body.
    Request,
    /// The answer's body, with its status code.
    Response(u16),
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Side::Request => f.write_str("request"),
            Side::Response(status) => write!(f, "response {status}"),
        }
    }
}

/// One way an exchange departs from the specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The `operationId`, or `METHOD path` when no operation matched.
    pub operation: String,
    /// Which body.
    pub side: Side,
    /// A JSON pointer into the body, `""` for the body as a whole.
    pub pointer: String,
    /// What is wrong, in the validator's words.
    pub message: String,
}

impl Violation {
    fn new(operation: &str, side: Side, pointer: &str, message: impl Into<String>) -> Self {
        Self {
            operation: operation.to_owned(),
            side,
            pointer: pointer.to_owned(),
            message: message.into(),
        }
    }

    /// The allow-list entry that explains this violation, if any.
    pub fn known(&self) -> Option<&'static Known> {
        let side = self.side.to_string();
        KNOWN.iter().find(|k| {
            k.operation == self.operation
                && k.side == side
                && k.pointer == self.pointer
                && self.message.contains(k.message)
        })
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {:?}: {}",
            self.operation, self.side, self.pointer, self.message
        )
    }
}

/// What checking one body found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Whether a JSON body was validated against a schema (not so for no body, or a non-JSON one).
    pub validated: bool,
    /// What is wrong; empty when it conforms.
    pub violations: Vec<Violation>,
}

impl Checked {
    fn violation(v: Violation) -> Self {
        Self {
            validated: false,
            violations: vec![v],
        }
    }
}

/// An operation of the specification, found for a concrete path.
#[derive(Debug, Clone, Copy)]
pub struct Operation<'a> {
    /// Its `operationId`.
    pub id: &'a str,
    /// Its path template, e.g. `/v1/{payment-service}/{payment-product}`.
    pub template: &'a str,
    object: &'a Value,
}

/// One path template, split into segments.
#[derive(Debug)]
struct Template {
    text: String,
    /// `Ok(literal)` or `Err(parameter name)`.
    segments: Vec<Result<String, String>>,
}

/// The specification, loaded, with its compiled schemas.
#[derive(Debug)]
pub struct Spec {
    /// The whole OpenAPI document as JSON, its schemas translated to JSON Schema.
    doc: Value,
    templates: Vec<Template>,
    /// Compiled validators by the schema's text.
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// The specification, loaded once per test run.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::parse(&super::spec_file(SPEC_FILE)))
}

impl Spec {
    /// Parses the OpenAPI YAML.
    pub fn parse(yaml: &str) -> Spec {
        let mut doc: Value = serde_norway::from_str(yaml).expect("the spec is YAML");
        if let Some(components) = doc.get_mut("components") {
            translate(components);
        }
        let templates = doc["paths"]
            .as_object()
            .expect("the spec has paths")
            .keys()
            .map(|text| Template {
                text: text.clone(),
                segments: text
                    .trim_start_matches('/')
                    .split('/')
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Err(name.to_owned()),
                            None => Ok(s.to_owned()),
                        },
                    )
                    .collect(),
            })
            .collect();
        Spec {
            doc,
            templates,
            validators: Mutex::default(),
        }
    }

    /// The whole OpenAPI document, as JSON.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Follows `$ref`s (`#/components/...`) until a value that is not one.
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local references are used: {reference}"));
            value = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("the spec has {reference}"));
        }
        value
    }

    /// The operation for `method` on the concrete `path` (a query is ignored). Among templates that
    /// fit, the one with the most literal segments wins, once its path parameters fit their schemas'
    /// `enum`s (`/v1/consents/x` is not `/v1/{payment-service}/{payment-product}`).
    pub fn operation(&self, method: &str, path: &str) -> Result<Operation<'_>, String> {
        let path = path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut fitting: Vec<&Template> = self
            .templates
            .iter()
            .filter(|t| {
                t.segments.len() == segments.len()
                    && t.segments.iter().zip(&segments).all(|(t, s)| match t {
                        Ok(literal) => literal == s,
                        Err(_) => !s.is_empty(),
                    })
            })
            .collect();
        fitting.sort_by_key(|t| std::cmp::Reverse(t.segments.iter().filter(|s| s.is_ok()).count()));
        let template = fitting
            .iter()
            .find(|t| self.parameters_fit(t, &segments))
            .ok_or_else(|| format!("no path of the spec is {path}"))?;
        let item = &self.doc["paths"][&template.text];
        let object = item
            .get(method.to_ascii_lowercase())
            .ok_or_else(|| format!("the spec has no {method} on {}", template.text))?;
        Ok(Operation {
            id: object["operationId"].as_str().expect("operations have ids"),
            template: &template.text,
            object,
        })
    }

    /// Whether the path parameters that have an `enum` take one of its values.
    fn parameters_fit(&self, template: &Template, segments: &[&str]) -> bool {
        let item = &self.doc["paths"][&template.text];
        let declared: Vec<&Value> = item
            .as_object()
            .into_iter()
            .flat_map(|ops| ops.values())
            .filter_map(|op| op.get("parameters").and_then(Value::as_array))
            .flatten()
            .map(|p| self.resolve(p))
            .filter(|p| p["in"] == "path")
            .collect();
        template.segments.iter().zip(segments).all(|(t, s)| {
            let Err(name) = t else { return true };
            declared
                .iter()
                .filter(|p| p["name"] == name.as_str())
                .filter_map(|p| p["schema"]["enum"].as_array())
                .all(|values| values.iter().any(|v| v == s))
        })
    }

    /// Checks a request's query and headers against the operation's `parameters`: each required one
    /// is there, each one given fits its schema, and the query has no parameter the spec does not
    /// declare. A violation's pointer is `query NAME` or `header NAME`. `headers` are (lowercase
    /// name, value).
    pub fn check_parameters(
        &self,
        op: Operation<'_>,
        query: Option<&str>,
        headers: &[(String, String)],
    ) -> Vec<Violation> {
        let side = Side::Request;
        let declared: Vec<&Value> = (op.object["parameters"].as_array().into_iter().flatten())
            .map(|p| self.resolve(p))
            .collect();
        let query: Vec<(String, String)> = match query {
            Some(q) => reqwest::Url::parse(&format!("http://query/?{q}"))
                .map(|url| url.query_pairs().into_owned().collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut violations = Vec::new();
        for (name, _) in &query {
            if !declared
                .iter()
                .any(|p| p["in"] == "query" && p["name"] == name.as_str())
            {
                violations.push(Violation::new(
                    op.id,
                    side,
                    &format!("query {name}"),
                    "a query parameter the spec does not declare here",
                ));
            }
        }
        for parameter in declared {
            let name = parameter["name"].as_str().unwrap_or_default();
            let place = parameter["in"].as_str().unwrap_or_default();
            let given = match place {
                "query" => query.iter().find(|(n, _)| n == name).map(|(_, v)| v),
                "header" => headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v),
                _ => continue,
            };
            let pointer = format!("{place} {name}");
            let Some(text) = given else {
                if parameter["required"] == true {
                    violations.push(Violation::new(op.id, side, &pointer, "required, missing"));
                }
                continue;
            };
            // Query and header values are text; the schema's type says how to read them.
            let schema = &parameter["schema"];
            let value = match schema["type"].as_str() {
                Some("boolean") => text.parse().map(Value::Bool).unwrap_or(json!(text)),
                Some("integer") => text.parse::<i64>().map(Value::from).unwrap_or(json!(text)),
                _ => json!(text),
            };
            for (_, message) in self.validate(schema, &value) {
                violations.push(Violation::new(op.id, side, &pointer, message));
            }
        }
        violations
    }

    /// Checks a request's body against the operation's `requestBody`.
    pub fn check_request(&self, op: Operation<'_>, content_type: &str, body: &[u8]) -> Checked {
        let side = Side::Request;
        let declared = op.object.get("requestBody").map(|b| self.resolve(b));
        if body.is_empty() {
            return match declared {
                Some(b) if b["required"] == true => {
                    Checked::violation(Violation::new(op.id, side, "", "the spec needs a body"))
                }
                _ => Checked::default(),
            };
        }
        let Some(declared) = declared else {
            return Checked::violation(Violation::new(
                op.id,
                side,
                "",
                "a body, where the spec takes none",
            ));
        };
        if !is_json(content_type) {
            // pain.001 files and multipart forms: the operation exists; their content is not JSON.
            return Checked::default();
        }
        match declared["content"]["application/json"].get("schema") {
            Some(schema) => self.check_body(op.id, side, schema, body),
            None => Checked::violation(Violation::new(
                op.id,
                side,
                "",
                "a JSON body, where the spec takes another content type",
            )),
        }
    }

    /// Checks an answer's body against the operation's response for `status` (else `default`).
    pub fn check_response(
        &self,
        op: Operation<'_>,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Checked {
        let side = Side::Response(status);
        let responses = &op.object["responses"];
        let Some(response) = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))
            .map(|r| self.resolve(r))
        else {
            return Checked::violation(Violation::new(
                op.id,
                side,
                "",
                format!("the spec gives no {status} answer here"),
            ));
        };
        let json_schema = response["content"]["application/json"].get("schema");
        if body.is_empty() {
            return match json_schema {
                Some(_) if (200..300).contains(&status) => Checked::violation(Violation::new(
                    op.id,
                    side,
                    "",
                    "no body, where the spec gives one",
                )),
                _ => Checked::default(),
            };
        }
        match (response.get("content"), json_schema) {
            (None, _) => Checked::violation(Violation::new(
                op.id,
                side,
                "",
                "a body, where the spec gives none",
            )),
            (Some(_), Some(schema)) if is_json(content_type) => {
                self.check_body(op.id, side, schema, body)
            }
            (Some(content), _) if content.get(media_type(content_type)).is_some() => {
                // Another content type the spec declares (camt.052, plain text): not JSON Schema's.
                Checked::default()
            }
            (Some(_), _) => Checked::violation(Violation::new(
                op.id,
                side,
                "",
                format!("content type {content_type:?}, where the spec gives application/json"),
            )),
        }
    }

    fn check_body(&self, operation: &str, side: Side, schema: &Value, body: &[u8]) -> Checked {
        let value: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => {
                return Checked::violation(Violation::new(
                    operation,
                    side,
                    "",
                    format!("not JSON: {e}"),
                ));
            }
        };
        Checked {
            validated: true,
            violations: self
                .validate(schema, &value)
                .into_iter()
                .map(|(pointer, message)| Violation::new(operation, side, &pointer, message))
                .collect(),
        }
    }

    /// Validates `value` against `schema` (a schema of the spec, or one whose `$ref`s point into
    /// it): each violation as a JSON pointer and a message.
    pub fn validate(&self, schema: &Value, value: &Value) -> Vec<(String, String)> {
        let validator = self.validator(schema);
        validator
            .iter_errors(value)
            .map(|e| (e.instance_path().to_string(), describe(&e)))
            .collect()
    }

    fn validator(&self, schema: &Value) -> Arc<jsonschema::Validator> {
        let key = schema.to_string();
        if let Some(found) = self.validators.lock().unwrap().get(&key) {
            return found.clone();
        }
        let mut schema = schema.clone();
        translate(&mut schema);
        // The root holds the spec's components so that `#/components/...` resolves; the schema itself
        // is the only assertion.
        let root = json!({
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .should_validate_formats(true)
                .should_ignore_unknown_formats(true)
                .with_format("uuid", |s: &str| uuid::Uuid::parse_str(s).is_ok())
                .with_format("byte", is_base64)
                .build(&root)
                .unwrap_or_else(|e| panic!("the spec's schema {key} compiles: {e}")),
        );
        self.validators
            .lock()
            .unwrap()
            .insert(key, validator.clone());
        validator
    }
}

/// A validation error in words: for a `oneOf` that no branch fits, the nearest branch's errors too.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    let mut text = error.to_string();
    if text.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    match error.kind() {
        jsonschema::error::ValidationErrorKind::OneOfNotValid { context }
        | jsonschema::error::ValidationErrorKind::AnyOf { context } => {
            if let Some((i, nearest)) = context.iter().enumerate().min_by_key(|(_, e)| e.len()) {
                let inner: Vec<String> = nearest
                    .iter()
                    .map(|e| format!("{} at {:?}", describe(e), e.instance_path().to_string()))
                    .collect();
                text = format!(
                    "fits no branch of oneOf (nearest, branch {i}: {})",
                    inner.join("; ")
                );
            }
            text
        }
        jsonschema::error::ValidationErrorKind::OneOfMultipleValid { context } => {
            let fitting: Vec<usize> = (0..context.len())
                .filter(|&i| context[i].is_empty())
                .collect();
            format!("fits more than one branch of oneOf: {fitting:?}")
        }
        _ => text,
    }
}

/// OpenAPI 3.0 schema objects → JSON Schema (draft 4): `nullable: true` becomes a `null` in `type`
/// (and in `enum`). The other OpenAPI keywords (`example`, `xml`, `discriminator`, `readOnly`, …) are
/// annotations a validator ignores.
pub fn translate(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([t, "null"]));
                }
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            map.values_mut().for_each(translate);
        }
        Value::Array(items) => items.iter_mut().for_each(translate),
        _ => {}
    }
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

fn is_json(content_type: &str) -> bool {
    let media = media_type(content_type);
    media == "application/json" || media.ends_with("+json")
}

fn is_base64(text: &str) -> bool {
    text.len().is_multiple_of(4)
        && text
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

// ----------------------------------------------------------------------------------------------------
// The checking proxy

/// What a [`Checker`] has seen.
#[derive(Debug, Default)]
pub struct Record {
    /// Request bodies validated against a schema.
    pub requests: usize,
    /// Answer bodies validated against a schema.
    pub responses: usize,
    /// Exchanges seen in all (with or without a JSON body).
    pub exchanges: usize,
    /// Invalid requests from test code that the server refused, as it should.
    pub refused_invalid: usize,
    /// Answers not held to the spec because a sandbox fault was in force.
    pub under_fault: usize,
    /// Every violation, known or not.
    pub violations: Vec<Violation>,
    /// Every answer as the client got it: status, headers and body as text (for the secret-leak test).
    pub answers: Vec<(u16, String)>,
}

impl Record {
    /// The violations that [`KNOWN`] does not explain.
    pub fn unknown(&self) -> Vec<&Violation> {
        self.violations
            .iter()
            .filter(|v| v.known().is_none())
            .collect()
    }
}

/// A forwarding proxy that checks every exchange against the spec; dropping it fails the test that
/// owns it when it saw a violation not on [`KNOWN`].
#[derive(Debug)]
pub struct Checker {
    /// Where it listens: give it to the client as the server's base URL.
    pub url: String,
    /// What it has seen.
    pub record: Arc<Mutex<Record>>,
    /// The accept loop and every connection (aborted on drop).
    task: tokio::task::JoinHandle<()>,
}

/// What each connection of a checker shares.
#[derive(Debug, Clone)]
struct Route {
    upstream: String,
    /// The part of a path before `/v1/...` (e.g. the service's `/banks/sandbox`).
    prefix: String,
    /// The sandbox's admin route for its API fault, when the upstream is the sandbox API.
    fault_url: Option<String>,
    http: reqwest::Client,
    record: Arc<Mutex<Record>>,
}

impl Checker {
    /// A checker in front of the sandbox bank's API.
    pub fn sandbox(sandbox: &psd2_fallback_sandbox::Sandbox) -> Checker {
        Checker::start(
            sandbox.api_url(),
            "",
            Some(format!("{}/_sandbox/faults/api", sandbox.web_url())),
        )
    }

    /// A checker forwarding to `upstream` (a base URL without a trailing slash), where the spec's
    /// paths follow `prefix`, and `fault_url` (if any) tells the sandbox's API fault. Needs a Tokio
    /// runtime (it is called from tests).
    pub fn start(upstream: String, prefix: &str, fault_url: Option<String>) -> Checker {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let record = Arc::new(Mutex::new(Record::default()));
        let route = Route {
            upstream,
            prefix: prefix.to_owned(),
            fault_url,
            // Redirects pass through to the client, as everything else.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a plain HTTP client builds"),
            record: record.clone(),
        };
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let route = route.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                forward(route.clone(), request)
                            });
                            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Checker { url, record, task }
    }

    /// Takes what it has seen so far, leaving it empty: for tests of the checker itself, which
    /// provoke violations on purpose.
    pub fn take(&self) -> Record {
        std::mem::take(&mut *self.record.lock().unwrap())
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.task.abort();
        let record = self.record.lock().unwrap();
        eprintln!(
            "conformance: {} exchanges, {} request and {} response bodies validated, {} invalid \
             requests refused, {} answers under a fault, {} known violations",
            record.exchanges,
            record.requests,
            record.responses,
            record.refused_invalid,
            record.under_fault,
            record.violations.len() - record.unknown().len(),
        );
        let unknown = record.unknown();
        if !unknown.is_empty() && !std::thread::panicking() {
            let list: Vec<String> = unknown.iter().map(|v| format!("  {v}")).collect();
            panic!(
                "{} exchange(s) departed from {SPEC_FILE} (fix our side, or explain it in KNOWN):\n{}",
                list.len(),
                list.join("\n")
            );
        }
    }
}

/// Proxies one request: checks it, forwards it, checks the answer. A request the upstream never got
/// (connection refused) is answered `503`; one it got but did not answer closes the connection
/// without an answer, as the upstream did.
async fn forward(
    route: Route,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(Body::new(body), usize::MAX).await?;
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let from_api_bank = header("user-agent").starts_with(API_BANK_AGENT);
    let request_content_type = header("content-type");

    let mut upstream = route
        .http
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", route.upstream),
        )
        .body(body.clone());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(e) if e.is_connect() => {
            // What a gateway says when the bank behind it is not there: a 503 without the bank's
            // error body, so the client still sees a request nothing answered (not the bank saying
            // it is unavailable).
            return Ok(hyper::Response::builder().status(503).body(Body::empty())?);
        }
        Err(e) => return Err(Box::new(e.without_url())),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let answer_body = answer.bytes().await?;
    let answer_content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();

    let mut violations = Vec::new();
    let path = path_and_query
        .strip_prefix(&route.prefix)
        .unwrap_or(&path_and_query);
    let found = spec().operation(parts.method.as_str(), path);
    let operation = match &found {
        Ok(op) => op.id.to_owned(),
        Err(_) => format!("{} {path}", parts.method),
    };
    let (request_checked, response_checked) = match found {
        // A path the spec does not have is the request's fault: refused by the server, it is a test
        // of the server's 404.
        Err(reason) => (
            Checked::violation(Violation::new(&operation, Side::Request, "", reason)),
            Checked::default(),
        ),
        Ok(op) => {
            let mut request = spec().check_request(op, &request_content_type, &body);
            if from_api_bank {
                let headers: Vec<(String, String)> = (parts.headers.iter())
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            v.to_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                request
                    .violations
                    .extend(spec().check_parameters(op, parts.uri.query(), &headers));
            }
            (
                request,
                spec().check_response(op, status.as_u16(), &answer_content_type, &answer_body),
            )
        }
    };
    let mut refused_invalid = false;
    let (known, unknown): (Vec<Violation>, Vec<Violation>) = request_checked
        .violations
        .into_iter()
        .partition(|v| v.known().is_some());
    violations.extend(known);
    if !unknown.is_empty() {
        if from_api_bank || !status.is_client_error() {
            violations.extend(unknown);
            if !from_api_bank {
                violations.push(Violation::new(
                    &operation,
                    Side::Response(status.as_u16()),
                    "",
                    "the server accepted a request the spec refuses",
                ));
            }
        } else {
            refused_invalid = true;
        }
    }
    let mut under_fault = false;
    if !response_checked.violations.is_empty() {
        under_fault = fault_in_force(&route).await;
        if !under_fault {
            violations.extend(response_checked.violations);
        }
    }
    {
        let mut record = route.record.lock().unwrap();
        record.exchanges += 1;
        record.requests += usize::from(request_checked.validated);
        record.responses += usize::from(response_checked.validated);
        record.refused_invalid += usize::from(refused_invalid);
        record.under_fault += usize::from(under_fault);
        record.violations.extend(violations);
        let head: String = (headers.iter())
            .map(|(n, v)| format!("{n}: {}\n", String::from_utf8_lossy(v.as_bytes())))
            .collect();
        record.answers.push((
            status.as_u16(),
            format!("{head}\n{}", String::from_utf8_lossy(&answer_body)),
        ));
    }

    let mut response = hyper::Response::new(Body::from(answer_body));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(response)
}

/// Whether the sandbox was made to misbehave on purpose (any API fault but `up` and `slow`).
async fn fault_in_force(route: &Route) -> bool {
    let Some(url) = &route.fault_url else {
        return false;
    };
    let mode = match route.http.get(url).send().await {
        Ok(answer) => answer.json::<Value>().await.ok(),
        Err(_) => None,
    };
    !matches!(
        mode.as_ref().and_then(|f| f["mode"].as_str()),
        Some("up" | "slow")
    )
}

/// A client's [`Checker`] kept alive beside it: dereferences to the client, checks on drop.
#[derive(Debug)]
pub struct Conforming<T> {
    /// The client, talking to the server through [`Conforming::checker`].
    pub client: T,
    /// The checker in between.
    pub checker: Checker,
}

impl<T> std::ops::Deref for Conforming<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.client
    }
}
