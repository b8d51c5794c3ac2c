//! Transcripts: the record, ingestion (upload or inline content, then the upload trigger), and
//! the use cases behind the transcripts API.
//!
//! Life of a transcript: `POST /transcripts` writes the record (`awaiting_upload`, or
//! `processing` with inline content, which is written to the files port at once). Every file
//! written under `{t}/uploads/{id}/` fires the upload trigger ([`ingest`]): in AWS an S3 event
//! to `on-upload`, locally the embedded store's event queue. The trigger parses, stores the
//! normalized transcript, and marks the record `ready` or `failed` (with a reason a person can
//! act on; the raw upload is kept). S3's `sequencer` makes duplicate and out-of-order events
//! do nothing; the record's `version` makes concurrent deliveries write once.

use std::collections::BTreeMap;
use std::time::Duration;

use recap_transcript::{self as parser, Format, Mode, ParseOptions, TokenizerFamily};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::{self, Access, Need, Scope};
use crate::clock::{Clock, IdGen, Timestamp};
use crate::error::{Conflict, Error, Result};
use crate::files::{FileKey, Files, Presigned, UploadPolicy};
use crate::ids::{TeamId, TenantId, TranscriptId, UserId};
use crate::keys;
use crate::records::{
    Condition, Index, Item, Query, Records, Update, from_item, to_item, to_value,
};
use crate::roles::Permission;
use crate::transcript_types;
use crate::uploads::{ObjectCreated, compare_sequencers};

/// Inline `content` up to this many bytes.
pub const MAX_INLINE_BYTES: usize = 1_000_000;
/// Uploads up to this many bytes (the presigned URL is signed for the exact size asked).
pub const MAX_UPLOAD_BYTES: u64 = 25 * 1024 * 1024;
/// Longest transcript accepted: 12 hours.
pub const MAX_DURATION_MS: u64 = 12 * 3600 * 1000;
pub const MAX_SEGMENTS: usize = 100_000;
/// The warnings kept on the record; the normalized transcript keeps them all.
pub const MAX_RECORD_WARNINGS: usize = 50;
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);
pub const DOWNLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The output types generation knows (issue: generation); checked when requested.
pub const OUTPUT_TYPES: &[&str] = &["one_pager", "slides", "bytes", "anchors"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    AwaitingUpload,
    Processing,
    Ready,
    Failed,
    Deleting,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingUpload => "awaiting_upload",
            Status::Processing => "processing",
            Status::Ready => "ready",
            Status::Failed => "failed",
            Status::Deleting => "deleting",
        }
    }

    pub fn parse(s: &str) -> Result<Status> {
        serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
            Error::validation(
                "status",
                "must be one of awaiting_upload, processing, ready, failed",
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Source {
    pub key: FileKey,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpeakerView {
    pub id: String,
    pub name: String,
}

/// A transcript's record. Its segments live in the normalized file, never here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transcript {
    pub id: TranscriptId,
    pub tenant: TenantId,
    pub owner: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default)]
    pub output_types: Vec<String>,
    pub status: Status,
    /// Why processing failed, in words a person can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_count: Option<u64>,
    /// Speakers as found, with the names users gave them applied.
    #[serde(default)]
    pub speakers: Vec<SpeakerView>,
    /// Display names users gave speakers, by speaker id. Stored segments are never rewritten.
    #[serde(default)]
    pub speaker_names: BTreeMap<String, String>,
    /// The segments' text in OpenAI's `o200k_base`, counted when the upload is parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_estimate: Option<u64>,
    /// At most this many more tokens frame the segments in a prompt (each line's
    /// `[id time] speaker: ` and newline): with `token_estimate`, what a model reads of the
    /// transcript. Absent on transcripts parsed before it was kept (counted as 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing_tokens: Option<u64>,
    #[serde(default)]
    pub warnings: Vec<parser::Warning>,
    #[serde(default)]
    pub warning_count: u64,
    /// The outputs named at creation: `requested` once the upload is ready, then `queued`
    /// (see the transcript's outputs) or `failed` (with `generation_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    /// Why the outputs named at creation could not be requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_error: Option<String>,
    /// The S3 sequencer of the upload last processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Transcript {
    /// What a model reads of the transcript, in tokens: its text and the framing of its lines.
    pub fn prompt_tokens(&self) -> u64 {
        self.token_estimate
            .unwrap_or_default()
            .saturating_add(self.framing_tokens.unwrap_or_default())
    }

    /// The speakers with users' display names applied.
    pub fn speakers_named(&self) -> Vec<SpeakerView> {
        self.speakers
            .iter()
            .map(|s| SpeakerView {
                id: s.id.clone(),
                name: self
                    .speaker_names
                    .get(&s.id)
                    .cloned()
                    .unwrap_or_else(|| s.name.clone()),
            })
            .collect()
    }
}

