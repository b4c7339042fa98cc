//! The `callscribe` binary: parses the command line and runs it.

// The API endpoint's middleware stack is a deeply nested type; its layout needs more
// query depth than the default in release builds.
#![recursion_limit = "256"]

use clap::Parser;

mod cli;
mod demo;
mod models;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
