//! The sandbox bank's customers, accounts and thirteen months of history, made the same way every time.
//!
//! The history is generated from a fixed seed relative to the ledger's "today", so two runs on the same
//! day hold the same data, and tests can pin the day to get the same data on any day.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use time::{Date, Duration, Month, Weekday};

use psd2_fallback_engine::model::belgian::format_date;
use psd2_fallback_engine::model::{ExecutionRule, Frequency, Iban};

/// A customer of the sandbox bank, with the credentials a person types on its website.
///
/// These are sandbox credentials, published on purpose so people and tests can log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxCustomer {
    /// The customer number (PSU id).
    pub number: &'static str,
    /// The online-banking password.
    pub password: &'static str,
    /// The customer's name.
    pub name: &'static str,
}

/// The sandbox bank's customers.
pub const CUSTOMERS: [SandboxCustomer; 3] = [
    SandboxCustomer {
        number: "1000001",
        password: "anna-sandbox",
        name: "Anna Peeters",
    },
    SandboxCustomer {
        number: "1000002",
        password: "luc-sandbox",
        name: "Luc Janssens",
    },
    SandboxCustomer {
        number: "1000003",
        password: "koe-sandbox",
        name: "Brasserie De Koe BV",
    },
];

/// The sandbox bank's Belgian bank code (the first three digits of its account numbers).
pub(crate) const BANK_CODE: u32 = 738;

/// A Belgian IBAN from a bank code (3 digits) and an account number (7 digits): the national check
/// digits (mod 97 of the first ten digits) and the IBAN check digits are computed.
pub(crate) fn belgian_iban(bank: u32, account: u32) -> Iban {
    let base = u64::from(bank) * 10_000_000 + u64::from(account);
    let national = match base % 97 {
        0 => 97,
        n => n,
    };
    let bban = format!("{base:010}{national:02}");
    // IBAN check digits: move "BE00" to the end, letters to numbers (B=11, E=14), 98 - mod 97.
    let numeric = format!("{bban}111400");
    let rem = numeric
        .bytes()
        .fold(0u64, |acc, d| (acc * 10 + u64::from(d - b'0')) % 97);
    let check = 98 - rem;
    Iban::parse(&format!("BE{check:02}{bban}")).expect("a computed Belgian IBAN is valid")
}

/// The salted hash of a password, as the bank stores it.
pub(crate) fn password_hash(customer: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"psd2-fallback sandbox password\0");
    hasher.update(customer.as_bytes());
    hasher.update([0]);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// An account to open at seed time.
pub(crate) struct SeedAccount {
    pub(crate) owner: &'static str,
    pub(crate) number: u32,
    pub(crate) name: &'static str,
    pub(crate) product: &'static str,
    pub(crate) credit_limit: Decimal,
}

/// The accounts, two per customer. The first is the busy one.
pub(crate) fn accounts() -> Vec<SeedAccount> {
    let account = |owner, number, name, product, limit: i64| SeedAccount {
        owner,
        number,
        name,
        product,
        credit_limit: Decimal::from(limit),
    };
    vec![
        account(
            "1000001",
            1_234_567,
            "Zichtrekening",
            "Zichtrekening",
            1_000,
        ),
        account("1000001", 1_234_568, "Spaarrekening", "Spaarrekening", 0),
        account("1000002", 2_345_678, "Zichtrekening", "Zichtrekening", 500),
        account("1000002", 2_345_679, "Spaarboekje", "Spaarrekening", 0),
        account(
            "1000003",
            3_456_789,
            "Bedrijfsrekening",
            "Zichtrekening Pro",
            5_000,
        ),
        account("1000003", 3_456_790, "Reserve", "Spaarrekening Pro", 0),
    ]
}

/// A standing order that runs through the seeded history.
pub(crate) struct SeedStandingOrder {
    pub(crate) account: usize,
    pub(crate) creditor_name: &'static str,
    pub(crate) creditor: Iban,
    pub(crate) amount: Decimal,
    pub(crate) remittance: &'static str,
    pub(crate) frequency: Frequency,
    pub(crate) day_of_execution: u8,
    pub(crate) execution_rule: ExecutionRule,
}