/// The ports the transcript use cases need.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub records: &'a dyn Records,
    pub files: &'a dyn Files,
    pub clock: &'a dyn Clock,
    pub ids: &'a dyn IdGen,
}

fn item_of(t: &Transcript) -> Result<Item> {
    let mut item = to_item(&keys::transcript(&t.tenant, &t.id), t)?;
    let g1 = keys::transcripts_index(&t.tenant, &t.id);
    let g2 = keys::transcripts_by_status(&t.tenant, t.status.as_str(), &t.id);
    item.insert("entity".into(), "transcript".into());
    item.insert("gsi1pk".into(), g1.pk.into());
    item.insert("gsi1sk".into(), g1.sk.into());
    item.insert("gsi2pk".into(), g2.pk.into());
    item.insert("gsi2sk".into(), g2.sk.into());
    Ok(item)
}

/// What `POST /transcripts` takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTranscript {
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub sub_type: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub output_types: Vec<String>,
    pub team: Option<String>,
    /// Inline text (up to [`MAX_INLINE_BYTES`]); without it, the answer carries an upload URL.
    pub content: Option<String>,
    /// For an upload: the exact size of the file, the file's name and media type.
    pub size_bytes: Option<u64>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
}

/// The created record, and the upload URL when the content is to be uploaded.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Created {
    #[serde(flatten)]
    pub transcript: Transcript,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<Presigned>,
}

fn check_title(t: &str) -> Result<String> {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > 300 {
        return Err(Error::validation("title", "must be 1-300 characters"));
    }
    crate::text::check_display("title", t, false)?;
    Ok(t.to_string())
}

fn check_language(l: &str) -> Result<String> {
    let ok = (2..=35).contains(&l.len())
        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && l.starts_with(|c: char| c.is_ascii_alphabetic());
    if !ok {
        return Err(Error::validation(
            "language",
            "must be a language tag such as en or pt-BR",
        ));
    }
    Ok(l.to_string())
}

/// A file name as given, made safe for a key segment: no slashes or control characters.
fn clean_file_name(name: Option<&str>, default: &str) -> Result<String> {
    let Some(name) = name else {
        return Ok(default.to_string());
    };
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." || cleaned.len() > 200 {
        return Err(Error::validation(
            "file_name",
            "must be 1-200 bytes and not . or ..",
        ));
    }
    Ok(cleaned)
}

fn guess_content_type(file_name: &str) -> &'static str {
    let lower = file_name.to_ascii_lowercase();
    match lower.rsplit_once('.').map(|(_, e)| e) {
        Some("vtt") => "text/vtt",
        Some("srt") => "application/x-subrip",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        _ => "text/plain",
    }
}

