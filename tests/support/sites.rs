//! The sandbox bank's websites as the tests drive them: each with its map, its base URL, and what a
//! customer types into it that is the website's own.

use std::path::PathBuf;

use psd2_fallback_sandbox::{Sandbox, WebsiteFault};

/// The three screens of the first website's account page (one address, one `is_here`), read together.
pub const ACCOUNT: &str = "balances+balance_on_date+history";

/// One sandbox website, its map, and what a customer types into it that is the website's own: how a
/// day is typed, which option picks an account, and the option words of the forms.
#[derive(Debug, Clone, Copy)]
pub struct Site {
    /// The snapshots' prefix.
    pub layout: &'static str,
    /// The map, in `selectors/`.
    pub map: &'static str,
    /// The fault that makes the first website serve this layout.
    pub fault: Option<WebsiteFault>,
    /// The second website (`Sandbox::web2_url`) rather than the first.
    pub second: bool,
}

/// The first website, layout 1.
pub const FIRST_V1: Site = Site {
    layout: "v1",
    map: "sandbox.toml",
    fault: None,
    second: false,
};

/// The first website in layout 2 (the `layout-v2` fault).
pub const FIRST_V2: Site = Site {
    layout: "v2",
    map: "sandbox-v2.toml",
    fault: Some(WebsiteFault::LayoutV2),
    second: false,
};

/// The second website, Mijn Bank.
pub const SECOND: Site = Site {
    layout: "nl",
    map: "mijnbank.toml",
    fault: None,
    second: true,
};

impl Site {
    /// The map's path.
    pub fn map_path(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("selectors")
            .join(self.map)
    }

    /// Where the website is, with its fault set on the sandbox.
    pub fn base(&self, sandbox: &Sandbox) -> String {
        if let Some(fault) = self.fault {
            sandbox.set_website_fault(fault);
        }
        if self.second {
            sandbox.web2_url()
        } else {
            sandbox.web_url()
        }
    }

    /// A day as the website's forms take it, from `dd/mm/yyyy`.
    pub fn typed(&self, day: &str) -> String {
        if self.second {
            day.replace('/', "-")
        } else {
            day.to_owned()
        }
    }

    /// The option of the "from account" select that picks `account`.
    pub fn debtor(&self, account: &psd2_fallback_engine::model::Account) -> String {
        if self.second {
            account.id.as_str().to_owned()
        } else {
            account.iban.to_string()
        }
    }

    /// The option words: (monthly, debits only, all).
    pub fn options(&self) -> (&'static str, &'static str, &'static str) {
        if self.second {
            ("maand", "af", "alle")
        } else {
            ("Monthly", "debit", "all")
        }
    }

    /// The screens read from the balances page and from the history page (one page on the first
    /// website).
    pub fn account_screens(&self) -> (&'static str, &'static str) {
        if self.second {
            ("balances+balance_on_date", "history")
        } else {
            (ACCOUNT, ACCOUNT)
        }
    }
}
