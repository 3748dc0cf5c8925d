//! The sandbox bank's online-banking website.

use std::sync::Arc;

use axum::Router;

use super::server::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().with_state(shared)
}