/// Creates a transcript. With `content`, writes it to the files port (which fires the upload
/// trigger) and answers `processing`; otherwise answers `awaiting_upload` with a presigned
/// URL for exactly `size_bytes` bytes.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn create(p: Ports<'_>, a: &Access, input: NewTranscript) -> Result<Created> {
    let t = a.caller.tenant;
    let title = check_title(
        input
            .title
            .as_deref()
            .ok_or_else(|| Error::validation("title", "is required"))?,
    )?;
    let kind = input
        .kind
        .ok_or_else(|| Error::validation("type", "is required"))?;
    transcript_types::check_exists(p.records, &t, &kind, input.sub_type.as_deref()).await?;
    let language = input.language.as_deref().map(check_language).transpose()?;
    let mut output_types = Vec::new();
    for o in input.output_types {
        if !OUTPUT_TYPES.contains(&o.as_str()) {
            return Err(Error::validation(
                "output_types",
                format!(
                    "{o:?} is not an output type; known: {}",
                    OUTPUT_TYPES.join(", ")
                ),
            ));
        }
        if !output_types.contains(&o) {
            output_types.push(o);
        }
    }
    let team = match input.team.as_deref() {
        Some(s) => {
            let team =
                TeamId::parse(s).map_err(|_| Error::validation("team", "is not a team id"))?;
            crate::teams::get(p.records, &t, &team)
                .await
                .map_err(|e| match e {
                    Error::NotFound { .. } => Error::validation("team", "no such team"),
                    e => e,
                })?;
            Some(team)
        }
        None => None,
    };
    access::authorize(
        a,
        Need::Permission(Permission::TranscriptsWrite, Scope::Team),
        team.as_ref(),
    )?;
    let id = TranscriptId::from_uuid(p.ids.new_id());
    let now = p.clock.now();
    let (status, content, size_bytes, file_name) = match (input.content, input.size_bytes) {
        (Some(_), Some(_)) => {
            return Err(Error::validation(
                "content",
                "send either content or size_bytes (for an upload), not both",
            ));
        }
        (Some(c), None) => {
            if c.len() > MAX_INLINE_BYTES {
                return Err(Error::validation(
                    "content",
                    format!(
                        "is {} bytes; inline content is limited to {MAX_INLINE_BYTES} bytes, upload larger files (send size_bytes instead)",
                        c.len()
                    ),
                ));
            }
            if c.trim().is_empty() {
                return Err(Error::validation("content", "is empty"));
            }
            let name = clean_file_name(input.file_name.as_deref(), "content.txt")?;
            let size = c.len() as u64;
            (Status::Processing, Some(c.into_bytes()), size, name)
        }
        (None, Some(size)) => {
            if size == 0 {
                return Err(Error::validation(
                    "size_bytes",
                    "an upload must not be empty",
                ));
            }
            if size > MAX_UPLOAD_BYTES {
                return Err(Error::validation(
                    "size_bytes",
                    format!("{size} bytes is over the upload limit of {MAX_UPLOAD_BYTES} bytes"),
                ));
            }
            let name = clean_file_name(input.file_name.as_deref(), "transcript")?;
            (Status::AwaitingUpload, None, size, name)
        }
        (None, None) => {
            return Err(Error::validation(
                "content",
                "send the transcript as content, or size_bytes to get an upload URL",
            ));
        }
    };
    let content_type = input
        .content_type
        .unwrap_or_else(|| guess_content_type(&file_name).to_string());
    let key = keys::transcript_upload(&t, &id, &file_name)?;
    let transcript = Transcript {
        id,
        tenant: t,
        owner: a.caller.user,
        team,
        title,
        kind,
        sub_type: input.sub_type,
        language,
        output_types,
        status,
        failure: None,
        source: Source {
            key: key.clone(),
            file_name,
            content_type: content_type.clone(),
            size_bytes,
        },
        format: None,
        duration_ms: None,
        segment_count: None,
        speakers: Vec::new(),
        speaker_names: BTreeMap::new(),
        token_estimate: None,
        framing_tokens: None,
        warnings: Vec::new(),
        warning_count: 0,
        generation: None,
        generation_error: None,
        sequencer: None,
        version: 0,
        created_at: now,
        updated_at: now,
    };
    let upload = match &content {
        None => {
            let policy = UploadPolicy {
                expires_in: UPLOAD_URL_LIFETIME,
                content_length: size_bytes,
                max_bytes: MAX_UPLOAD_BYTES,
                content_type: content_type.clone(),
            };
            policy.validate()?;
            Some(p.files.presign_put(&key, &policy).await?)
        }
        Some(_) => None,
    };
    p.records
        .put(item_of(&transcript)?, vec![Condition::NotExists])
        .await?;
    if let Some(body) = content
        && let Err(e) = p.files.put(&key, body, &content_type).await
    {
        // The record must not stay `processing` for a file that was never written.
        let _ = fail(
            p,
            &transcript,
            "storing the content failed; send it again".into(),
            None,
        )
        .await;
        return Err(e);
    }
    Ok(Created { transcript, upload })
}

