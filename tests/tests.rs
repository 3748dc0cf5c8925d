//! The integration tests: one binary, real parts — the real sandbox bank over loopback HTTP, a real
//! headless Chromium through chromedriver, a real PostgreSQL server, the real ISO 20022 schemas and Berlin Group specification.

mod api_bank;
mod chaos;
mod cli;
mod conformance;
mod consent_scopes;
mod deploy;
mod egress;
mod failover;
mod http_reads;
mod identity;
mod journal;
mod monitoring;
mod openapi;
mod payment_files;
mod replicas;
mod sandbox_api;
mod sandbox_web;
mod sandbox_web2;
mod sca;
mod sca_oauth;
mod sca_website;
mod screen_bank;
mod screen_snapshots;
mod secret_leak;
mod service;
mod service_isolation;
mod service_limits;
mod service_once;
mod service_statuses;
mod status_page;
mod support;
mod webhooks;
mod website_capacity;
mod workspace;
