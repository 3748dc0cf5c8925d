//! What every page handler can reach: the bank (through the state it shares with the API) and the
//! website's sessions, and the layout the website serves now.

use std::sync::Arc;

use super::html::Layout;
use super::session::{SESSION_COOKIE, Sessions};
use crate::faults::WebsiteFault;
use crate::state::Shared;

/// What every page handler can reach: the bank and the website's sessions.
#[derive(Debug)]
pub(crate) struct Web {
    /// The ledger, the faults and the configuration shared with the API.
    pub(crate) shared: Arc<Shared>,
    /// The logged-in (and about to log in) visitors.
    pub(crate) sessions: Sessions,
}

impl Web {
    /// The website over `shared`, with no session yet.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let idle = shared.config.session_idle;
        Self {
            shared,
            sessions: Sessions::new(idle, SESSION_COOKIE),
        }
    }

    /// The markup in force now.
    pub(crate) fn layout(&self) -> Layout {
        match *self.shared.web_fault.borrow() {
            WebsiteFault::LayoutV2 => Layout::V2,
            _ => Layout::V1,
        }
    }
}
