//! The commands of the `psd2-fallback` binary, one module each: each parses its own arguments (clap)
//! and calls the library crates.

pub(crate) mod card_reader;
pub(crate) mod demo;
pub(crate) mod events;
pub(crate) mod pay;
pub(crate) mod regulator;
pub(crate) mod report;
pub(crate) mod sandbox;
pub(crate) mod selectors;
pub(crate) mod serve;
