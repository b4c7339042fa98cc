//! Kinesis Video Streams media: stream ARNs, the SDK clients, the GetMedia byte-stream parser, the per-fragment view
//! of it that the reader consumes, and a local KVS emulator.

pub mod arn;
pub mod client;
pub mod emulator;
pub mod fragment;
pub mod mkv;
pub mod mkv_writer;
pub mod reader;
