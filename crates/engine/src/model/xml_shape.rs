//! A linear pre-scan of an XML text's shape — nesting depth, element count, attributes per element,
//! namespace declarations — checked before any parser sees the text, so a hostile file (ten thousand
//! nested elements, sixty thousand attributes) is refused in one pass instead of exhausting a parser's
//! stack or its quadratic paths. It is not a parser: it only counts, and stays conservative where the
//! text is not well-formed (the parser that follows refuses that, naming the position).

/// How far a document may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XmlLimits {
    /// Elements open at once.
    pub(crate) depth: usize,
    /// Elements in the whole document.
    pub(crate) elements: usize,
    /// Attributes (namespace declarations included) on one element.
    pub(crate) attributes_per_element: usize,
    /// Namespace declarations (`xmlns`, `xmlns:p`) in the whole document.
    pub(crate) namespace_declarations: usize,
}

/// The limit a document went past: what, the limit, and the line where it was passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exceeded {
    /// What was counted (`depth`, `elements`, `attributes on one element`, `namespace declarations`).
    pub(crate) what: &'static str,
    /// The limit.
    pub(crate) limit: usize,
    /// The line (1-based) where it was passed.
    pub(crate) line: usize,
}

/// Scans `xml` once and reports the first limit it passes.
pub(crate) fn check(xml: &str, limits: &XmlLimits) -> Result<(), Exceeded> {
    let bytes = xml.as_bytes();
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut namespaces = 0usize;
    let mut i = 0usize;
    let line_at = |at: usize| {
        1 + bytes[..at.min(bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    };
    let exceeded = |what, limit, at| Exceeded {
        what,
        limit,
        line: line_at(at),
    };
    while let Some(offset) = bytes[i..].iter().position(|b| *b == b'<') {
        let start = i + offset;
        let rest = &bytes[start..];
        // Comments, CDATA, processing instructions and declarations hold no elements: skip to their end.
        let skip_to =
            |end: &[u8]| find(&bytes[start..], end).map_or(bytes.len(), |e| start + e + end.len());
        if rest.starts_with(b"<!--") {
            i = skip_to(b"-->");
            continue;
        }
        if rest.starts_with(b"<![CDATA[") {
            i = skip_to(b"]]>");
            continue;
        }
        if rest.starts_with(b"<?") {
            i = skip_to(b"?>");
            continue;
        }
        if rest.starts_with(b"<!") {
            i = skip_to(b">");
            continue;
        }
        if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_to(b">");
            continue;
        }
        // A start tag: count its attributes (each `=` outside quotes) up to its `>`.
        let mut attributes = 0usize;
        let mut quote: Option<u8> = None;
        let mut j = start + 1;
        let mut self_closing = false;
        let mut name_end = None;
        while j < bytes.len() {
            let b = bytes[j];
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => match b {
                    b'"' | b'\'' => quote = Some(b),
                    b'=' => {
                        attributes += 1;
                        if attributes > limits.attributes_per_element {
                            return Err(exceeded(
                                "attributes on one element",
                                limits.attributes_per_element,
                                j,
                            ));
                        }
                        // The attribute's name ends here: is it a namespace declaration?
                        let before = &bytes[name_end.unwrap_or(start + 1)..j];
                        let name = last_word(before);
                        if name == b"xmlns" || name.starts_with(b"xmlns:") {
                            namespaces += 1;
                            if namespaces > limits.namespace_declarations {
                                return Err(exceeded(
                                    "namespace declarations",
                                    limits.namespace_declarations,
                                    j,
                                ));
                            }
                        }
                    }
                    b'>' => {
                        self_closing = j > start && bytes[j - 1] == b'/';
                        break;
                    }
                    b' ' | b'\t' | b'\r' | b'\n' if name_end.is_none() => name_end = Some(j),
                    _ => {}
                },
            }
            j += 1;
        }
        elements += 1;
        if elements > limits.elements {
            return Err(exceeded("elements", limits.elements, start));
        }
        if !self_closing {
            depth += 1;
            if depth > limits.depth {
                return Err(exceeded("depth", limits.depth, start));
            }
        }
        i = (j + 1).min(bytes.len());
    }
    Ok(())
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The last whitespace-separated word of `text` (an attribute's name before its `=`).
fn last_word(text: &[u8]) -> &[u8] {
    let trimmed = text.trim_ascii_end();
    let from = trimmed
        .iter()
        .rposition(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\'')
        .map_or(0, |p| p + 1);
    &trimmed[from..]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: XmlLimits = XmlLimits {
        depth: 4,
        elements: 10,
        attributes_per_element: 2,
        namespace_declarations: 2,
    };

    #[test]
    fn a_document_inside_the_limits_passes() {
        let xml = "<?xml version=\"1.0\"?>\n<!-- a > b -->\n<a xmlns=\"urn:x\"><b c=\"1\" d='x>y'><c/><![CDATA[<e><e><e><e><e>]]></b></a>";
        assert_eq!(check(xml, &LIMITS), Ok(()));
    }

    #[test]
    fn each_limit_is_named_with_its_line() {
        let deep = format!("{}{}", "<a>".repeat(5), "</a>".repeat(5));
        assert_eq!(check(&deep, &LIMITS).unwrap_err().what, "depth");
        let many = format!("<a>\n{}</a>", "<b/>".repeat(10));
        let error = check(&many, &LIMITS).unwrap_err();
        assert_eq!((error.what, error.limit, error.line), ("elements", 10, 2));
        let attributes = "<a x=\"1\" y=\"2\" z=\"3\"/>";
        assert_eq!(
            check(attributes, &LIMITS).unwrap_err().what,
            "attributes on one element"
        );
        let namespaces = "<a xmlns=\"u\"><b xmlns:p=\"v\"><c xmlns:q=\"w\"/></b></a>";
        assert_eq!(
            check(namespaces, &LIMITS).unwrap_err().what,
            "namespace declarations"
        );
    }

    #[test]
    fn siblings_do_not_add_depth_and_malformed_text_does_not_panic() {
        let flat = "<a><b></b><b></b><b/></a>";
        assert_eq!(check(flat, &LIMITS), Ok(()));
        for text in [
            "<",
            "<a",
            "<a b=\"",
            "<!--",
            "</",
            "<![CDATA[",
            "<?",
            "<a x=>",
        ] {
            let _ = check(text, &LIMITS);
        }
    }
}