pub async fn get(records: &dyn Records, t: &TenantId, id: &TranscriptId) -> Result<Transcript> {
    match records.get(&keys::transcript(t, id)).await? {
        Some(item) => {
            let tr: Transcript = from_item(item)?;
            if tr.status == Status::Deleting {
                return Err(Error::not_found("transcript"));
            }
            Ok(tr)
        }
        None => Err(Error::not_found("transcript")),
    }
}

/// A transcript the caller may act on with `perm` (their tenant role, or their role in the
/// transcript's team).
pub async fn get_for(
    records: &dyn Records,
    a: &Access,
    id: &TranscriptId,
    perm: Permission,
) -> Result<Transcript> {
    let tr = get(records, &a.caller.tenant, id).await?;
    access::authorize(a, Need::Permission(perm, Scope::Team), tr.team.as_ref())?;
    Ok(tr)
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub kind: Option<String>,
    pub status: Option<Status>,
}

/// The caller's transcripts, newest first, filtered by type and status, and to those the
/// caller may read.
pub async fn list(
    records: &dyn Records,
    a: &Access,
    filter: &ListFilter,
    limit: u32,
    cursor: Option<String>,
) -> Result<(Vec<Transcript>, Option<String>)> {
    let t = &a.caller.tenant;
    let base = match filter.status {
        Some(s) => Query::partition(format!("{t}#TRANSCRIPTS#{}", s.as_str())).on(Index::Gsi2),
        None => Query::partition(keys::tenant_pk(t, "TRANSCRIPTS")).on(Index::Gsi1),
    }
    .descending()
    .limit(limit);
    let keep = |tr: &Transcript| {
        tr.status != Status::Deleting
            && filter.kind.as_deref().is_none_or(|k| tr.kind == k)
            && a.permissions_in(tr.team.as_ref())
                .contains(Permission::TranscriptsRead)
    };
    crate::records::query_filtered_page(records, base, cursor, limit, keep).await
}

/// What `PATCH /transcripts/{id}` takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TranscriptPatch {
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    pub sub_type: Option<Option<String>>,
    /// Display names by speaker id.
    pub speakers: Option<BTreeMap<String, String>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn update(
    records: &dyn Records,
    clock: &dyn Clock,
    a: &Access,
    id: &TranscriptId,
    patch: TranscriptPatch,
) -> Result<Transcript> {
    let tr = get_for(records, a, id, Permission::TranscriptsWrite).await?;
    let t = &a.caller.tenant;
    let mut update = Update::new();
    if let Some(title) = patch.title {
        update = update.set("title", check_title(&title)?);
    }
    let kind = patch.kind.clone().unwrap_or_else(|| tr.kind.clone());
    let sub_type = match &patch.sub_type {
        Some(s) => s.clone(),
        None => tr.sub_type.clone(),
    };
    if patch.kind.is_some() || patch.sub_type.is_some() {
        transcript_types::check_exists(records, t, &kind, sub_type.as_deref()).await?;
        update = update.set("type", kind);
        update = match sub_type {
            Some(s) => update.set("sub_type", s),
            None => update.remove("sub_type"),
        };
    }
    if let Some(names) = patch.speakers {
        let mut all = tr.speaker_names.clone();
        for (id, name) in names {
            if !tr.speakers.iter().any(|s| s.id == id) {
                return Err(Error::validation(
                    "speakers",
                    format!("{id:?} is not a speaker of this transcript"),
                ));
            }
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(Error::validation(
                    "speakers",
                    "names must be 1-100 characters",
                ));
            }
            crate::text::check_display("speakers", &name, false)?;
            all.insert(id, name);
        }
        update = update.set("speaker_names", to_value(&all)?);
    }
    if update.set.is_empty() && update.remove.is_empty() {
        return Ok(tr);
    }
    let update = update
        .set("updated_at", to_value(&clock.now())?)
        .add("version", 1);
    match records
        .update(
            &keys::transcript(t, id),
            update,
            vec![Condition::equals("version", tr.version)],
        )
        .await
    {
        Ok(item) => from_item(item),
        Err(e) if e.failed_write() == Some(0) => {
            Err(Conflict::State("the transcript changed meanwhile; read it again".into()).into())
        }
        Err(e) => Err(e),
    }
}

