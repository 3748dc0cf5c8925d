//! What the command logs: `RUST_LOG` as given, except that the third-party parsers that see bank pages
//! and answers (html5ever, selectors, …) stay at `warn` unless `RUST_LOG` names them — at `debug`
//! they log every text node they parse, and customers' names, IBANs and balances would land in the log.

/// The crates held at `warn` unless named explicitly.
const QUIET: &[&str] = &[
    "html5ever",
    "markup5ever",
    "selectors",
    "scraper",
    "cssparser",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "fantoccini",
    "webdriver",
    "roxmltree",
];

/// The filter directives for `requested` (`RUST_LOG`, or the command's default when unset).
pub(crate) fn directives(requested: &str) -> String {
    let mut out = requested.trim().to_owned();
    for target in QUIET {
        let named = requested
            .split(',')
            .any(|d| d.trim().split(['=', '[']).next() == Some(target));
        if !named {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(target);
            out.push_str("=warn");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn page_parsers_stay_at_warn_unless_named() {
        let all = directives("trace");
        assert!(all.starts_with("trace,"), "{all}");
        assert!(all.contains("html5ever=warn"), "{all}");
        assert!(all.contains("selectors=warn"), "{all}");
        let named = directives("debug,html5ever=trace");
        assert!(named.contains("html5ever=trace"), "{named}");
        assert!(!named.contains("html5ever=warn"), "{named}");
        assert!(named.contains("scraper=warn"), "{named}");
        // The directives parse as a filter.
        tracing_subscriber::EnvFilter::try_new(&all).unwrap();
    }
}
