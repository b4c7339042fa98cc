//! The one integration-test binary: every test starts the real app on a loopback port
//! against a fresh database (SQLite by default; PostgreSQL when
//! `CALLSCRIBE_TEST_BACKEND=postgres`) and talks to it over real HTTP.

// The app's middleware stack is a deeply nested type, laid out again in this crate.
#![recursion_limit = "256"]

mod admin;
mod audit;
mod auth;
mod bad_input;
mod cluster;
mod conversations;
mod demo;
mod engines;
mod export;
mod faults;
mod helpers;
mod keeper;
mod kvs_emulator;
mod kvs_reader;
mod live;
mod operations;
mod redaction;
mod spec;
mod ssrf;
mod streaming;
mod tls_listener;
mod transcription;
mod webhook;