/// The standing orders, by index into [`accounts`]. Transfers to the own savings account stay inside the
/// bank, so both sides are booked.
pub(crate) fn standing_orders() -> Vec<SeedStandingOrder> {
    let order = |account, creditor_name, creditor, amount: i64, remittance, frequency, day| {
        SeedStandingOrder {
            account,
            creditor_name,
            creditor,
            amount: Decimal::new(amount, 2),
            remittance,
            frequency,
            day_of_execution: day,
            execution_rule: ExecutionRule::Following,
        }
    };
    vec![
        order(
            0,
            "Immo Schelde BV",
            belgian_iban(1, 4_400_001),
            95_000,
            "Huur appartement",
            Frequency::Monthly,
            1,
        ),
        order(
            0,
            "Anna Peeters",
            belgian_iban(BANK_CODE, 1_234_568),
            20_000,
            "Sparen",
            Frequency::Monthly,
            5,
        ),
        order(
            0,
            "Fitness Gent",
            belgian_iban(68, 5_500_002),
            3_999,
            "Abonnement",
            Frequency::Monthly,
            15,
        ),
        order(
            0,
            "Ethias",
            belgian_iban(91, 2_100_003),
            18_450,
            "Brandverzekering",
            Frequency::Quarterly,
            10,
        ),
        order(
            2,
            "Luc Janssens",
            belgian_iban(BANK_CODE, 2_345_679),
            5_000,
            "Spaarpot",
            Frequency::Monthly,
            25,
        ),
        order(
            4,
            "Leasing Vlaanderen",
            belgian_iban(1, 7_700_004),
            61_250,
            "Leasing bestelwagen",
            Frequency::Monthly,
            3,
        ),
    ]
}

/// One generated entry of history.
pub(crate) struct SeedEntry {
    pub(crate) account: usize,
    pub(crate) date: Date,
    pub(crate) amount: Decimal,
    pub(crate) counterparty: &'static str,
    pub(crate) counterparty_iban: Option<Iban>,
    pub(crate) remittance: String,
    pub(crate) code: &'static str,
}

/// A small deterministic generator (SplitMix64): the same sequence on every machine.
#[derive(Debug)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..high`.
    pub(crate) fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low) as u64) as i64
    }
}

/// How far back the seeded history goes: thirteen months (about 395 days).
pub(crate) const HISTORY_DAYS: i64 = 395;

const SHOPS: [&str; 8] = [
    "Delhaize Gent",
    "Colruyt Merelbeke",
    "Aldi Ledeberg",
    "Carrefour Express",
    "Bakkerij Van Damme",
    "Apotheek Sint-Pieters",
    "Shell Drongen",
    "Kruidvat Gent",
];

