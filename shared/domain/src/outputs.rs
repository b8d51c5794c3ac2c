//! Output types, the offline generator, citation checks and renderers. Pure.
//!
//! Every item an output states cites the transcript: `segments` (segment ids) and a `quote`
//! that must appear in those segments' text, compared after lowercasing and removing
//! punctuation and extra whitespace. [`verify`] drops what it cannot find and counts it; the
//! code, never the model, turns segment ids into timestamps.

use std::collections::{BTreeMap, BTreeSet};

use recap_transcript::{Segment, Transcript as Normalized};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ONE_PAGER: &str = "one_pager";
pub const SLIDES: &str = "slides";
pub const BYTES: &str = "bytes";
pub const ANCHORS: &str = "anchors";
pub const ALL: [&str; 4] = [ONE_PAGER, SLIDES, BYTES, ANCHORS];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputType {
    pub key: String,
    pub name: String,
    pub instructions: String,
    pub json_schema: Value,
    pub default_max_output_tokens: u64,
    /// The files rendered for it: `markdown`, `html`, `marp`, `json`, `youtube`, `webvtt`.
    pub renderers: Vec<String>,
    pub builtin: bool,
}

fn cited() -> Value {
    json!({
        "type": "object",
        "required": ["text", "quote", "segments"],
        "properties": {
            "text": {"type": "string"},
            "quote": {"type": "string", "description": "words copied exactly from the cited segments"},
            "segments": {"type": "array", "items": {"type": "string"}, "minItems": 1}
        }
    })
}

/// How every item cites the transcript.
pub const CITATION_RULES: &str = "Cite every item: `segments` are the ids (s0001…) of the segments it comes from, and `quote` is a short passage copied word for word from them. Do not invent quotes.";

/// One schema for every output type: an object with one optional property per type. Every
/// request for a transcript sends this same schema (providers place it before the transcript
/// in what they cache), and the instructions, after the transcript, say which property to fill.
pub fn envelope_schema() -> Value {
    let mut properties = serde_json::Map::new();
    for t in builtins() {
        properties.insert(t.key.clone(), t.json_schema.clone());
    }
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

/// The built-in output types.
pub fn builtins() -> Vec<OutputType> {
    let rules = CITATION_RULES;
    let t = |key: &str, name: &str, what: &str, schema: Value, max: u64, renderers: &[&str]| {
        OutputType {
            key: key.into(),
            name: name.into(),
            instructions: format!("{what} {rules}"),
            json_schema: schema,
            default_max_output_tokens: max,
            renderers: renderers.iter().map(|r| r.to_string()).collect(),
            builtin: true,
        }
    };
    vec![
        t(
            ONE_PAGER,
            "One-pager",
            "Write a one-page summary: a title, a short summary, the key points, and the action items.",
            json!({"type": "object", "required": ["title", "summary", "key_points", "action_items"], "properties": {
              "title": {"type": "string"}, "summary": {"type": "string"},
              "key_points": {"type": "array", "items": cited()}, "action_items": {"type": "array", "items": cited()}}}),
            2_000,
            &["markdown", "html"],
        ),
        t(
            SLIDES,
            "Slides",
            "Write a short slide deck: a title and slides of at most four bullets each.",
            json!({"type": "object", "required": ["title", "slides"], "properties": {
              "title": {"type": "string"},
              "slides": {"type": "array", "items": {"type": "object", "required": ["title", "bullets"], "properties": {
                  "title": {"type": "string"}, "bullets": {"type": "array", "items": cited()}}}}}}),
            4_000,
            &["marp", "html"],
        ),
        t(
            BYTES,
            "Bytes",
            "Pick the most quotable short moments: each a title and its exact quote.",
            json!({"type": "object", "required": ["bytes"], "properties": {"bytes": {"type": "array", "items": cited()}}}),
            2_000,
            &["json", "markdown"],
        ),
        t(
            ANCHORS,
            "Anchors",
            "Divide the transcript into chapters (a title and the segment each starts at) and name its key moments.",
            json!({"type": "object", "required": ["chapters", "key_moments"], "properties": {
              "chapters": {"type": "array", "items": {"type": "object", "required": ["title", "segment"], "properties": {
                  "title": {"type": "string"}, "segment": {"type": "string"}}}},
              "key_moments": {"type": "array", "items": cited()}}}),
            2_000,
            &["youtube", "webvtt"],
        ),
    ]
}

pub fn builtin(key: &str) -> Option<OutputType> {
    builtins().into_iter().find(|t| t.key == key)
}

/// Words that say little about what a segment is about.
const STOP: &[&str] = &[
    "the", "a", "an", "and", "or", "but", "if", "of", "to", "in", "on", "at", "for", "with", "is",
    "are", "was", "were", "be", "been", "it", "this", "that", "these", "those", "i", "you", "we",
    "they", "he", "she", "so", "um", "uh", "yeah", "like", "just", "do", "did", "have", "has",
    "not", "no", "yes", "my", "our", "your", "what", "there", "here", "as", "from", "by", "me",
    "can", "all", "about", "know", "think", "okay", "ok", "right", "well", "really", "going",
    "get", "got", "one", "would", "will", "could", "its", "it's", "i'm", "that's", "don't",
];

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() > 2 && !STOP.contains(&w.as_str()))
}

