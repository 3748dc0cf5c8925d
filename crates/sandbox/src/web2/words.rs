//! The second website's own words for what the bank knows by code: payment statuses, kinds of order,
//! frequencies, yes and no. Each word names one thing, so a reader can map it back.

use psd2_fallback_engine::model::{Frequency, PaymentKind, PaymentProduct, PaymentStatus};

/// The word for a status (the website never shows the ISO 20022 code).
pub(crate) fn status(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Received => "Te ondertekenen",
        PaymentStatus::PartiallyAcceptedTechnical => "Deels aanvaard",
        PaymentStatus::AcceptedTechnical => "Aanvaard",
        PaymentStatus::AcceptedFundsChecked => "Saldo gecontroleerd",
        PaymentStatus::AcceptedCustomerProfile => "Goedgekeurd",
        PaymentStatus::AcceptedWithChange => "Aanvaard met wijziging",
        PaymentStatus::AcceptedSettlementInProcess => "Wordt uitgevoerd",
        PaymentStatus::AcceptedWithoutPosting => "Aanvaard, niet geboekt",
        PaymentStatus::AcceptedSettlementCompleted => "Uitgevoerd",
        PaymentStatus::AcceptedCreditSettlementCompleted => "Uitgevoerd en bijgeschreven",
        PaymentStatus::Pending => "In behandeling",
        PaymentStatus::PartiallyAccepted => "Deels uitgevoerd",
        PaymentStatus::Rejected => "Geweigerd",
        PaymentStatus::Cancelled => "Ingetrokken",
    }
}

/// The word for a kind of order.
pub(crate) fn kind(kind: PaymentKind) -> &'static str {
    match kind {
        PaymentKind::Single(PaymentProduct::InstantSepaCreditTransfer) => "Directe overboeking",
        PaymentKind::Single(_) => "Overboeking",
        PaymentKind::Periodic(_) => "Periodieke opdracht",
        PaymentKind::File => "Betaalbestand",
    }
}

/// The frequencies the standing-order form offers: (option value, words).
pub(crate) const FREQUENCIES: [(Frequency, &str, &str); 8] = [
    (Frequency::Daily, "dag", "Elke dag"),
    (Frequency::Weekly, "week", "Elke week"),
    (Frequency::EveryTwoWeeks, "2weken", "Om de twee weken"),
    (Frequency::Monthly, "maand", "Elke maand"),
    (Frequency::EveryTwoMonths, "2maanden", "Om de twee maanden"),
    (Frequency::Quarterly, "kwartaal", "Elk kwartaal"),
    (Frequency::SemiAnnual, "halfjaar", "Elk half jaar"),
    (Frequency::Annual, "jaar", "Elk jaar"),
];

/// The words for a frequency.
pub(crate) fn frequency(f: Frequency) -> &'static str {
    FREQUENCIES
        .iter()
        .find(|(g, _, _)| *g == f)
        .map(|(_, _, words)| *words)
        .unwrap_or("")
}

/// Yes or no.
pub(crate) fn yes_no(yes: bool) -> &'static str {
    if yes { "Ja" } else { "Nee" }
}

#[cfg(test)]
mod tests {
    use super::{FREQUENCIES, frequency, status};
    use psd2_fallback_engine::model::{Frequency, PaymentStatus};
    use std::collections::HashSet;

    #[test]
    fn every_status_and_frequency_has_its_own_words() {
        let words: HashSet<_> = PaymentStatus::ALL.iter().map(|s| status(*s)).collect();
        assert_eq!(words.len(), PaymentStatus::ALL.len());
        for f in Frequency::ALL {
            assert!(!frequency(f).is_empty(), "{f:?}");
        }
        let values: HashSet<_> = FREQUENCIES.iter().map(|(_, v, _)| v).collect();
        assert_eq!(values.len(), Frequency::ALL.len());
    }
}
