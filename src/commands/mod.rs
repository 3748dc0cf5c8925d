//! The commands of the `psd2-fallback` binary, one module each.

pub(crate) mod demo;
pub(crate) mod pay;
