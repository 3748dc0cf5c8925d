//! Payments, their ISO 20022 statuses, standing orders and funds confirmation.

use time::Date;

use super::{Amount, Currency, EndToEndId, Iban, InvalidValue, PaymentId, ScaApproach};

/// The payment product (Berlin Group `payment-product`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentProduct {
    /// A SEPA credit transfer (`sepa-credit-transfers`): executed on the next business day.
    SepaCreditTransfer,
    /// A SEPA instant credit transfer (`instant-sepa-credit-transfers`): executed within seconds.
    InstantSepaCreditTransfer,
}

impl PaymentProduct {
    /// The path segment: `sepa-credit-transfers`.
    pub fn code(self) -> &'static str {
        match self {
            PaymentProduct::SepaCreditTransfer => "sepa-credit-transfers",
            PaymentProduct::InstantSepaCreditTransfer => "instant-sepa-credit-transfers",
        }
    }

    /// The product for a path segment.
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::SepaCreditTransfer, Self::InstantSepaCreditTransfer]
            .into_iter()
            .find(|p| p.code() == code)
    }
}

/// A single credit transfer the customer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// SEPA or SEPA instant.
    pub product: PaymentProduct,
    /// The account to pay from.
    pub debtor: Iban,
    /// Who is paid.
    pub creditor_name: String,
    /// The account paid into.
    pub creditor: Iban,
    /// How much; must be positive.
    pub amount: Amount,
    /// The communication (unstructured remittance information, at most 140 characters).
    pub remittance: Option<String>,
    /// The day to execute; `None` for as soon as possible.
    pub requested_execution_date: Option<Date>,
    /// Set by the initiator and carried to the creditor; the key to find the payment again.
    pub end_to_end_id: EndToEndId,
}

impl PaymentRequest {
    /// Checks the rules a request must meet before it is sent anywhere: a positive amount, a creditor
    /// name of 1–70 characters, a communication of at most 140 characters, different accounts.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        // Both products are SEPA schemes, which settle in euro only (EPC rulebooks).
        if self.amount.currency() != Currency::EUR {
            return Err(InvalidValue::new(
                "instructedAmount.currency",
                format!(
                    "a SEPA credit transfer is in EUR, not {}",
                    self.amount.currency().code()
                ),
            ));
        }
        if !self.amount.is_positive() {
            return Err(InvalidValue::new(
                "instructedAmount.amount",
                "must be greater than zero",
            ));
        }
        sepa_text("creditorName", &self.creditor_name)?;
        if let Some(text) = &self.remittance {
            sepa_text("remittanceInformationUnstructured", text)?;
        }
        let name = self.creditor_name.trim();
        if name.is_empty() || name.chars().count() > 70 {
            return Err(InvalidValue::new(
                "creditorName",
                "must be 1 to 70 characters",
            ));
        }
        if let Some(text) = &self.remittance
            && text.chars().count() > 140
        {
            return Err(InvalidValue::new(
                "remittanceInformationUnstructured",
                "must be at most 140 characters",
            ));
        }
        if self.debtor == self.creditor {
            return Err(InvalidValue::new(
                "creditorAccount",
                "is the debtor account itself",
            ));
        }
        Ok(())
    }
}

/// Checks a SEPA text field against the EPC character rules: the basic Latin set (letters, digits,
/// space and `/ - ? : ( ) . , ' +`) and the Latin letters with diacritics that national extended sets
/// carry; never a control character (NUL, line breaks) nor an invisible formatting one (right-to-left
/// overrides and the like, which make a name read other than it is). The error names the field and
/// the character.
fn sepa_text(field: &'static str, text: &str) -> Result<(), InvalidValue> {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || " /-?:().,'+".contains(c)
            || (('\u{c0}'..='\u{24f}').contains(&c) && c.is_alphabetic())
    };
    match text.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(InvalidValue::new(
            field,
            format!(
                "contains U+{:04X}, outside the SEPA character set",
                u32::from(c)
            ),
        )),
    }
}

/// A payment's status: the ISO 20022 `ExternalPaymentTransactionStatus1Code` set Berlin Group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// `RCVD`: received, not yet authorised.
    Received,
    /// `PATC`: partially accepted technical: some but not all authorisations done.
    PartiallyAcceptedTechnical,
    /// `ACTC`: accepted after technical validation and authorisation.
    AcceptedTechnical,
    /// `ACFC`: accepted, funds checked.
    AcceptedFundsChecked,
    /// `ACCP`: accepted after customer profile checks.
    AcceptedCustomerProfile,
    /// `ACWC`: accepted with change (e.g. another execution date).
    AcceptedWithChange,
    /// `ACSP`: accepted, settlement in process.
    AcceptedSettlementInProcess,
    /// `ACWP`: accepted without posting to the creditor yet.
    AcceptedWithoutPosting,
    /// `ACSC`: settlement completed on the debtor's account.
    AcceptedSettlementCompleted,
    /// `ACCC`: settlement completed on the creditor's account.
    AcceptedCreditSettlementCompleted,
    /// `PDNG`: pending further checks.
    Pending,
    /// `PART`: a bulk payment of which some but not all transactions were accepted.
    PartiallyAccepted,
    /// `RJCT`: rejected.
    Rejected,
    /// `CANC`: cancelled before execution.
    Cancelled,
}

