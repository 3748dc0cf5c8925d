//! The service's OpenAPI description (`/openapi.json`): valid OpenAPI 3.1 (checked against the
//! specification's own JSON Schema), and the same route table as the router serves — every described
//! route answers, every other method on a described path is 405, no route is registered without its
//! description — and as the README's table of routes.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use psd2_fallback_service::ServiceLimits;
use serde_json::{Value, json};

use crate::support::sandbox;
use crate::support::service::{BANK, TOKEN_A, api_bank, fast_health, start};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// OpenAPI 3.1's JSON Schema (`https://spec.openapis.org/oas/3.1/schema/2022-10-07`, as the OpenAPI
/// Initiative publishes it), kept beside the tests: the tests fetch nothing.
fn openapi_validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("support/openapi-3.1.schema.json")).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the OpenAPI 3.1 schema compiles")
}

fn errors(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Every (METHOD, path) the description holds.
fn described(document: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

async fn description(url: &str) -> Value {
    let answer = reqwest::get(format!("{url}/openapi.json")).await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_description_is_valid_openapi_3_1() {
    let sandbox = sandbox().await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    // Open without a token, like /health: it holds no secret.
    let document = description(&service.url).await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1."));
    let validator = openapi_validator();
    assert_eq!(errors(&validator, &document), Vec::<String>::new());

    // Beyond the schema: every operation has a tag and responses, and every `{parameter}` of its path
    // is declared as a path parameter (the schema cannot say that).
    for (path, item) in document["paths"].as_object().unwrap() {
        let names: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path}"
            );
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, names, "{method} {path}");
        }
    }
    // The served banks are the values of the `/banks/{bank}` server.
    let servers = document["servers"].as_array().unwrap();
    assert!(servers.iter().any(|s| s["url"] == "/banks/{bank}"
        && s["variables"]["bank"]["enum"] == json!([BANK])));
    // The XS2A routes ask for a caller's token, the operators' for theirs, and /health for none.
    assert_eq!(
        document["paths"]["/v1/accounts"]["get"]["security"],
        json!([{"caller": []}])
    );
    assert_eq!(
        document["paths"]["/metrics"]["get"]["security"],
        json!([{"operator": []}])
    );
    assert!(
        document["paths"]["/health"]["get"]
            .get("security")
            .is_none()
    );

    // And the check does refuse a document that is not OpenAPI 3.1.
    let mut broken = document.clone();
    broken.as_object_mut().unwrap().remove("info");
    broken["paths"]["/health"]["get"]["responses"] = json!("none");
    let found = errors(&validator, &broken);
    assert!(found.len() >= 2, "{found:?}");
    service.stop().await;
}

/// A concrete path for a described one: payments for `{service}`, a SEPA transfer for `{product}`.
fn concrete(path: &str) -> String {
    path.replace("{service}", "payments")
        .replace("{product}", "sepa-credit-transfers")
        .replace("{bank}", BANK)
        .split('/')
        .map(|s| if s.starts_with('{') { "no-such-id" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_description_and_the_router_serve_the_same_routes() {
    let sandbox = sandbox().await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    // Every method on every path, quickly: more than the default rate a caller may ask.
    let limits = ServiceLimits {
        requests_per_second: NonZeroU32::new(1000).unwrap(),
        burst: NonZeroU32::new(1000).unwrap(),
        ..ServiceLimits::default()
    };
    let service = start(&sandbox, stand_in, limits, fast_health()).await;
    let document = description(&service.url).await;
    let routes = described(&document);
    assert!(routes.len() >= 19, "{routes:?}");
    let http = reqwest::Client::new();
    let ask = |method: &str, path: &str| {
        http.request(
            method.to_uppercase().parse().unwrap(),
            format!("{}{path}", service.url),
        )
        .bearer_auth(TOKEN_A)
        .header("X-Request-ID", uuid::Uuid::new_v4().to_string())
        .header("PSU-ID", "1000001")
        .header("Consent-ID", "no-such-consent")
        .send()
    };
    let paths: BTreeSet<&String> = routes.iter().map(|(_, p)| p).collect();
    for path in paths {
        let here = concrete(path);
        let mut prefixed = vec![here.clone()];
        if here.starts_with("/v1/") {
            prefixed.push(format!("/banks/{BANK}{here}"));
        }
        for method in METHODS {
            let is_described = routes.contains(&(method.to_uppercase(), path.clone()));
            for asked in &prefixed {
                let answer = ask(method, asked).await.unwrap();
                let status = answer.status().as_u16();
                let body = answer.text().await.unwrap();
                if is_described {
                    // The router has the route: whatever the answer, it is not "no such endpoint".
                    assert_ne!(status, 405, "{method} {asked}: {body}");
                    assert!(
                        !body.contains("no such endpoint"),
                        "{method} {asked}: {body}"
                    );
                } else {
                    assert_eq!(
                        status, 405,
                        "{method} {asked} is served but not described: {body}"
                    );
                }
            }
        }
    }
    // A path that is not described is not served.
    for path in [
        "/v1/card-accounts",
        "/admin/banks",
        "/status/nothing",
        "/v2/accounts",
    ] {
        let body = ask("GET", path).await.unwrap().text().await.unwrap();
        assert!(body.contains("no such endpoint"), "{path}: {body}");
    }
    service.stop().await;
}

#[test]
fn no_route_is_registered_without_its_description() {
    // Routes registered through `routes!` carry their `#[utoipa::path]`; axum's own `route` (and its
    // kin) would add a route the description does not know.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/service/src");
    let mut files = vec![dir];
    let mut offending = Vec::new();
    let mut seen = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A file's unit tests may build routers of their own; they serve nothing.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        seen += 1;
        for needle in [
            ".route(",
            ".route_service(",
            ".nest(",
            ".nest_service(",
            "axum::routing::",
        ] {
            if text.contains(needle) {
                offending.push(format!("{}: {needle}", path.display()));
            }
        }
    }
    assert!(seen > 10);
    assert_eq!(offending, Vec::<String>::new());
}

/// The README's table of routes: (METHOD, path) per row.
fn readme_routes() -> BTreeSet<(String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n### Routes\n")
        .nth(1)
        .expect("the README has a Routes section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let method = cells.next()?;
            let path = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            METHODS
                .contains(&method.to_lowercase().as_str())
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_lists_exactly_the_described_routes() {
    let sandbox = sandbox().await;
    let stand_in = Arc::new(api_bank(&sandbox.api_url(), None));
    let service = start(&sandbox, stand_in, ServiceLimits::default(), fast_health()).await;
    let document = description(&service.url).await;
    let described = described(&document);
    let listed = readme_routes();
    assert!(listed.len() >= 19, "{listed:?}");
    let missing: Vec<_> = listed.difference(&described).collect();
    let unlisted: Vec<_> = described.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "in the README, not described: {missing:?}"
    );
    assert!(
        unlisted.is_empty(),
        "described, not in the README: {unlisted:?}"
    );
    service.stop().await;
}
