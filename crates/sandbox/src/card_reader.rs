//! The customers' card readers: the answer a card reader shows for a challenge, and an
//! [`ScaRelay`](psd2_fallback_engine::bank::ScaRelay) that answers every challenge with it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What the customer's card reader shows for a challenge: eight digits, keyed by a secret that only the
/// customer's card (and the bank) hold.
pub fn card_reader_response(customer: &str, challenge: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(format!("psd2-fallback sandbox card {customer}").as_bytes())
            .expect("HMAC accepts any key length");
    mac.update(challenge.trim().as_bytes());
    let digest = mac.finalize().into_bytes();
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 100_000_000;
    format!("{n:08}")
}

/// The sandbox customers' card readers as an [`ScaRelay`](psd2_fallback_engine::bank::ScaRelay): answers every
/// challenge with [`card_reader_response`], as the customer holding the card would. For tests and the
/// demo, where the screen channel must log in unattended.
#[derive(Debug, Clone, Copy, Default)]
pub struct CardReaderRelay;

#[async_trait::async_trait]
impl psd2_fallback_engine::bank::ScaRelay for CardReaderRelay {
    async fn answer(
        &self,
        psu: &psd2_fallback_engine::model::PsuId,
        challenge: &psd2_fallback_engine::model::ScaChallenge,
    ) -> Option<psd2_fallback_engine::model::ScaAnswer> {
        Some(psd2_fallback_engine::model::ScaAnswer::new(
            card_reader_response(psu.as_str(), &challenge.data),
        ))
    }
}
