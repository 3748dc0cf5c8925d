//! The server side of the Berlin Group NextGenPSD2 API, shared by every server that speaks it (the
//! sandbox bank's API and the resilience service): request shapes parsed into `model` values with errors
//! that name the field, `model` values rendered as response JSON, and [`ApiError`], a `tppMessages`
//! answer that is an axum response.
//!
//! Only this crate (and the engine's `api::wire`, on the client side) knows the Berlin Group JSON. It does
//! no IO.
//!
//! Layout (every item is re-exported here, so callers name `psd2_fallback_xs2a::item`):
//! - `error` — [`ApiError`] and [`ApiResult`]: the `tppMessages` answer, with the field at fault,
//!   `Retry-After`, or an SCA challenge ([`ApiError::sca_required`]).
//! - `request` — headers ([`request_id`], [`psu_id`], [`consent_id`], [`psu_ip`]), query parameters
//!   ([`transaction_query`], [`page_index`], [`reference_date`]), the payment resource a path names
//!   ([`resource`]) and pain.001 uploads ([`payment_file`]).
//! - `body` — request bodies ([`PaymentIn`], [`ConsentIn`], [`authorisation_password`],
//!   [`authorisation_answer`], [`funds_request`]) into `model` values.
//! - `render` — response bodies: [`Links`], consents ([`consent_created`], [`consent_json`],
//!   [`consent_status_json`]), authorisations ([`authorisation_started`], [`authorisation_updated`],
//!   [`sca_status_json`], [`challenge_json`]), accounts ([`accounts_json`], [`balances_json`],
//!   [`transactions_json`]), funds ([`funds_json`]) and payments ([`initiation_created`],
//!   [`transaction_status_json`], [`cancellation`]).
//!
//! - `sca` — SCA whatever the approach: the caller's preferences ([`sca_preference`]), start and
//!   update bodies ([`authorisation_start`], [`authorisation_update`]), and what the bank asks
//!   ([`authorisation_step`], [`step_json`], [`sca_progress_json`]).
//!
//! The modules depend one way only: `render` on nothing of this crate, `error` on `render`, `request`
//! on `error`, `body` on `error` and `request`, `sca` on `error`, `render` and `request`.

mod body;
mod error;
mod render;
mod request;
mod sca;

pub use body::{
    AccessIn, AccountReferenceIn, AmountIn, ConsentIn, PaymentIn, amount_in, authorisation_answer,
    authorisation_password, funds_request, iban_at,
};
pub use error::{ApiError, ApiResult};
pub use render::{
    Links, access_json, account_details_json, account_json, account_reference_json, accounts_json,
    amount_json, authorisation_ids_json, authorisation_started, authorisation_updated,
    authorisation_updated_in, balance_json, balances_json, cancellation, cancellation_to_authorise,
    challenge_json, consent_created, consent_json, consent_status_json, created, funds_json,
    iban_reference_json, initiation_created, link, sca_status_json, transaction_json,
    transaction_status_json, transactions_json, transactions_page,
};
pub use request::{
    BookingQuery, EXECUTION_HORIZON_DAYS, PAIN001_PRODUCT, PAYMENT_FILE_TIME_BOUND, at, consent_id,
    date_at, execution_date_at, header, json, page_index, payment_file, payment_file_checked,
    psu_id, psu_ip, psu_present, reference_date, request_id, resource, transaction_query,
};
pub use sca::{
    AuthorisationUpdate, authorisation_start, authorisation_step, authorisation_step_in,
    authorisation_update, sca_preference, sca_progress_json, step_json, step_json_in,
};
