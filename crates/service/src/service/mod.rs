//! Business rules between the API and the store: what start and stop mean, and the
//! cache of rendered transcripts.

pub mod calls;
pub mod checkpoint;
pub mod confirmation;
pub mod control;
pub mod error;
pub mod events;
pub mod keeper;
pub mod session;
pub mod sessions;
#[cfg(test)]
mod testing;
pub mod track;
pub mod transcriber;
pub mod transcript_cache;
pub mod webhook_targets;
