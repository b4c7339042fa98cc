//! Kinesis Video Streams media: the GetMedia byte-stream parser and the per-fragment
//! view of it that the reader consumes.

pub mod fragment;
pub mod mkv;
pub mod mkv_writer;
