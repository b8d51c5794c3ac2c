//! Token estimates and chunking on speaker turns.
//!
//! OpenAI models: exact counts with `o200k_base` (the encoding of GPT-4o, GPT-4.1, o-series
//! and GPT-5 models). Others (Anthropic, Gemini, anything else) publish no offline tokenizer;
//! the estimate is `ceil(ASCII chars / 4) + 1 per non-ASCII char`. Chars/4 is the usual rule of
//! thumb for English; counting every non-ASCII char as a token keeps CJK text (about one token
//! per character) from being underestimated, and errs high on accented Latin text. High is the
//! safe side: the estimate reserves credits and decides whether a transcript fits a window.
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::model::Transcript;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenizerFamily {
    /// `o200k_base`, counted exactly.
    OpenAi,
    /// Estimated (see the module docs).
    Anthropic,
    /// Estimated (see the module docs).
    Gemini,
    /// Estimated (see the module docs).
    Other,
}

fn o200k() -> Option<&'static tiktoken_rs::CoreBPE> {
    static BPE: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// The chars/4 estimate (see the module docs).
pub fn heuristic_tokens(text: &str) -> u64 {
    let ascii = text.bytes().filter(u8::is_ascii).count() as u64;
    let other = text.chars().filter(|c| !c.is_ascii()).count() as u64;
    ascii.div_ceil(4) + other
}

/// Tokens of `text` for a model family.
pub fn estimate_tokens(text: &str, family: TokenizerFamily) -> u64 {
    match (family, o200k()) {
        (TokenizerFamily::OpenAi, Some(bpe)) => bpe.encode_ordinary(text).len() as u64,
        // The embedded vocabulary failed to load (it cannot, short of a build problem):
        // estimate rather than fail.
        _ => heuristic_tokens(text),
    }
}

impl Transcript {
    /// The sum of the segments' text tokens. Prompt framing (ids, times, speaker labels) is
    /// the caller's to add.
    pub fn token_estimate(&self, family: TokenizerFamily) -> u64 {
        self.segments
            .iter()
            .map(|s| estimate_tokens(&s.text, family))
            .sum()
    }
}

/// A run of segments that fits a model's window: `first_segment..=last_segment` (indices into
/// [`Transcript::segments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub first_segment: usize,
    pub last_segment: usize,
    /// The segments' text tokens.
    pub tokens: u64,
}

/// Splits a transcript into chunks of at most `window_tokens`, cut between speaker turns (a
/// turn: consecutive segments with the same speaker). A turn longer than the window is cut
/// between its segments; a single segment longer than the window is a chunk of its own, with
/// `tokens` above the window (text is never cut). Each chunk after the first starts with the
/// previous chunk's last turns (or, if the last turn is too long, its last segments) that fit
/// in `overlap_tokens` (capped at half the window); the overlap shrinks where it would keep the
/// next turn from fitting whole. Every chunk brings at least one new segment.
/// A transcript that fits is one chunk; an empty one is none.
pub fn chunk(
    t: &Transcript,
    window_tokens: u64,
    overlap_tokens: u64,
    family: TokenizerFamily,
) -> Vec<Chunk> {
    let segs = &t.segments;
    let n = segs.len();
    if n == 0 {
        return Vec::new();
    }
    let window = window_tokens.max(1);
    let overlap = overlap_tokens.min(window / 2);
    let tok: Vec<u64> = segs
        .iter()
        .map(|s| estimate_tokens(&s.text, family))
        .collect();
    // turn_begin[i]: first segment of i's turn; turn_end[i]: one past its last.
    let mut turn_begin = vec![0; n];
    for i in 1..n {
        turn_begin[i] = if segs[i].speaker == segs[i - 1].speaker {
            turn_begin[i - 1]
        } else {
            i
        };
    }
    let mut turn_end = vec![n; n];
    for i in (0..n - 1).rev() {
        turn_end[i] = if turn_begin[i + 1] == turn_begin[i] {
            turn_end[i + 1]
        } else {
            i + 1
        };
    }
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0u64);
    for t in &tok {
        prefix.push(prefix.last().copied().unwrap_or(0).saturating_add(*t));
    }
    let sum = |a: usize, b: usize| prefix[b] - prefix[a];

    let mut chunks = Vec::new();
    let mut start = 0;
    // The first segment no chunk holds yet.
    let mut fresh = 0;
    loop {
        let mut end = start;
        let mut total = 0u64;
        while end < n {
            let te = turn_end[end];
            let turn = sum(end, te);
            if total + turn <= window {
                total += turn;
                end = te;
                continue;
            }
            if end <= fresh {
                // No whole turn fits: take its segments while they fit (at least one new one).
                while end < te && (end <= fresh || total + tok[end] <= window) {
                    total += tok[end];
                    end += 1;
                }
            }
            break;
        }
        chunks.push(Chunk {
            first_segment: start,
            last_segment: end - 1,
            tokens: total,
        });
        if end >= n {
            return chunks;
        }
        fresh = end;
        // Overlap: whole turns back from `end`, else single segments.
        let mut next = end;
        let mut ov = 0u64;
        while next > start + 1 {
            let tb = turn_begin[next - 1].max(start + 1);
            let turn = sum(tb, next);
            if ov + turn > overlap {
                break;
            }
            ov += turn;
            next = tb;
        }
        if next == end {
            while next > start + 1 && ov + tok[next - 1] <= overlap && overlap > 0 {
                ov += tok[next - 1];
                next -= 1;
            }
        }
        // The overlap gives way so that the next turn fits whole (or, if it cannot, its first
        // segment): chunks stay cut between turns and always bring something new.
        let turn = sum(end, turn_end[end]);
        let need = if turn <= window { turn } else { tok[end] };
        while next < end && ov + need > window {
            ov -= tok[next];
            next += 1;
        }
        start = next;
    }
}
