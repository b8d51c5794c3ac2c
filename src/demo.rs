//! `recap demo FILE`: one transcript file through the whole local path, as a user's upload
//! goes through it: the transcript is created, the file is put through the files port (which
//! announces it like S3 does), the upload trigger parses it, generation reserves credits and
//! queues one job per output, the generate consumer makes and settles each, and the rendered
//! files are copied out of the store into a folder.
//!
//! It runs on the same data directory as `recap serve`, as the demo tenant whose token `recap
//! serve` prints, so the server shows the demo's transcript and outputs afterwards.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use recap_domain::access::{self, Access};
use recap_domain::generation::{self, DEFAULT_MODEL, Output, OutputStatus};
use recap_domain::ids::OutputId;
use recap_domain::transcripts::{self, NewTranscript, Status, Transcript};
use recap_embedded::EmbeddedStore;
use recap_http::AppState;

/// Where the store's presigned URLs would point: `recap serve`'s default address. The demo
/// hands none out.
const BASE_URL: &str = "http://127.0.0.1:3000";
/// The tier a priced model's demo runs on when the demo user has no subscription.
const DEMO_TIER: &str = "free";
/// How often the records are read for progress while the consumers run.
const POLL: Duration = Duration::from_millis(100);

/// What `recap demo` was asked.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub file: PathBuf,
    /// The data directory of the embedded store (`recap serve --data`).
    pub data: PathBuf,
    /// Where the rendered files go; `./recap-demo/<file name>/` when `None`.
    pub out: Option<PathBuf>,
    pub outputs: Vec<String>,
    /// The transcript type (`meeting`, `media`, …).
    pub kind: String,
    /// `provider/model`; the offline provider when `None`.
    pub model: Option<String>,
    /// `RECAP_JWT_SECRET`, as `recap serve` takes it.
    pub jwt_secret: Option<String>,
    /// Longest wait for the upload trigger and then for the outputs.
    pub timeout: Duration,
}

/// What the demo made.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub transcript: Transcript,
    pub out_dir: PathBuf,
    pub outputs: Vec<OutputReport>,
}

#[derive(Debug, Clone)]
pub struct OutputReport {
    pub output: Output,
    /// The files written, in the output's order.
    pub written: Vec<PathBuf>,
    /// Why its job failed, when it failed transiently (a provider's 5xx after the retries a
    /// job makes, a timeout): the job waits in the queue for another receive, which the demo
    /// does not wait for.
    pub retrying: Option<String>,
}

impl DemoReport {
    pub fn failed(&self) -> usize {
        self.outputs
            .iter()
            .filter(|o| o.output.status != OutputStatus::Done)
            .count()
    }
}

/// The default output folder of a file: `./recap-demo/<file stem>/`, the name made safe.
pub fn default_out_dir(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_matches('.');
    Path::new("recap-demo").join(if safe.is_empty() { "transcript" } else { safe })
}

/// Runs the demo; progress is drawn on `draw` (hidden when that is not a terminal).
pub async fn run(opts: &DemoOptions, draw: ProgressDrawTarget) -> anyhow::Result<DemoReport> {
    let (bytes, file_name) = read_transcript_file(&opts.file)?;
    let store = EmbeddedStore::open(&opts.data).with_context(|| {
        format!(
            "opening the data directory {} (stop `recap serve` on it, or pass another --data)",
            opts.data.display()
        )
    })?;
    let tokens = Arc::new(crate::local_tokens(opts.jwt_secret.as_deref(), || {
        Ok(store.secret().to_vec())
    })?);
    let (mut state, uploads) = crate::local_state(&store, BASE_URL, tokens);
    crate::seed(&state).await?;
    if opts.model.is_some() {
        state.models = Arc::new(crate::model_registry(state.records.as_ref()).await?);
    }
    let caller = crate::demo_caller()?;
    let access = access::load(state.records.as_ref(), state.clock.as_ref(), &caller).await?;
    if let Some(model) = opts.model.as_deref().filter(|m| !is_offline(m)) {
        // Refused before anything is written: no transcript, no subscription.
        let provider = model.split_once('/').map_or(model, |(p, _)| p);
        if state.models.models(provider).is_none() {
            bail!(
                "no key is configured for the provider {provider} (see Configuration in the README); leave --model out for the offline provider"
            );
        }
        ensure_credits(&state, &access, model).await?;
    }

    let progress = MultiProgress::with_draw_target(draw);
    let deadline = tokio::time::Instant::now() + opts.timeout;
    let made = async {
        let tr = ingest(
            &state, &uploads, &access, &progress, opts, &file_name, bytes, deadline,
        )
        .await?;
        let requested = generation::request(
            gen_ports(&state),
            &access,
            &tr.id,
            &opts.outputs,
            opts.model.as_deref(),
        )
        .await
        .context("requesting the outputs")?;
        let outputs = generate(&state, &progress, &requested, deadline).await?;
        anyhow::Ok((tr, outputs))
    }
    .await;
    // The bars leave the cursor at the end of their last line.
    if !progress.is_hidden() {
        eprintln!();
    }
    let (tr, outputs) = made?;

    let out_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&opts.file));
    let mut reports = Vec::with_capacity(outputs.len());
    for (output, retrying) in outputs {
        let written = write_files(&state, &output, &out_dir).await?;
        reports.push(OutputReport {
            output,
            written,
            retrying,
        });
    }
    Ok(DemoReport {
        transcript: tr,
        out_dir,
        outputs: reports,
    })
}