/// Words in more than a quarter of the segments carry little, whatever the language ("que",
/// "the"): they are left out of scores and titles.
fn common_words(segments: &[Segment]) -> BTreeSet<String> {
    let mut df: BTreeMap<String, usize> = BTreeMap::new();
    for s in segments {
        let unique: BTreeSet<String> = words(&s.text).collect();
        for w in unique {
            *df.entry(w).or_default() += 1;
        }
    }
    let limit = (segments.len() / 4).max(3);
    df.into_iter()
        .filter(|(_, n)| *n > limit)
        .map(|(w, _)| w)
        .collect()
}

/// Scores segments by how much of what the whole transcript talks about they carry: the sum of
/// their content words' frequencies, over the square root of their length (so long rambles
/// do not win by size alone). Deterministic; ties go to the earlier segment.
pub fn rank(segments: &[Segment]) -> Vec<usize> {
    let common = common_words(segments);
    let content =
        |text: &str| -> Vec<String> { words(text).filter(|w| !common.contains(w)).collect() };
    let mut freq: BTreeMap<String, u64> = BTreeMap::new();
    for s in segments {
        for w in content(&s.text) {
            *freq.entry(w).or_default() += 1;
        }
    }
    let mut scored: Vec<(u64, usize)> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ws = content(&s.text);
            let sum: u64 = ws.iter().map(|w| freq.get(w).copied().unwrap_or(0)).sum();
            // Integer score: sum × 1000 / ceil(sqrt(len)).
            let len = ws.len().max(1) as u64;
            (sum * 1000 / len.isqrt().max(1), i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| i).collect()
}