/// Deletes a transcript, its files and its outputs. The record is marked `deleting` first,
/// so a failure half-way is finished by calling again, and the upload trigger leaves it alone.
#[tracing::instrument(skip_all, fields(tenant = %a.caller.tenant))]
pub async fn delete(p: Ports<'_>, a: &Access, id: &TranscriptId) -> Result<()> {
    let t = &a.caller.tenant;
    let key = keys::transcript(t, id);
    let Some(item) = p.records.get(&key).await? else {
        return Err(Error::not_found("transcript"));
    };
    let tr: Transcript = from_item(item)?;
    access::authorize(
        a,
        Need::Permission(Permission::TranscriptsWrite, Scope::Team),
        tr.team.as_ref(),
    )?;
    if tr.status != Status::Deleting {
        let marking = set_status_index(Update::new(), t, id, Status::Deleting);
        p.records
            .update(&key, marking, vec![Condition::Exists])
            .await?;
    }
    // Its outputs go with it: reservations released, files and records deleted. A job still
    // running finds the transcript deleting and discards its output itself.
    crate::generation::discard_outputs_of(p.records, p.files, t, id).await?;
    for prefix in keys::transcript_file_prefixes(t, id) {
        loop {
            let page = p.files.list(&prefix, None, 1000).await?;
            if page.files.is_empty() {
                break;
            }
            for f in page.files {
                p.files.delete(&f.key).await?;
            }
        }
    }
    p.records.delete(&key, vec![]).await?;
    Ok(())
}

fn set_status_index(update: Update, t: &TenantId, id: &TranscriptId, s: Status) -> Update {
    let g2 = keys::transcripts_by_status(t, s.as_str(), id);
    update
        .set("status", s.as_str())
        .set("gsi2pk", g2.pk)
        .set("gsi2sk", g2.sk)
}

/// The normalized transcript, with users' speaker names applied.
pub async fn segments(p: Ports<'_>, tr: &Transcript) -> Result<parser::Transcript> {
    if tr.status != Status::Ready {
        return Err(Conflict::State(format!(
            "the transcript is {}; segments exist once it is ready",
            tr.status.as_str()
        ))
        .into());
    }
    let key = keys::normalized_transcript(&tr.tenant, &tr.id)?;
    let Some((bytes, _)) = p.files.get(&key).await? else {
        return Err(Error::unexpected(
            "a ready transcript has no normalized file",
            key.to_string(),
        ));
    };
    let mut normalized: parser::Transcript = serde_json::from_slice(&bytes)
        .map_err(|e| Error::unexpected("decoding a normalized transcript", e))?;
    for s in &mut normalized.speakers {
        if let Some(n) = tr.speaker_names.get(&s.id) {
            s.name = n.clone();
        }
    }
    Ok(normalized)
}

/// A short-lived URL for the normalized transcript (speaker names as parsed; the record has
/// the display names).
pub async fn download_url(p: Ports<'_>, tr: &Transcript) -> Result<Option<Presigned>> {
    if tr.status != Status::Ready {
        return Ok(None);
    }
    let key = keys::normalized_transcript(&tr.tenant, &tr.id)?;
    p.files
        .presign_get(&key, DOWNLOAD_URL_LIFETIME)
        .await
        .map(Some)
}