fn is_offline(model: &str) -> bool {
    model.split_once('/').map(|(p, _)| p) == Some(DEFAULT_MODEL.0)
}

fn read_transcript_file(file: &Path) -> anyhow::Result<(Vec<u8>, String)> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.is_empty() {
        bail!("{} is empty", file.display());
    }
    if bytes.len() as u64 > transcripts::MAX_UPLOAD_BYTES {
        bail!(
            "{} is {} bytes, over the upload limit of {} bytes",
            file.display(),
            bytes.len(),
            transcripts::MAX_UPLOAD_BYTES
        );
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} names no file", file.display()))?;
    Ok((bytes, name))
}

/// A priced model needs credits: a demo user without a subscription gets the Free tier's
/// (a subscription record and its credits, as `PUT /subscriptions/{user}` makes them).
async fn ensure_credits(state: &AppState, access: &Access, model: &str) -> anyhow::Result<()> {
    let (t, u) = (&access.caller.tenant, &access.caller.user);
    let records = state.records.as_ref();
    let active = recap_domain::billing::subscription(records, t, u)
        .await?
        .is_some_and(|s| s.status == recap_domain::billing::SubscriptionStatus::Active);
    if !active {
        recap_domain::billing::subscribe(
            records,
            state.clock.as_ref(),
            state.ids.as_ref(),
            t,
            u,
            u,
            DEMO_TIER,
        )
        .await
        .with_context(|| {
            format!("subscribing the demo user to the {DEMO_TIER} tier for {model}")
        })?;
    }
    Ok(())
}

fn tr_ports(state: &AppState) -> transcripts::Ports<'_> {
    transcripts::Ports {
        records: state.records.as_ref(),
        files: state.files.as_ref(),
        clock: state.clock.as_ref(),
        ids: state.ids.as_ref(),
    }
}

fn gen_ports(state: &AppState) -> generation::Ports<'_> {
    crate::generation_ports(state)
}

