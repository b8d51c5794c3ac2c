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
    /// Runs a transcript file through the whole local path (upload, parse, reserve, queue,
    /// generate, settle) as the demo tenant, writes the rendered outputs to a folder and prints
    /// what each cost. `recap serve` on the same data directory shows them afterwards.
    Demo {
        /// A transcript: WebVTT, SRT, speaker turns, vendor JSON or YouTube XML.
        file: PathBuf,
        /// Folder for the rendered files [default: ./recap-demo/<file name>/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The outputs to make, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "one_pager,slides,bytes,anchors",
            value_parser = clap::builder::PossibleValuesParser::new(recap_domain::outputs::ALL)
        )]
        outputs: Vec<String>,
        /// The transcript type (see GET /transcript-types).
        #[arg(long = "type", default_value = "meeting")]
        kind: String,
        /// `provider/model` from the catalog; the offline provider (free, no key) by default.
        /// A priced model needs credits: a demo user without a subscription gets the Free tier.
        #[arg(long)]
        model: Option<String>,
        /// Data directory of the embedded store, as `recap serve` uses it.
        #[arg(long, default_value = "./.recap")]
        data: PathBuf,
        /// Seconds to wait for the parse, then for the outputs.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Prints a local bearer token (on its last line), signed like `recap serve` checks them.
    Token {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: String,
        /// A platform admin (manages the global catalog).
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        email: Option<String>,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 24)]
        hours: u64,
        /// The data directory whose secret signs the token (unless RECAP_JWT_SECRET is set).
        #[arg(long, default_value = "./.recap")]
        data: PathBuf,
    },
    /// Reconciles billing once (what `recap serve` does every minute) and prints what it did.
    Reconcile {
        /// The data directory of the embedded store (not while `recap serve` has it open).
        #[arg(long, default_value = "./.recap")]
        data: PathBuf,
    },
    /// Reads transcript files (WebVTT, SRT, speaker turns, vendor JSON, YouTube XML).
    Transcript {
        #[command(subcommand)]
        command: TranscriptCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TranscriptCommand {
    /// Prints the normalized transcript as JSON on stdout, warnings included.
    Parse {
        file: PathBuf,
        /// Refuse what lenient mode would repair (W3C rules for WebVTT).
        #[arg(long)]
        strict: bool,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Demo { .. }) {
        // The demo draws progress on the terminal; only warnings and errors are logged.
        recap_http::telemetry::init_with(recap_http::telemetry::filter_from_env("warn"));
    } else {
        recap_http::telemetry::init();
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `recap transcript parse FILE | head`: the reader left; end quietly, as the shell's
        // tools do when SIGPIPE ends them (status 128 + 13).
        Err(e)
            if e.chain().any(|c| {
                let kind = c
                    .downcast_ref::<std::io::Error>()
                    .map(std::io::Error::kind)
                    .or_else(|| c.downcast_ref::<serde_json::Error>()?.io_error_kind());
                kind == Some(std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            std::process::ExitCode::from(141)
        }
        Err(e) => {
            eprintln!("recap: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let jwt_secret = std::env::var("RECAP_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    match cli.command {
        Command::Transcript {
            command: TranscriptCommand::Parse { file, strict },
        } => {
            use anyhow::Context as _;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let opts = recap_transcript::ParseOptions {
                mode: if strict {
                    recap_transcript::Mode::Strict
                } else {
                    recap_transcript::Mode::Lenient
                },
                file_name: file.file_name().and_then(|n| n.to_str()),
            };
            let transcript = recap_transcript::parse(&bytes, &opts)
                .with_context(|| file.display().to_string())?;
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &transcript)?;
            writeln!(out)?;
            Ok(())
        }
        Command::Demo {
            file,
            out,
            outputs,
            kind,
            model,
            data,
            timeout,
        } => {
            let opts = recap::demo::DemoOptions {
                file,
                data,
                out,
                outputs,
                kind,
                model,
                jwt_secret,
                timeout: std::time::Duration::from_secs(timeout),
            };
            let report = recap::demo::run(&opts, indicatif::ProgressDrawTarget::stderr()).await?;
            let mut out = std::io::stdout().lock();
            recap::demo::print_report(&report, &mut out)?;
            out.flush()?;
            match report.failed() {
                0 => Ok(()),
                n => anyhow::bail!("{n} of {} outputs failed", report.outputs.len()),
            }
        }
        Command::Reconcile { data } => {
            use anyhow::Context as _;
            let store = recap_embedded::EmbeddedStore::open(&data).with_context(|| {
                format!(
                    "opening the data directory {} (stop `recap serve` on it, or pass another --data)",
                    data.display()
                )
            })?;
            let records = store.records();
            let report =
                recap_domain::reconcile::run(&records, &recap_domain::clock::SystemClock).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Token {
            tenant,
            user,
            admin,
            email,
            hours,
            data,
        } => {
            let tenant = recap_domain::ids::TenantId::parse(&tenant)?;
            let caller = recap_domain::access::Caller {
                user: recap_domain::ids::UserId::parse(&user)?,
                tenant,
                email,
                platform_admin: admin,
            };
            let tokens = recap::local_tokens(jwt_secret.as_deref(), || {
                Ok(recap_embedded::data_secret(&data)?)
            })?;
            let ttl = std::time::Duration::from_secs(hours.clamp(1, 24 * 365) * 3600);
            println!("{}", tokens.mint(&caller, ttl)?);
            Ok(())
        }
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
            let token = server.demo_token()?;
            let banner = format!(
                "Recap is listening on {url}\n  health: {url}/health\n  data:   {}\n  demo tenant {}, token (24 h):\n    curl -H 'Authorization: Bearer {token}' {url}/me\n",
                server.store().dir().display(),
                recap::DEMO_TENANT,
                url = server.url()
            );
            let mut out = std::io::stdout();
            let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
            server.run(recap::shutdown_signal()).await
        }
    }
}
