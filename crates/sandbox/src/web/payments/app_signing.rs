//! Signing in the banking app, for a customer who signs that way ([`crate::SandboxConfig::app_signers`]):
//! the signing page (marker `sign-app`) says "confirm in your app" and waits — its script polls the
//! approval and moves on to the result page when approved, or shows the refusal or expiry on the page.

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::describe::refused;
use crate::ledger::PaymentRecord;
use crate::web::html::{escape, url_encode};
use crate::web::page::render;
use crate::web::visitor::Customer;
use psd2_fallback_engine::model::{AuthorisationId, PaymentId, ScaStatus, ScaTarget};

/// Whether this customer signs in the banking app rather than with the card reader.
pub(super) fn signs_in_app(customer: &Customer) -> bool {
    (customer.web.shared.config.app_signers.iter()).any(|c| c == &customer.customer)
}

/// The approval waiting for this order in the customer's app, or a new one.
fn approval(customer: &Customer, record: &PaymentRecord) -> Result<AuthorisationId, Box<Response>> {
    let ledger = &customer.web.shared.ledger;
    let target = ScaTarget::Payment(record.payment.clone());
    let waiting = ledger.authorisations(&target).into_iter().rev().find(|id| {
        ledger
            .authorisation_progress(&target, id)
            .is_ok_and(|(status, _)| status == ScaStatus::Started)
    });
    match waiting {
        Some(id) => Ok(id),
        None => ledger
            .start_decoupled(
                &customer.customer,
                target,
                customer.web.shared.config.approval_expiry,
            )
            .map_err(|error| Box::new(refused(customer, "Signing refused", &error, "/payments"))),
    }
}

/// The page that waits for the app (marker `sign-app`).
pub(super) fn app_sign_page(customer: &Customer, record: &PaymentRecord) -> Response {
    if let Err(response) = approval(customer, record) {
        return *response;
    }
    let id = url_encode(record.payment.id.as_str());
    let body = format!(
        r#"<p>Reference <span id="sign-app-reference">{reference}</span></p>
<p id="sign-app-message">Confirm this order in your banking app.</p>
<p id="sign-app-outcome" class="error" hidden></p>
<script>
(function () {{
  function poll() {{
    fetch('/sign/{id}/app', {{ credentials: 'same-origin' }})
      .then(function (r) {{ return r.json(); }})
      .then(function (s) {{
        if (s.scaStatus === 'finalised') {{ location.href = '/payments/{id}/result'; return; }}
        if (s.scaStatus === 'failed') {{
          var o = document.getElementById('sign-app-outcome');
          o.textContent = s.psuMessage || 'not signed';
          o.hidden = false;
          return;
        }}
        setTimeout(poll, 200);
      }})
      .catch(function () {{ setTimeout(poll, 1000); }});
  }}
  setTimeout(poll, 200);
}})();
</script>"#,
        reference = escape(record.payment.id.as_str()),
    );
    render(&customer.chrome, "sign-app", "Confirm in your app", &body)
}

/// `GET /sign/{id}/app`: where the order's approval in the app stands (`scaStatus`, `psuMessage`).
pub(crate) async fn app_status(customer: Customer, Path(id): Path<String>) -> Response {
    let ledger = &customer.web.shared.ledger;
    let record = match ledger.payment(&customer.customer, &PaymentId::new(id)) {
        Ok(r) => r,
        Err(error) => return refused(&customer, "Payment not found", &error, "/payments"),
    };
    let target = ScaTarget::Payment(record.payment.clone());
    let last = ledger.authorisations(&target).into_iter().next_back();
    let (status, message) = last
        .and_then(|id| ledger.authorisation_progress(&target, &id).ok())
        .unwrap_or((ScaStatus::Received, None));
    Json(json!({ "scaStatus": status.code(), "psuMessage": message })).into_response()
}
