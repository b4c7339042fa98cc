//! Kinesis Video Streams media: stream ARNs, the SDK clients, the GetMedia byte-stream
//! parser, and the per-fragment view of it that the reader consumes. (The local KVS
//! emulator is a development tool: `callscribe_devtools::emulator`.)

pub mod arn;
pub mod client;
pub mod fragment;
pub mod mkv;
pub mod reader;
