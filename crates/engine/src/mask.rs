//! One way to hide secrets and account numbers in text that leaves the engine (errors, trace bundles,
//! logs): every secret given becomes `***`, every IBAN-shaped number keeps only its country and last two
//! characters.

/// Masks secrets and IBANs in a text: each secret becomes `***`, each IBAN keeps its country and last
/// two characters.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "***");
    }
    iban_pattern()
        .replace_all(&out, |c: &regex::Captures<'_>| {
            let all = &c[0];
            format!("{}** **** {}", &all[..2], &all[all.len() - 2..])
        })
        .into_owned()
}

fn iban_pattern() -> &'static regex::Regex {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        regex::Regex::new(
            r"\b[A-Z]{2}[0-9]{2}(?:[ \u{a0}]?[0-9A-Z]{4}){2,7}(?:[ \u{a0}]?[0-9A-Z]{1,3})?\b",
        )
        .expect("a valid pattern")
    })
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn secrets_become_stars_and_ibans_keep_country_and_end() {
        let text = "login 1000001 with anna-sandbox from BE68 5390 0754 7034 and BE68539007547034";
        let masked = mask(text, &["anna-sandbox".into(), String::new()]);
        assert!(!masked.contains("anna-sandbox"), "{masked}");
        assert!(!masked.contains("5390"), "{masked}");
        assert_eq!(masked.matches("BE** **** 34").count(), 2, "{masked}");
    }
}
