//! Tools for running and testing callscribe without AWS or a customer's endpoint: a Kinesis
//! Video Streams emulator that plays WAV files as Amazon Connect streams them (`emulator`,
//! on the MKV writer `mkv_writer`), and a webhook sink that receives deliveries and checks
//! their signatures (`sink`). The `callscribe` binary runs them as `kvs-emulator` and
//! `webhook-sink`; the demo and the integration tests run them in process.

pub mod emulator;
pub mod mkv_writer;
pub mod sink;
