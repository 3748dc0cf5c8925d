//! The sandbox bank website.
