//! The two layouts, the text helpers both use (escaping and percent-encoding, shared with the second
//! website in `markup`), and the camelCase in which layout 2 spells a layout-1 key.

pub(crate) use crate::markup::{escape, url_encode};

/// Which markup the website serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The original design: tables, `id`s and `class`es, `data-screen` on the body.
    V1,
    /// The redesign (the `layout-v2` fault): cards and definition lists, `data-item`/`data-field`,
    /// `main#view-…`.
    V2,
}

/// `booked-balance` → `bookedBalance`: how layout 2 spells a layout-1 key.
pub(crate) fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{camel, escape, url_encode};

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn layout_two_spells_keys_in_camel_case() {
        assert_eq!(camel("booked-balance"), "bookedBalance");
        assert_eq!(camel("status"), "status");
        assert_eq!(url_encode("23/11/2026"), "23%2F11%2F2026");
    }
}
