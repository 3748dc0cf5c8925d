//! `psd2-fallback card-reader`: what a sandbox customer's card reader answers to a challenge, for signing
//! in a browser by hand.

use psd2_fallback_sandbox::card_reader_response;

/// The customer and the challenge.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The customer number.
    customer: String,
    /// The challenge the website or API shows.
    challenge: String,
}

/// Prints the response.
pub(crate) fn run(args: &Args) {
    println!("{}", card_reader_response(&args.customer, &args.challenge));
}
