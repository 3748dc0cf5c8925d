//! The service's OpenAPI description: the document's frame (title, security schemes, tags) and the
//! `/openapi.json` handler. Its paths are not written here: each handler carries its own
//! `#[utoipa::path]`, and the route table registers handlers through `utoipa_axum::routes!`, which adds
//! the route to the router and its description to the document in one step, so the two cannot drift.

use std::sync::Arc;

use axum::Json;
use axum::extract::Extension;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::{ServerBuilder, ServerVariableBuilder};
use utoipa::{Modify, OpenApi};

/// The document's frame; `ServiceState`'s routes add their paths to it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "psd2-fallback",
        description = "A Berlin Group NextGenPSD2-shaped resilience service: every operation is served \
            through the bank's dedicated API, or through its online-banking website while the API is \
            down (RTS Art. 33). Bodies follow Berlin Group NextGenPSD2 v1.3.12; the XS2A paths are also \
            served under `/banks/{bank}` (the second server)."
    ),
    modifiers(&Security),
    tags(
        (name = "consents", description = "Account information consents and their SCA"),
        (name = "accounts", description = "Accounts, balances and transactions under a consent"),
        (name = "funds", description = "Confirmation of funds"),
        (name = "payments", description = "Payments, standing orders and payment files, and their SCA"),
        (name = "operators", description = "Health, metrics, events, the manual override, this description"),
    )
)]
pub(crate) struct Frame;

/// Adds the security schemes: callers' and operators' bearer tokens.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in [
            ("caller", "A caller's (TPP application's) bearer token"),
            (
                "operator",
                "The operator token (the admin token opens these too)",
            ),
            ("admin", "The admin token"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(description))
                        .build(),
                ),
            );
        }
    }
}

/// The finished document as JSON, with the served banks as the values of the `/banks/{bank}` server.
pub(crate) fn document(mut openapi: utoipa::openapi::OpenApi, banks: &[String]) -> Value {
    let mut bank = ServerVariableBuilder::new()
        .default_value(banks.first().cloned().unwrap_or_default())
        .description(Some("A served bank's name"));
    if !banks.is_empty() {
        bank = bank.enum_values(Some(banks.to_vec()));
    }
    openapi.servers = Some(vec![
        ServerBuilder::new()
            .url("/")
            .description(Some(
                "The first bank's XS2A routes, and the operators' routes",
            ))
            .build(),
        ServerBuilder::new()
            .url("/banks/{bank}")
            .description(Some("One bank's XS2A routes"))
            .parameter("bank", bank)
            .build(),
    ]);
    serde_json::to_value(&openapi).unwrap_or_default()
}

/// The description, as built when the router was.
#[derive(Debug, Clone)]
pub(crate) struct Document(pub(crate) Arc<Value>);

/// `GET /openapi.json`: this description (open, like `/health`: it holds no secret).
#[utoipa::path(get, path = "/openapi.json", tag = "operators",
    responses((status = 200, description = "The OpenAPI 3.1 description of the service", content_type = "application/json")))]
pub(crate) async fn openapi_json(Extension(document): Extension<Document>) -> Json<Value> {
    Json(document.0.as_ref().clone())
}