impl PaymentStatus {
    /// Every status.
    pub const ALL: [PaymentStatus; 14] = [
        PaymentStatus::Received,
        PaymentStatus::PartiallyAcceptedTechnical,
        PaymentStatus::AcceptedTechnical,
        PaymentStatus::AcceptedFundsChecked,
        PaymentStatus::AcceptedCustomerProfile,
        PaymentStatus::AcceptedWithChange,
        PaymentStatus::AcceptedSettlementInProcess,
        PaymentStatus::AcceptedWithoutPosting,
        PaymentStatus::AcceptedSettlementCompleted,
        PaymentStatus::AcceptedCreditSettlementCompleted,
        PaymentStatus::Pending,
        PaymentStatus::PartiallyAccepted,
        PaymentStatus::Rejected,
        PaymentStatus::Cancelled,
    ];

    /// The four-letter ISO 20022 code.
    pub fn code(self) -> &'static str {
        match self {
            PaymentStatus::Received => "RCVD",
            PaymentStatus::PartiallyAcceptedTechnical => "PATC",
            PaymentStatus::AcceptedTechnical => "ACTC",
            PaymentStatus::AcceptedFundsChecked => "ACFC",
            PaymentStatus::AcceptedCustomerProfile => "ACCP",
            PaymentStatus::AcceptedWithChange => "ACWC",
            PaymentStatus::AcceptedSettlementInProcess => "ACSP",
            PaymentStatus::AcceptedWithoutPosting => "ACWP",
            PaymentStatus::AcceptedSettlementCompleted => "ACSC",
            PaymentStatus::AcceptedCreditSettlementCompleted => "ACCC",
            PaymentStatus::Pending => "PDNG",
            PaymentStatus::PartiallyAccepted => "PART",
            PaymentStatus::Rejected => "RJCT",
            PaymentStatus::Cancelled => "CANC",
        }
    }

    /// The status for a four-letter code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whether the status can no longer change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentStatus::AcceptedSettlementCompleted
                | PaymentStatus::AcceptedCreditSettlementCompleted
                | PaymentStatus::Rejected
                | PaymentStatus::Cancelled
                | PaymentStatus::PartiallyAccepted
        )
    }
}

/// What kind of payment resource an id belongs to: the Berlin Group payment service and product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentKind {
    /// A single payment (`/v1/payments/{product}`).
    Single(PaymentProduct),
    /// A standing order (`/v1/periodic-payments/{product}`).
    Periodic(PaymentProduct),
    /// A payment file (`/v1/bulk-payments/pain.001-sepa-credit-transfers`).
    File,
}

/// A payment resource at the bank: what kind it is and its id. Status, cancellation and signing take one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentRef {
    /// Single payment, standing order or file.
    pub kind: PaymentKind,
    /// The bank's id.
    pub id: PaymentId,
}

/// What the bank answers when a payment, a payment file or a standing order is initiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInitiation {
    /// The new resource.
    pub payment: PaymentRef,
    /// Its status now (usually `RCVD`: it still needs the customer's signature).
    pub status: PaymentStatus,
    /// The SCA approach the bank announced with its answer (`ASPSP-SCA-Approach`), when it announced
    /// one: a bank that redirects or pushes to the customer's app asks no password of the caller.
    /// `None` when nothing was announced (the website channel, whose login takes a password).
    pub approach: Option<ScaApproach>,
}

/// How often a standing order pays (Berlin Group `frequency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
    /// Every two weeks.
    EveryTwoWeeks,
    /// Every month.
    Monthly,
    /// Every two months.
    EveryTwoMonths,
    /// Every three months.
    Quarterly,
    /// Every six months.
    SemiAnnual,
    /// Every year.
    Annual,
}

impl Frequency {
    /// Every frequency.
    pub const ALL: [Frequency; 8] = [
        Frequency::Daily,
        Frequency::Weekly,
        Frequency::EveryTwoWeeks,
        Frequency::Monthly,
        Frequency::EveryTwoMonths,
        Frequency::Quarterly,
        Frequency::SemiAnnual,
        Frequency::Annual,
    ];

    /// The Berlin Group code: `Monthly`.
    pub fn code(self) -> &'static str {
        match self {
            Frequency::Daily => "Daily",
            Frequency::Weekly => "Weekly",
            Frequency::EveryTwoWeeks => "EveryTwoWeeks",
            Frequency::Monthly => "Monthly",
            Frequency::EveryTwoMonths => "EveryTwoMonths",
            Frequency::Quarterly => "Quarterly",
            Frequency::SemiAnnual => "SemiAnnual",
            Frequency::Annual => "Annual",
        }
    }

    /// The frequency for a code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    /// For frequencies counted in months: how many.
    pub fn months(self) -> Option<u8> {
        match self {
            Frequency::Monthly => Some(1),
            Frequency::EveryTwoMonths => Some(2),
            Frequency::Quarterly => Some(3),
            Frequency::SemiAnnual => Some(6),
            Frequency::Annual => Some(12),
            Frequency::Daily | Frequency::Weekly | Frequency::EveryTwoWeeks => None,
        }
    }

    /// For frequencies counted in days: how many.
    pub fn days(self) -> Option<i64> {
        match self {
            Frequency::Daily => Some(1),
            Frequency::Weekly => Some(7),
            Frequency::EveryTwoWeeks => Some(14),
            _ => None,
        }
    }
}

