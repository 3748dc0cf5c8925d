//! The `psd2-fallback` command.
fn main() {}