/// The first sentence of a text, at most `max` characters, cut at a word.
fn excerpt(text: &str, max: usize) -> String {
    let sentence = text
        .find(['.', '?', '!'])
        .map(|i| &text[..=i])
        .filter(|s| s.split_whitespace().count() >= 4)
        .unwrap_or(text);
    if sentence.chars().count() <= max {
        return sentence.trim().to_string();
    }
    let mut out = String::new();
    for w in sentence.split_whitespace() {
        if out.chars().count() + w.chars().count() + 1 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn item(s: &Segment, max: usize) -> Value {
    let quote = excerpt(&s.text, max);
    json!({"text": quote, "quote": quote, "segments": [s.id]})
}

/// The top `n` segments, in the order they were said.
fn top(t: &Normalized, ranked: &[usize], n: usize) -> Vec<usize> {
    let mut picked: Vec<usize> = ranked
        .iter()
        .copied()
        .filter(|&i| t.segments[i].text.split_whitespace().count() >= 3)
        .take(n)
        .collect();
    picked.sort_unstable();
    picked
}

/// The offline generator: extractive and deterministic, no network. Every item quotes its
/// segment word for word, so every citation verifies.
pub fn offline(kind: &str, title: &str, t: &Normalized) -> Option<Value> {
    let ranked = rank(&t.segments);
    let segs = &t.segments;
    Some(match kind {
        ONE_PAGER => {
            let summary: Vec<String> = top(t, &ranked, 3)
                .iter()
                .map(|&i| excerpt(&segs[i].text, 200))
                .collect();
            let actions: Vec<Value> = segs
                .iter()
                .filter(|s| {
                    let l = s.text.to_lowercase();
                    [
                        "we need to",
                        "we will",
                        "we'll",
                        "i will",
                        "i'll",
                        "let's",
                        "action",
                        "next step",
                        "follow up",
                        "to do",
                    ]
                    .iter()
                    .any(|k| l.contains(k))
                })
                .take(5)
                .map(|s| item(s, 160))
                .collect();
            json!({
                "title": title,
                "summary": summary.join(" "),
                "key_points": top(t, &ranked, 5).iter().map(|&i| item(&segs[i], 200)).collect::<Vec<_>>(),
                "action_items": actions,
            })
        }
        SLIDES => {
            let parts = 4.min(segs.len()).max(1);
            let per = segs.len().div_ceil(parts);
            let slides: Vec<Value> = segs
                .chunks(per.max(1))
                .map(|chunk| {
                    let ranked = rank(chunk);
                    let mut picked: Vec<usize> = ranked.into_iter().take(3).collect();
                    picked.sort_unstable();
                    let heading = keywords(chunk, segs, 3).join(", ");
                    json!({
                        "title": if heading.is_empty() { "Discussion".to_string() } else { capitalize(&heading) },
                        "bullets": picked.iter().map(|&i| item(&chunk[i], 140)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({"title": title, "slides": slides})
        }
        BYTES => {
            json!({"bytes": top(t, &ranked, 5).iter().map(|&i| item(&segs[i], 280)).collect::<Vec<_>>()})
        }
        ANCHORS => {
            let chapters = chapter_starts(t)
                .into_iter()
                .map(|(start, end)| {
                    let words = keywords(&segs[start..end], segs, 3).join(", ");
                    json!({"title": if words.is_empty() { "Chapter".to_string() } else { capitalize(&words) }, "segment": segs[start].id})
                })
                .collect::<Vec<_>>();
            json!({"chapters": chapters, "key_moments": top(t, &ranked, 3).iter().map(|&i| item(&segs[i], 200)).collect::<Vec<_>>()})
        }
        _ => return None,
    })
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The words that set some segments apart from the whole transcript: frequent here, rare
/// elsewhere (term frequency over document frequency).
fn keywords(part: &[Segment], all: &[Segment], n: usize) -> Vec<String> {
    let common = common_words(all);
    let mut df: BTreeMap<String, u64> = BTreeMap::new();
    for s in all {
        let unique: BTreeSet<String> = words(&s.text).collect();
        for w in unique {
            *df.entry(w).or_default() += 1;
        }
    }
    let mut tf: BTreeMap<String, u64> = BTreeMap::new();
    for s in part {
        for w in words(&s.text).filter(|w| !common.contains(w)) {
            *tf.entry(w).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = tf
        .into_iter()
        .filter(|(_, c)| *c >= 2)
        .map(|(w, c)| {
            let d = df.get(&w).copied().unwrap_or(1).max(1);
            (w, c * 1000 / d)
        })
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(n).map(|(w, _)| w).collect()
}

/// Chapters of roughly equal length, each at least [`MIN_CHAPTER_MS`] apart: index ranges.
fn chapter_starts(t: &Normalized) -> Vec<(usize, usize)> {
    let n = t.segments.len();
    if n == 0 {
        return vec![];
    }
    let wanted = (t.duration_ms / (5 * 60_000)).clamp(3, 10) as usize;
    let per = n.div_ceil(wanted).max(1);
    let mut starts = vec![0usize];
    let mut i = per;
    while i < n {
        let last = t.segments[*starts.last().unwrap_or(&0)].start_ms;
        if t.segments[i].start_ms >= last + MIN_CHAPTER_MS {
            starts.push(i);
            i += per;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        out.push((s, starts.get(k + 1).copied().unwrap_or(n)));
    }
    out
}

/// YouTube wants chapters at least 10 s apart.
pub const MIN_CHAPTER_MS: u64 = 10_000;

/// Lowercase, punctuation removed, whitespace collapsed.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for w in text
        .split(|c: char| c.is_whitespace() || (!c.is_alphanumeric() && c != '\''))
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(
            w.chars()
                .filter(|c| *c != '\'')
                .flat_map(char::to_lowercase),
        );
    }
    out
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub verified_quotes: u64,
    pub dropped_quotes: u64,
}

/// Checks every cited item of a result against the transcript: its segments must exist and its
/// quote must appear in their text. Items that fail are removed and counted; items that pass
/// get `start_ms` and `end_ms` from their segments. Chapters that name no segment are dropped.
pub fn verify(result: &mut Value, t: &Normalized) -> Verification {
    let by_id: BTreeMap<&str, &Segment> = t.segments.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut v = Verification::default();
    check(result, &by_id, &mut v);
    v
}

fn check(node: &mut Value, by_id: &BTreeMap<&str, &Segment>, v: &mut Verification) {
    match node {
        Value::Object(map) => {
            for (_, child) in map.iter_mut() {
                check(child, by_id, v);
            }
            // A chapter: a title and one segment.
            if let Some(Value::String(id)) = map.get("segment")
                && !map.contains_key("quote")
                && let Some(s) = by_id.get(id.as_str())
            {
                map.insert("start_ms".into(), s.start_ms.into());
            }
        }
        Value::Array(items) => {
            items.retain_mut(|child| {
                let Some(obj) = child.as_object_mut() else {
                    return true;
                };
                if let Some(quote) = obj.get("quote").and_then(Value::as_str) {
                    let ids: Vec<&str> = obj
                        .get("segments")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let found: Vec<&&Segment> = ids.iter().filter_map(|id| by_id.get(id)).collect();
                    let text = found
                        .iter()
                        .map(|s| s.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    let q = normalize(quote);
                    let ok = !found.is_empty()
                        && found.len() == ids.len()
                        && !q.is_empty()
                        && normalize(&text).contains(&q);
                    if !ok {
                        v.dropped_quotes += 1;
                        return false;
                    }
                    v.verified_quotes += 1;
                    let start = found.iter().map(|s| s.start_ms).min().unwrap_or(0);
                    let end = found.iter().map(|s| s.end_ms).max().unwrap_or(start);
                    obj.insert("start_ms".into(), start.into());
                    obj.insert("end_ms".into(), end.into());
                    return true;
                }
                if obj.contains_key("segment") && !obj.contains_key("quote") {
                    let known = obj
                        .get("segment")
                        .and_then(Value::as_str)
                        .is_some_and(|id| by_id.contains_key(id));
                    if !known {
                        v.dropped_quotes += 1;
                        return false;
                    }
                }
                true
            });
            for child in items.iter_mut() {
                check(child, by_id, v);
            }
        }
        _ => {}
    }
}

/// `h:mm:ss` or `m:ss`, as YouTube writes chapter times.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// YouTube chapters: the first at 0:00, at least three, each at least 10 s after the one
/// before, ascending. `None` when the chapters cannot meet those rules.
pub fn youtube_chapters(result: &Value) -> Option<String> {
    let chapters = result.get("chapters")?.as_array()?;
    let mut lines = Vec::new();
    let mut last: Option<u64> = None;
    for (i, c) in chapters.iter().enumerate() {
        let start = if i == 0 {
            0
        } else {
            c.get("start_ms")?.as_u64()?
        };
        if let Some(prev) = last
            && start < prev + MIN_CHAPTER_MS
        {
            continue;
        }
        last = Some(start);
        let title = c.get("title").and_then(Value::as_str).unwrap_or("Chapter");
        lines.push(format!("{} {}", clock(start), title.replace('\n', " ")));
    }
    (lines.len() >= 3).then(|| lines.join("\n"))
}

fn vtt_time(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn cite(item: &Value, media_url: Option<&str>) -> String {
    let at = item.get("start_ms").and_then(Value::as_u64).unwrap_or(0);
    let stamp = clock(at);
    match media_url {
        Some(u) => format!("[{stamp}]({u}?t={})", at / 1000),
        None => format!("[{stamp}]"),
    }
}

fn text_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// The rendered files of a verified result: `(file name, media type, body)`.
pub fn render(kind: &str, result: &Value, t: &Normalized) -> Vec<(String, String, String)> {
    let md = |s: String| ("output.md".to_string(), "text/markdown".to_string(), s);
    let html = |title: &str, body: String| {
        (
            "output.html".to_string(),
            "text/html".to_string(),
            format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{body}</body></html>",
                html_escape(title)
            ),
        )
    };
    match kind {
        ONE_PAGER => {
            let title = text_of(result, "title");
            let mut m = format!(
                "# {title}\n\n{}\n\n## Key points\n\n",
                text_of(result, "summary")
            );
            let mut h = format!(
                "<h1>{}</h1><p>{}</p><h2>Key points</h2><ul>",
                html_escape(&title),
                html_escape(&text_of(result, "summary"))
            );
            for p in items(result, "key_points") {
                m.push_str(&format!("- {} {}\n", text_of(p, "text"), cite(p, None)));
                h.push_str(&format!(
                    "<li>{} <small>{}</small></li>",
                    html_escape(&text_of(p, "text")),
                    cite(p, None)
                ));
            }
            m.push_str("\n## Action items\n\n");
            h.push_str("</ul><h2>Action items</h2><ul>");
            for p in items(result, "action_items") {
                m.push_str(&format!("- [ ] {} {}\n", text_of(p, "text"), cite(p, None)));
                h.push_str(&format!(
                    "<li>{} <small>{}</small></li>",
                    html_escape(&text_of(p, "text")),
                    cite(p, None)
                ));
            }
            h.push_str("</ul>");
            vec![md(m), html(&title, h)]
        }
        SLIDES => {
            let title = text_of(result, "title");
            let mut m = format!("---\nmarp: true\n---\n\n# {title}\n");
            let mut h = format!("<section><h1>{}</h1></section>", html_escape(&title));
            for s in items(result, "slides") {
                m.push_str(&format!("\n---\n\n## {}\n\n", text_of(s, "title")));
                h.push_str(&format!(
                    "<section><h2>{}</h2><ul>",
                    html_escape(&text_of(s, "title"))
                ));
                for b in items(s, "bullets") {
                    m.push_str(&format!("- {} {}\n", text_of(b, "text"), cite(b, None)));
                    h.push_str(&format!("<li>{}</li>", html_escape(&text_of(b, "text"))));
                }
                h.push_str("</ul></section>");
            }
            vec![
                ("slides.marp.md".into(), "text/markdown".into(), m),
                html(&title, h),
            ]
        }
        BYTES => {
            let mut m = String::from("# Bytes\n\n");
            for b in items(result, "bytes") {
                m.push_str(&format!(
                    "> {}\n>\n> {}\n\n",
                    text_of(b, "quote"),
                    cite(b, Some("MEDIA_URL"))
                ));
            }
            vec![
                (
                    "bytes.json".into(),
                    "application/json".into(),
                    serde_json::to_string_pretty(result).unwrap_or_default(),
                ),
                md(m),
            ]
        }
        ANCHORS => {
            let mut files = Vec::new();
            if let Some(yt) = youtube_chapters(result) {
                files.push(("chapters.txt".into(), "text/plain".into(), yt));
            }
            let mut vtt = String::from("WEBVTT\n\n");
            let chapters: Vec<&Value> = items(result, "chapters").collect();
            for (i, c) in chapters.iter().enumerate() {
                let start = if i == 0 {
                    0
                } else {
                    c.get("start_ms").and_then(Value::as_u64).unwrap_or(0)
                };
                let end = chapters
                    .get(i + 1)
                    .and_then(|n| n.get("start_ms"))
                    .and_then(Value::as_u64)
                    .unwrap_or(t.duration_ms.max(start + 1));
                vtt.push_str(&format!(
                    "{}\n{} --> {}\n{}\n\n",
                    i + 1,
                    vtt_time(start),
                    vtt_time(end.max(start + 1)),
                    text_of(c, "title")
                ));
            }
            files.push(("chapters.vtt".into(), "text/vtt".into(), vtt));
            files
        }
        _ => vec![],
    }
}

/// Segment ids the result cites (for coverage).
pub fn cited_segments(result: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    match (k.as_str(), c) {
                        ("segments", Value::Array(a)) => {
                            out.extend(a.iter().filter_map(Value::as_str).map(str::to_string))
                        }
                        ("segment", Value::String(s)) => {
                            out.insert(s.clone());
                        }
                        _ => walk(c, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(result, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chapters(starts: &[u64]) -> Value {
        json!({"chapters": starts.iter().enumerate().map(|(i, s)| json!({"title": format!("Part {i}"), "segment": "s0001", "start_ms": s})).collect::<Vec<_>>()})
    }

    #[test]
    fn youtube_chapter_rules() {
        // The first is at 0:00 whatever its segment's time; too-close ones are skipped.
        let c = youtube_chapters(&chapters(&[2_000, 65_000, 70_000, 3_725_000])).unwrap();
        assert_eq!(c, "0:00 Part 0\n1:05 Part 1\n1:02:05 Part 3");
        // Fewer than three after the rules: none at all.
        assert_eq!(youtube_chapters(&chapters(&[0, 5_000, 9_000])), None);
        assert_eq!(youtube_chapters(&chapters(&[0, 30_000])), None);
    }

    #[test]
    fn quotes_compare_without_case_punctuation_or_spacing() {
        assert_eq!(
            normalize("  Well,  we're SO proud — of you!"),
            "well were so proud of you"
        );
        assert!(
            normalize("Jessica, Christina, we are so proud of you.")
                .contains(&normalize("we are SO proud of you"))
        );
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(3_725_000), "1:02:05");
    }
}
