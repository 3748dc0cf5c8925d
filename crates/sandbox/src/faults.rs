//! Fault injection: the ways the sandbox bank's API and website can be made to misbehave.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the sandbox API behaves.
///
/// As JSON (the admin route): `{"mode":"up"}`, `{"mode":"slow","ms":800}`, `{"mode":"flap","periodMs":2000}`.
/// As text (the command line): `up`, `down`, `refuse`, `hang`, `slow:800`, `flap:2000`, `garbage`,
/// `bad-field`, `processed-but-no-answer`, `answer:415`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "mode",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum ApiFault {
    /// Working normally.
    Up,
    /// Every request answers `503 Service Unavailable` with a `tppMessages` body.
    Down,
    /// The port is closed: connections are refused, nothing is sent.
    Refuse,
    /// Requests are accepted and never answered (nothing is executed).
    Hang,
    /// Every answer comes this many milliseconds late.
    Slow {
        /// The delay.
        ms: u64,
    },
    /// Up and down by turns, each phase this many milliseconds long (up first).
    Flap {
        /// The length of each phase.
        period_ms: u64,
    },
    /// Answers `200` with a malformed JSON body.
    Garbage,
    /// Works, but the account list names its first account with an IBAN failing mod-97 (one check
    /// digit off): an answer at once, with one unusable field.
    BadField,
    /// Requests are executed, then the connection is closed without an answer.
    ProcessedButNoAnswer,
    /// Every request is refused, unexecuted, with this 4xx status, as a bank answers it: 415 without
    /// a body (the specification gives it none), 429 with `Retry-After: 7`, the others with the
    /// status's Berlin Group code (`SERVICE_INVALID` for 405, `REQUESTED_FORMATS_INVALID` for 406,
    /// `STATUS_INVALID` for 409, `FORMAT_ERROR` otherwise).
    Answer {
        /// The HTTP status, 400 to 499.
        status: u16,
    },
}

/// How the sandbox website behaves.
///
/// As JSON: `{"mode":"maintenance"}`, `{"mode":"layout-v2"}`, `{"mode":"slow","ms":500}`.
/// As text: `up`, `maintenance`, `layout-v2`, `slow:500`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "mode",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum WebsiteFault {
    /// Working normally.
    Up,
    /// Every page is the maintenance page (`503`).
    Maintenance,
    /// The same content in a redesigned markup: other structure, ids and classes.
    LayoutV2,
    /// Every page comes this many milliseconds late.
    Slow {
        /// The delay.
        ms: u64,
    },
}

impl ApiFault {
    /// The delay of `Slow`, zero otherwise.
    pub fn delay(self) -> Duration {
        match self {
            ApiFault::Slow { ms } => Duration::from_millis(ms),
            _ => Duration::ZERO,
        }
    }
}

/// A fault given as text that is not one of the known modes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {given:?}; expected one of: {expected}")]
pub struct UnknownFault {
    given: String,
    expected: &'static str,
}

fn split(text: &str) -> (&str, Option<u64>, bool) {
    match text.split_once(':') {
        Some((mode, n)) => match n.parse() {
            Ok(n) => (mode, Some(n), true),
            Err(_) => (mode, None, false),
        },
        None => (text, None, true),
    }
}

impl FromStr for ApiFault {
    type Err = UnknownFault;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownFault {
            given: text.to_owned(),
            expected: "up, down, refuse, hang, slow:<ms>, flap:<ms>, garbage, bad-field, processed-but-no-answer, answer:<4xx status>",
        };
        let (mode, n, ok) = split(text.trim());
        if !ok {
            return Err(unknown());
        }
        Ok(match (mode, n) {
            ("up", None) => ApiFault::Up,
            ("down", None) => ApiFault::Down,
            ("refuse", None) => ApiFault::Refuse,
            ("hang", None) => ApiFault::Hang,
            ("slow", Some(ms)) => ApiFault::Slow { ms },
            ("flap", Some(period_ms)) if period_ms > 0 => ApiFault::Flap { period_ms },
            ("garbage", None) => ApiFault::Garbage,
            ("bad-field", None) => ApiFault::BadField,
            ("processed-but-no-answer", None) => ApiFault::ProcessedButNoAnswer,
            ("answer", Some(status)) if (400..500).contains(&status) => ApiFault::Answer {
                status: status as u16,
            },
            _ => return Err(unknown()),
        })
    }
}

impl FromStr for WebsiteFault {
    type Err = UnknownFault;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownFault {
            given: text.to_owned(),
            expected: "up, maintenance, layout-v2, slow:<ms>",
        };
        let (mode, n, ok) = split(text.trim());
        if !ok {
            return Err(unknown());
        }
        Ok(match (mode, n) {
            ("up", None) => WebsiteFault::Up,
            ("maintenance", None) => WebsiteFault::Maintenance,
            ("layout-v2", None) => WebsiteFault::LayoutV2,
            ("slow", Some(ms)) => WebsiteFault::Slow { ms },
            _ => return Err(unknown()),
        })
    }
}

impl fmt::Display for ApiFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiFault::Up => f.write_str("up"),
            ApiFault::Down => f.write_str("down"),
            ApiFault::Refuse => f.write_str("refuse"),
            ApiFault::Hang => f.write_str("hang"),
            ApiFault::Slow { ms } => write!(f, "slow:{ms}"),
            ApiFault::Flap { period_ms } => write!(f, "flap:{period_ms}"),
            ApiFault::Garbage => f.write_str("garbage"),
            ApiFault::BadField => f.write_str("bad-field"),
            ApiFault::ProcessedButNoAnswer => f.write_str("processed-but-no-answer"),
            ApiFault::Answer { status } => write!(f, "answer:{status}"),
        }
    }
}

impl fmt::Display for WebsiteFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebsiteFault::Up => f.write_str("up"),
            WebsiteFault::Maintenance => f.write_str("maintenance"),
            WebsiteFault::LayoutV2 => f.write_str("layout-v2"),
            WebsiteFault::Slow { ms } => write!(f, "slow:{ms}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_forms_agree() {
        for text in [
            "up",
            "down",
            "refuse",
            "hang",
            "slow:800",
            "flap:2000",
            "garbage",
            "bad-field",
            "processed-but-no-answer",
            "answer:415",
        ] {
            let fault: ApiFault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
            let json = serde_json::to_string(&fault).unwrap();
            assert_eq!(serde_json::from_str::<ApiFault>(&json).unwrap(), fault);
        }
        assert_eq!(
            serde_json::to_string(&ApiFault::Flap { period_ms: 5 }).unwrap(),
            r#"{"mode":"flap","periodMs":5}"#
        );
        for text in ["up", "maintenance", "layout-v2", "slow:500"] {
            let fault: WebsiteFault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
        assert!("slow".parse::<ApiFault>().is_err());
        assert!("flap:0".parse::<ApiFault>().is_err());
        assert!("answer:200".parse::<ApiFault>().is_err());
        assert!("answer:503".parse::<ApiFault>().is_err());
        assert!(
            "sideways"
                .parse::<WebsiteFault>()
                .unwrap_err()
                .to_string()
                .contains("layout-v2")
        );
    }
}
