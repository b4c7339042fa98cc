use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = callscribe::cli::Cli::parse();
    match callscribe::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
