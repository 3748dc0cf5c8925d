//! Benchmark of the screen channel (filled in below).

fn main() {}
