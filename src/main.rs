use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Recap: transcripts in; one-pagers, slides, bytes and anchors out.
#[derive(Debug, Parser)]
#[command(name = "recap", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the whole service locally on the embedded store.
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Data directory of the embedded store; created if missing, kept across restarts.
        #[arg(long, default_value = "./.recap")]
        data: PathBuf,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    recap_http::telemetry::init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recap: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { addr, data } => {
            let config = recap::Config {
                addr,
                data,
                jwt_secret: std::env::var("RECAP_JWT_SECRET")
                    .ok()
                    .filter(|s| !s.is_empty()),
            };
            let server = recap::Server::bind(config).await?;
            // Written once and never fatal: a closed stdout must not stop the server.
            let banner = format!(
                "Recap is listening on {url}\n  health: {url}/health\n  data:   {}\n",
                server.store().dir().display(),
                url = server.url()
            );
            let mut out = std::io::stdout();
            let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
            server.run(recap::shutdown_signal()).await
        }
    }
}