fn spinner(progress: &MultiProgress, prefix: &str, msg: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{spinner:.cyan} {prefix:<10} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓");
    let bar = progress.add(ProgressBar::new_spinner().with_style(style));
    bar.set_prefix(prefix.to_string());
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Leaves a bar with a cross, not the spinner's tick of success.
fn give_up(bar: &ProgressBar, msg: impl Into<std::borrow::Cow<'static, str>>) {
    if let Ok(style) = ProgressStyle::with_template("{prefix:.red} {msg}") {
        bar.set_style(style);
    }
    let prefix = format!("✗ {:<10}", bar.prefix());
    bar.set_prefix(prefix);
    bar.abandon_with_message(msg);
}

/// Creates the transcript, uploads the file through the files port and runs the upload
/// trigger until the transcript is ready (or fails, which is an error).
#[allow(clippy::too_many_arguments)]
async fn ingest(
    state: &AppState,
    uploads: &recap_embedded::EmbeddedQueue,
    access: &Access,
    progress: &MultiProgress,
    opts: &DemoOptions,
    file_name: &str,
    bytes: Vec<u8>,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Transcript> {
    let bar = spinner(progress, "transcript", "creating");
    let title: String = opts
        .file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file_name.to_string())
        .chars()
        .take(300)
        .collect();
    let created = transcripts::create(
        tr_ports(state),
        access,
        NewTranscript {
            title: Some(title),
            kind: Some(opts.kind.clone()),
            size_bytes: Some(bytes.len() as u64),
            file_name: Some(file_name.to_string()),
            ..NewTranscript::default()
        },
    )
    .await
    .context("creating the transcript")?;
    let tr = created.transcript;
    bar.set_message("uploading");
    // What the presigned PUT does: the file store announces the upload to the trigger.
    state
        .files
        .put(&tr.source.key, bytes, &tr.source.content_type)
        .await
        .context("uploading the file")?;
    bar.set_message("parsing");
    loop {
        crate::process_upload_events(uploads, state, POLL, &crate::Shutdown::default()).await?;
        let now = transcripts::get(state.records.as_ref(), &tr.tenant, &tr.id).await?;
        match now.status {
            Status::Ready => {
                bar.finish_with_message(format!(
                    "ready: {}, {}",
                    now.format.map(|f| f.label()).unwrap_or("transcript"),
                    counted(now.segment_count.unwrap_or_default(), "segment")
                ));
                return Ok(now);
            }
            Status::Failed => {
                give_up(&bar, "failed");
                bail!(
                    "{}: {}",
                    opts.file.display(),
                    now.failure
                        .as_deref()
                        .unwrap_or("the file could not be read")
                );
            }
            _ if tokio::time::Instant::now() >= deadline => {
                give_up(&bar, "still waiting");
                bail!(
                    "the upload trigger did not finish {} in time; `recap serve` on the same data directory finishes it",
                    opts.file.display()
                );
            }
            _ => {}
        }
    }
}

/// An output with why its job failed, if it failed transiently and waits for another receive.
type Watched = (Output, Option<String>);

/// Runs the generate consumer (as `recap serve` does, in the background) while the records
/// are read for each output's progress, until every output is done, failed, or failed
/// transiently (its job back in the queue, received again only after the queue's visibility
/// timeout: minutes, which the demo does not wait).
async fn generate(
    state: &AppState,
    progress: &MultiProgress,
    requested: &[Output],
    deadline: tokio::time::Instant,
) -> anyhow::Result<Vec<Watched>> {
    let bars: Vec<ProgressBar> = requested
        .iter()
        .map(|o| spinner(progress, &o.output_type, "queued"))
        .collect();
    let consumer_state = state.clone();
    let (retries, mut retrying) = tokio::sync::mpsc::unbounded_channel();
    let mut consumer = tokio::spawn(async move {
        loop {
            match crate::process_generate_jobs(&consumer_state, POLL, &crate::Shutdown::default())
                .await
            {
                Ok(pass) => {
                    for failed in pass.retrying {
                        // The watcher is gone only once the demo is over.
                        let _ = retries.send(failed);
                    }
                }
                Err(e) => return e,
            }
        }
    });
    let result = watch(
        state,
        &bars,
        requested,
        &mut consumer,
        &mut retrying,
        deadline,
    )
    .await;
    consumer.abort();
    for bar in &bars {
        if !bar.is_finished() {
            give_up(bar, "stopped");
        }
    }
    result
}

async fn watch(
    state: &AppState,
    bars: &[ProgressBar],
    requested: &[Output],
    consumer: &mut tokio::task::JoinHandle<recap_domain::Error>,
    retrying: &mut tokio::sync::mpsc::UnboundedReceiver<(Option<OutputId>, String)>,
    deadline: tokio::time::Instant,
) -> anyhow::Result<Vec<Watched>> {
    let records = state.records.as_ref();
    let mut failed_jobs: HashMap<OutputId, String> = HashMap::new();
    loop {
        while let Ok((id, why)) = retrying.try_recv() {
            if let Some(id) = id {
                failed_jobs.insert(id, why);
            }
        }
        let mut outputs = Vec::with_capacity(requested.len());
        for (r, bar) in requested.iter().zip(bars) {
            let o = generation::get(records, &r.tenant, &r.id).await?;
            let finished = matches!(o.status, OutputStatus::Done | OutputStatus::Failed);
            let retry = failed_jobs.get(&o.id).filter(|_| !finished).cloned();
            if let (Some(why), false) = (&retry, bar.is_finished()) {
                give_up(bar, format!("failed for now, back in the queue: {why}"));
            }
            if !bar.is_finished() {
                match o.status {
                    OutputStatus::Queued => bar.set_message("queued"),
                    OutputStatus::Running => {
                        bar.set_message(format!("running on {}/{}", o.provider, o.model))
                    }
                    OutputStatus::Done => bar.finish_with_message(format!(
                        "done: {} credits, {} quotes verified",
                        o.cost_credits.unwrap_or_default(),
                        o.verified_quotes
                    )),
                    OutputStatus::Failed => give_up(
                        bar,
                        format!(
                            "failed: {}",
                            o.failure.as_deref().unwrap_or("no reason given")
                        ),
                    ),
                }
            }
            outputs.push((o, retry));
        }
        if outputs.iter().all(|(o, retry)| {
            retry.is_some() || matches!(o.status, OutputStatus::Done | OutputStatus::Failed)
        }) {
            return Ok(outputs);
        }
        if consumer.is_finished() {
            return Err(match consumer.await {
                Ok(e) => anyhow::Error::new(e).context("the generate consumer stopped"),
                Err(e) => anyhow::Error::new(e).context("the generate consumer stopped"),
            });
        }
        if tokio::time::Instant::now() >= deadline {
            let waiting: Vec<&str> = outputs
                .iter()
                .filter(|(o, retry)| {
                    retry.is_none()
                        && !matches!(o.status, OutputStatus::Done | OutputStatus::Failed)
                })
                .map(|(o, _)| o.output_type.as_str())
                .collect();
            bail!(
                "gave up waiting for {}; `recap serve` on the same data directory finishes them",
                waiting.join(", ")
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Copies an output's rendered files out of the store into `{out}/{output type}/`.
async fn write_files(state: &AppState, o: &Output, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = out.join(&o.output_type);
    if !o.files.is_empty() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut written = Vec::with_capacity(o.files.len());
    for f in &o.files {
        // Names are the renderers' own (`output.md`); anything else is not written out.
        if Path::new(&f.name).file_name() != Some(f.name.as_ref()) {
            bail!("the {} output names a file {:?}", o.output_type, f.name);
        }
        let Some((bytes, _)) = state.files.get(&f.key).await? else {
            bail!(
                "the {} output's file {} is missing from the store",
                o.output_type,
                f.name
            );
        };
        let path = dir.join(&f.name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Micro-USD as dollars, without floats.
fn usd(micro: u64) -> String {
    format!("${}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// Prints what the demo made: the transcript, then one row per output with its cost.
pub fn print_report(report: &DemoReport, out: &mut impl Write) -> std::io::Result<()> {
    let tr = &report.transcript;
    writeln!(
        out,
        "Transcript {} \"{}\": {}, {}, {}, {}",
        tr.id,
        tr.title,
        tr.format.map(|f| f.label()).unwrap_or("transcript"),
        counted(tr.segment_count.unwrap_or_default(), "segment"),
        counted(tr.speakers.len() as u64, "speaker"),
        duration(tr.duration_ms.unwrap_or_default()),
    )?;
    writeln!(out)?;
    let header = ["OUTPUT", "STATUS", "CREDITS", "COST", "QUOTES", "FILES"];
    let rows: Vec<[String; 6]> = report
        .outputs
        .iter()
        .map(|r| {
            let o = &r.output;
            let files: Vec<String> = r
                .written
                .iter()
                .map(|p| {
                    p.strip_prefix(&report.out_dir)
                        .unwrap_or(p)
                        .display()
                        .to_string()
                })
                .collect();
            [
                o.output_type.clone(),
                match o.status {
                    OutputStatus::Done => "done",
                    OutputStatus::Failed => "failed",
                    _ if r.retrying.is_some() => "retrying",
                    OutputStatus::Queued => "queued",
                    OutputStatus::Running => "running",
                }
                .to_string(),
                o.cost_credits.map_or_else(|| "-".into(), |c| c.to_string()),
                o.cost_micro_usd.map_or_else(|| "-".into(), usd),
                format!(
                    "{} verified, {} dropped",
                    o.verified_quotes, o.dropped_quotes
                ),
                if files.is_empty() {
                    "-".into()
                } else {
                    files.join(" ")
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s
    };
    writeln!(out, "{}", line(&header))?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    let credits: u64 = report
        .outputs
        .iter()
        .filter_map(|r| r.output.cost_credits)
        .sum();
    let micro: u64 = report
        .outputs
        .iter()
        .filter_map(|r| r.output.cost_micro_usd)
        .sum();
    writeln!(out)?;
    writeln!(out, "Total: {credits} credits ({})", usd(micro))?;
    for r in &report.outputs {
        if r.output.status == OutputStatus::Failed {
            writeln!(
                out,
                "{} failed: {}",
                r.output.output_type,
                r.output.failure.as_deref().unwrap_or("no reason given")
            )?;
        } else if let Some(why) = &r.retrying {
            writeln!(
                out,
                "{} failed for now: {why}; its job is back in the queue, and `recap serve` on the same data directory tries it again within {} minutes",
                r.output.output_type,
                crate::GENERATE_VISIBILITY.as_secs() / 60
            )?;
        }
    }
    let files: usize = report.outputs.iter().map(|r| r.written.len()).sum();
    writeln!(out, "Wrote {files} files to {}", report.out_dir.display())?;
    Ok(())
}

/// `1 segment`, `3 segments`.
fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_folder_is_named_after_the_file() {
        assert_eq!(
            default_out_dir(Path::new("/x/Réunion du 3 mars (final).vtt")),
            Path::new("recap-demo/Réunion_du_3_mars__final_")
        );
        assert_eq!(
            default_out_dir(Path::new("..")),
            Path::new("recap-demo/transcript")
        );
    }

    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(counted(1, "segment"), "1 segment");
        assert_eq!(counted(0, "speaker"), "0 speakers");
        assert_eq!(counted(22, "segment"), "22 segments");
    }

    #[test]
    fn dollars_from_micro_usd() {
        assert_eq!(usd(0), "$0.000000");
        assert_eq!(usd(2_100), "$0.002100");
        assert_eq!(usd(12_345_678), "$12.345678");
    }
}