/// The one-off history of every account (standing-order executions are made by the ledger itself, from
/// [`standing_orders`], so the seed exercises the same code as a standing order created later).
pub(crate) fn one_off_history(today: Date) -> Vec<SeedEntry> {
    let mut rng = SplitMix::new(0x005E_ED0F_BA4C);
    let start = today - Duration::days(HISTORY_DAYS);
    let mut out = Vec::new();
    let mut day = start;
    while day < today {
        let weekday = day.weekday();
        let business = !matches!(weekday, Weekday::Saturday | Weekday::Sunday);
        // Anna: two to four card payments a day.
        let card_payments = rng.range(2, 5);
        for _ in 0..card_payments {
            let shop = SHOPS[rng.range(0, SHOPS.len() as i64) as usize];
            let cents = rng.range(150, 3_000);
            out.push(SeedEntry {
                account: 0,
                date: day,
                amount: -Decimal::new(cents, 2),
                counterparty: shop,
                counterparty_iban: None,
                remittance: format!("Betaling Bancontact {shop}"),
                code: "PMNT-CCRD-POSD",
            });
        }
        if day.day() == 25 {
            out.push(salary(
                0,
                day,
                345_000,
                "Acme Logistics NV",
                belgian_iban(1, 9_900_005),
            ));
            out.push(salary(
                2,
                day,
                241_500,
                "Stad Gent",
                belgian_iban(91, 9_900_006),
            ));
        }
        if day.day() == 12 {
            out.push(direct_debit(
                0,
                day,
                rng.range(7_000, 14_000),
                "Luminus",
                "Energie voorschot",
            ));
            out.push(direct_debit(
                2,
                day,
                rng.range(4_000, 9_000),
                "Proximus",
                "Internet en mobiel",
            ));
        }
        if business && rng.range(0, 9) == 0 {
            out.push(SeedEntry {
                account: 0,
                date: day,
                amount: Decimal::new(rng.range(1_000, 25_000), 2),
                counterparty: "Jan Peeters",
                counterparty_iban: Some(belgian_iban(63, 1_100_007)),
                remittance: "Terugbetaling".to_owned(),
                code: "PMNT-RCDT-ESCT",
            });
        }
        // Luc: a card payment every few days.
        if rng.range(0, 3) == 0 {
            let shop = SHOPS[rng.range(0, SHOPS.len() as i64) as usize];
            out.push(SeedEntry {
                account: 2,
                date: day,
                amount: -Decimal::new(rng.range(300, 6_000), 2),
                counterparty: shop,
                counterparty_iban: None,
                remittance: format!("Betaling Bancontact {shop}"),
                code: "PMNT-CCRD-POSD",
            });
        }
        // The brasserie: takings on business days, supplier invoices weekly.
        if business {
            out.push(SeedEntry {
                account: 4,
                date: day,
                amount: Decimal::new(rng.range(40_000, 180_000), 2),
                counterparty: "Worldline Bancontact",
                counterparty_iban: Some(belgian_iban(1, 3_300_008)),
                remittance: format!("Dagontvangsten {}", format_date(day)),
                code: "PMNT-RCDT-ESCT",
            });
            if weekday == Weekday::Wednesday {
                out.push(SeedEntry {
                    account: 4,
                    date: day,
                    amount: -Decimal::new(rng.range(60_000, 240_000), 2),
                    counterparty: "Brouwerij Het Anker",
                    counterparty_iban: Some(belgian_iban(68, 4_400_009)),
                    remittance: format!("Factuur {}", rng.range(20_000, 29_999)),
                    code: "PMNT-ICDT-ESCT",
                });
            }
        }
        // Interest on the savings accounts, at the start of each quarter.
        if day.day() == 1
            && matches!(
                day.month(),
                Month::January | Month::April | Month::July | Month::October
            )
        {
            for account in [1, 3, 5] {
                out.push(SeedEntry {
                    account,
                    date: day,
                    amount: Decimal::new(rng.range(150, 2_500), 2),
                    counterparty: "Sandbox Bank",
                    counterparty_iban: None,
                    remittance: "Interest basisrente en getrouwheidspremie".to_owned(),
                    code: "PMNT-MCOP-INTR",
                });
            }
        }
        day += Duration::days(1);
    }
    out
}

fn salary(account: usize, date: Date, cents: i64, from: &'static str, iban: Iban) -> SeedEntry {
    SeedEntry {
        account,
        date,
        amount: Decimal::new(cents, 2),
        counterparty: from,
        counterparty_iban: Some(iban),
        remittance: "Loon".to_owned(),
        code: "PMNT-RCDT-SALA",
    }
}

fn direct_debit(
    account: usize,
    date: Date,
    cents: i64,
    creditor: &'static str,
    what: &str,
) -> SeedEntry {
    SeedEntry {
        account,
        date,
        amount: -Decimal::new(cents, 2),
        counterparty: creditor,
        counterparty_iban: Some(belgian_iban(1, 6_600_010)),
        remittance: what.to_owned(),
        code: "PMNT-IDDT-ESDD",
    }
}

/// The opening balances at the start of the history, by account index.
pub(crate) fn opening_balances() -> [Decimal; 6] {
    [
        Decimal::new(320_000, 2),
        Decimal::new(1_250_000, 2),
        Decimal::new(150_000, 2),
        Decimal::new(800_000, 2),
        Decimal::new(2_500_000, 2),
        Decimal::new(4_000_000, 2),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_ibans_are_valid_belgian_numbers() {
        let iban = belgian_iban(BANK_CODE, 1_234_567);
        assert_eq!(iban.country(), "BE");
        assert!(iban.as_str().starts_with("BE") && iban.as_str().len() == 16);
        // The well-known example number BE68 5390 0754 7034 comes out of the same arithmetic.
        assert_eq!(belgian_iban(539, 75_470).as_str(), "BE68539007547034");
    }
}
