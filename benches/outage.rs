//! The outage benchmark (written next).

fn main() {}