/// What the upload trigger did with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    Ready(TranscriptId),
    Failed(TranscriptId, String),
    /// Nothing to do, and why (not an upload, a duplicate or older event, a deleted transcript).
    Skipped(String),
}

enum Outcome {
    Ready(Box<parser::Transcript>),
    Failed(String),
}

/// The upload trigger: parses the uploaded file, stores the normalized transcript, and marks
/// the record. Safe to call twice with the same event, and with events out of order.
#[tracing::instrument(skip_all, fields(key = %event.key))]
pub async fn ingest(p: Ports<'_>, event: &ObjectCreated) -> Result<Ingested> {
    let Some((t, id)) = keys::parse_transcript_upload(&event.key) else {
        return Ok(Ingested::Skipped("not a transcript upload".into()));
    };
    for _attempt in 0..5 {
        let Some(item) = p.records.get(&keys::transcript(&t, &id)).await? else {
            return Ok(Ingested::Skipped("no such transcript".into()));
        };
        let tr: Transcript = from_item(item)?;
        if tr.source.key != event.key {
            return Ok(Ingested::Skipped("not this transcript's upload key".into()));
        }
        if tr.status == Status::Deleting {
            return Ok(Ingested::Skipped("the transcript is being deleted".into()));
        }
        // S3 always sends a sequencer; an event without one (some emulators) cannot be
        // ordered, so it is processed, which is safe, only not free.
        if let Some(done) = &tr.sequencer
            && !event.sequencer.is_empty()
            && compare_sequencers(&event.sequencer, done).is_le()
        {
            return Ok(Ingested::Skipped(
                "this upload (or a later one) was processed already".into(),
            ));
        }
        let outcome = if event.size > MAX_UPLOAD_BYTES {
            Outcome::Failed(format!(
                "the file is {} bytes, over the limit of {MAX_UPLOAD_BYTES} bytes",
                event.size
            ))
        } else {
            let Some((bytes, _)) = p.files.get(&event.key).await? else {
                return Ok(Ingested::Skipped("the upload is gone".into()));
            };
            parse_upload(&tr, &bytes)
        };
        match finish(p, &tr, outcome, Some(&event.sequencer)).await {
            Ok(done) => return Ok(done),
            // Another delivery or an edit changed the record: look again.
            Err(e) if e.failed_write() == Some(0) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Conflict::TransactionConflict.into())
}

fn parse_upload(tr: &Transcript, bytes: &[u8]) -> Outcome {
    if bytes.len() as u64 > MAX_UPLOAD_BYTES {
        return Outcome::Failed(format!(
            "the file is {} bytes, over the limit of {MAX_UPLOAD_BYTES} bytes",
            bytes.len()
        ));
    }
    let opts = ParseOptions {
        mode: Mode::Lenient,
        file_name: Some(&tr.source.file_name),
    };
    match parser::parse(bytes, &opts) {
        Err(e) => Outcome::Failed(e.to_string()),
        Ok(n) if n.segments.len() > MAX_SEGMENTS => Outcome::Failed(format!(
            "the transcript has {} segments, over the limit of {MAX_SEGMENTS}",
            n.segments.len()
        )),
        Ok(n) if n.duration_ms > MAX_DURATION_MS => Outcome::Failed(format!(
            "the transcript lasts {} minutes, over the limit of {} minutes",
            n.duration_ms / 60_000,
            MAX_DURATION_MS / 60_000
        )),
        Ok(mut n) => {
            // Counted once, here: the record's token estimate and generation's chunks for
            // OpenAI models both read these counts.
            n.count_openai_tokens();
            Outcome::Ready(Box::new(n))
        }
    }
}

/// Writes the outcome: the normalized file first, then the record, on the condition that the
/// record is the version that was read.
async fn finish(
    p: Ports<'_>,
    tr: &Transcript,
    outcome: Outcome,
    sequencer: Option<&str>,
) -> Result<Ingested> {
    match outcome {
        Outcome::Failed(reason) => fail(p, tr, reason, sequencer).await,
        Outcome::Ready(n) => ready(p, tr, &n, sequencer).await,
    }
}

/// Marks the record `failed` with `reason`. Its own function (not a branch of [`finish`]), so
/// that the API function, which calls it when storing inline content fails, does not link the
/// parsers' and tokenizer's side of `ready`.
async fn fail(
    p: Ports<'_>,
    tr: &Transcript,
    reason: String,
    sequencer: Option<&str>,
) -> Result<Ingested> {
    let update = set_status_index(
        outcome_update(p, sequencer)?,
        &tr.tenant,
        &tr.id,
        Status::Failed,
    )
    .set("failure", reason.clone());
    write_outcome(p, tr, update).await?;
    Ok(Ingested::Failed(tr.id, reason))
}

/// Stores the normalized transcript and marks the record `ready` with what it holds.
async fn ready(
    p: Ports<'_>,
    tr: &Transcript,
    n: &parser::Transcript,
    sequencer: Option<&str>,
) -> Result<Ingested> {
    let body = serde_json::to_vec(n).map_err(|e| Error::unexpected("encoding a transcript", e))?;
    p.files
        .put(
            &keys::normalized_transcript(&tr.tenant, &tr.id)?,
            body,
            "application/json",
        )
        .await?;
    let speakers: Vec<SpeakerView> = n
        .speakers
        .iter()
        .map(|s| SpeakerView {
            id: s.id.clone(),
            name: s.name.clone(),
        })
        .collect();
    let warnings: Vec<&parser::Warning> = n.warnings.iter().take(MAX_RECORD_WARNINGS).collect();
    let mut update = set_status_index(
        outcome_update(p, sequencer)?,
        &tr.tenant,
        &tr.id,
        Status::Ready,
    )
    .remove("failure")
    .set("format", to_value(&n.format)?)
    .set("duration_ms", n.duration_ms)
    .set("segment_count", n.segments.len() as u64)
    .set("speakers", to_value(&speakers)?)
    .set("token_estimate", n.token_estimate(TokenizerFamily::OpenAi))
    .set("framing_tokens", crate::generation::framing_tokens(n))
    .set("warnings", to_value(&warnings)?)
    .set("warning_count", n.warnings.len() as u64);
    if tr.language.is_none()
        && let Some(l) = &n.language
    {
        update = update.set("language", l.clone());
    }
    if !tr.output_types.is_empty() && tr.generation.is_none() {
        // Requested by the upload trigger right after (`generation::after_upload`), once: a
        // later upload of the same transcript (a PUT sent again) does not request them again.
        update = update.set("generation", "requested");
    }
    write_outcome(p, tr, update).await?;
    Ok(Ingested::Ready(tr.id))
}

/// What every outcome sets: the time, the next version and the event's sequencer.
fn outcome_update(p: Ports<'_>, sequencer: Option<&str>) -> Result<Update> {
    let now = to_value(&p.clock.now())?;
    let mut update = Update::new().set("updated_at", now).add("version", 1);
    if let Some(s) = sequencer.filter(|s| !s.is_empty()) {
        update = update.set("sequencer", s);
    }
    Ok(update)
}

async fn write_outcome(p: Ports<'_>, tr: &Transcript, update: Update) -> Result<()> {
    p.records
        .update(
            &keys::transcript(&tr.tenant, &tr.id),
            update,
            vec![Condition::equals("version", tr.version)],
        )
        .await?;
    Ok(())
}

/// The upload trigger's entry point: every created object of an S3 event notification,
/// ingested in turn. The first error stops it and is returned (the event is delivered again,
/// and what was done already is skipped then).
pub async fn on_upload_event(p: Ports<'_>, event_json: &[u8]) -> Result<Vec<Ingested>> {
    let mut done = Vec::new();
    for created in crate::uploads::parse_s3_event(event_json)? {
        let outcome = ingest(p, &created).await?;
        tracing::info!(key = %created.key, outcome = ?outcome, "upload processed");
        done.push(outcome);
    }
    Ok(done)
}
