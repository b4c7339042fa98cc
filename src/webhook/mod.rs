//! Real-time delivery of transcripts to each tenant's webhook target.

pub mod target;
