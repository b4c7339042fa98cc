//! The File Exporter: the daily utterances feed (`feed`), written by `job`, kept in
//! `storage`, served through signed `link`s, scheduled with retention by `schedule`,
//! and run on demand by `callscribe export` (`crate::cli`).

pub mod feed;
pub mod job;
pub mod link;
pub mod schedule;
pub mod storage;