/// What happens when an execution day is not a business day (Berlin Group `executionRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionRule {
    /// Execute on the next business day.
    Following,
    /// Execute on the previous business day.
    Preceding,
}

impl ExecutionRule {
    /// The Berlin Group code: `following`, `preceding`.
    pub fn code(self) -> &'static str {
        match self {
            ExecutionRule::Following => "following",
            ExecutionRule::Preceding => "preceding",
        }
    }

    /// The rule for a code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "following" => Some(ExecutionRule::Following),
            "preceding" => Some(ExecutionRule::Preceding),
            _ => None,
        }
    }
}

/// A standing order the customer asks for (a Berlin Group periodic payment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingOrderRequest {
    /// Each execution pays this (its execution date is ignored; the schedule decides).
    pub payment: PaymentRequest,
    /// The first day it may execute.
    pub start_date: Date,
    /// The last day it may execute; `None` until cancelled.
    pub end_date: Option<Date>,
    /// How often.
    pub frequency: Frequency,
    /// The day of the month (1–31) for monthly frequencies; `None` for the start date's day.
    pub day_of_execution: Option<u8>,
    /// What to do on a weekend.
    pub execution_rule: ExecutionRule,
}

impl StandingOrderRequest {
    /// Checks the schedule and the payment: end after start, a day of execution from 1 to 31.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        self.payment.validate()?;
        if let Some(end) = self.end_date
            && end < self.start_date
        {
            return Err(InvalidValue::new("endDate", "is before startDate"));
        }
        if let Some(day) = self.day_of_execution
            && !(1..=31).contains(&day)
        {
            return Err(InvalidValue::new("dayOfExecution", "must be from 1 to 31"));
        }
        Ok(())
    }
}

/// A standing order as the bank holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingOrder {
    /// The bank's id (the periodic payment's `paymentId`).
    pub id: PaymentId,
    /// What was asked for.
    pub request: StandingOrderRequest,
    /// `RCVD` until signed, `ACTC` while active, `CANC` once cancelled.
    pub status: PaymentStatus,
}

/// The answer to a confirmation of funds (Berlin Group `fundsAvailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundsConfirmation {
    /// Whether the amount is available on the account now.
    pub funds_available: bool,
}

#[cfg(test)]
mod tests {
    use rust_decimal::dec;

    use super::*;

    fn request() -> PaymentRequest {
        PaymentRequest {
            product: PaymentProduct::SepaCreditTransfer,
            debtor: Iban::parse("BE68539007547034").unwrap(),
            creditor_name: "Garage Vermeulen".to_owned(),
            creditor: Iban::parse("BE71096123456769").unwrap(),
            amount: Amount::eur(dec!(12.30)).unwrap(),
            remittance: Some("Onderhoud 2026/11".to_owned()),
            requested_execution_date: None,
            end_to_end_id: EndToEndId::new("E2E-1").unwrap(),
        }
    }

    /// r11: a SEPA order is in euro and its texts keep to the EPC character rules, naming the field.
    #[test]
    fn sepa_orders_are_in_euro_and_their_texts_in_the_sepa_character_set() {
        assert_eq!(request().validate(), Ok(()));
        let accented = PaymentRequest {
            creditor_name: "Crème Brûlée Ørsted Straße".to_owned(),
            ..request()
        };
        assert_eq!(accented.validate(), Ok(()));
        let usd = PaymentRequest {
            amount: Amount::new(dec!(12.30), Currency::from_code("USD").unwrap()).unwrap(),
            ..request()
        };
        assert_eq!(
            usd.validate().unwrap_err().field,
            "instructedAmount.currency"
        );
        for (name, bad) in [
            ("creditorName", "Garage\u{0}Vermeulen"),
            ("creditorName", "Garage \u{202e}neleumreV"),
            ("creditorName", "Garage\nVermeulen"),
            ("creditorName", "Garage 🚗"),
        ] {
            let order = PaymentRequest {
                creditor_name: bad.to_owned(),
                ..request()
            };
            let error = order.validate().unwrap_err();
            assert_eq!(error.field, name, "{bad:?}");
            assert!(error.reason.contains("U+"), "{}", error.reason);
        }
        let remittance = PaymentRequest {
            remittance: Some("invoice\u{2066}42".to_owned()),
            ..request()
        };
        assert_eq!(
            remittance.validate().unwrap_err().field,
            "remittanceInformationUnstructured"
        );
    }
}
