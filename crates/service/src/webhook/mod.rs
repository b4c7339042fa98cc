//! Real-time delivery: one signed POST per utterance to the tenant's webhook target,
//! with the target's auth mode, through a bounded per-tenant lane.

pub mod body;
pub mod connection;
pub mod guard;
pub mod lane;
pub mod oauth;
pub mod publish;
pub mod publisher;
pub mod signing;
pub mod target;

/// An error and its causes on one line: reqwest and oauth2 keep the useful part
/// ("invalid peer certificate: UnknownIssuer") in the sources.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
