//! The PostgreSQL journal.
