//! The integration tests: one binary.

mod sandbox_web;
mod support;
