//! Token estimates and chunking on speaker turns.
//!
//! OpenAI models: exact counts with `o200k_base` (the encoding of GPT-4o, GPT-4.1, o-series
//! and GPT-5 models), made once per transcript when its upload is parsed
//! ([`Transcript::count_openai_tokens`]) and stored with it; what runs later reads the stored
//! counts ([`Transcript::segment_tokens`]), so that only the upload trigger carries the
//! vocabulary (1 MB zipped) and the generate function does not build it on every cold start.
//! Others (Anthropic, Gemini, anything else) publish no offline tokenizer;
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
    /// `o200k_base`: counted exactly once, when the upload is parsed
    /// ([`Transcript::count_openai_tokens`]); read from those counts afterwards.
    OpenAi,
    /// Estimated (see the module docs).
    Anthropic,
    /// Estimated (see the module docs).
    Gemini,
    /// Estimated (see the module docs).
    Other,
}

/// `o200k_base`'s ordinary tokens by rank, each as one length byte and its bytes (build.rs
/// writes it from tiktoken-rs's vocabulary; 1.05 MB zipped instead of the 1.7 MB of the
/// base64 text tiktoken-rs embeds, and nothing to decode).
static O200K_BASE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.bin"));

/// `o200k_base` from the compact table: the same vocabulary, special tokens and split pattern
/// as `tiktoken_rs::o200k_base()`.
pub(crate) fn o200k_base() -> Option<tiktoken_rs::CoreBPE> {
    let mut encoder = rustc_hash::FxHashMap::with_capacity_and_hasher(200_000, Default::default());
    let mut rest = O200K_BASE;
    let mut rank: tiktoken_rs::Rank = 0;
    while let Some((&len, tail)) = rest.split_first() {
        let token = tail.get(..usize::from(len))?;
        encoder.insert(token.to_vec(), rank);
        rest = &tail[token.len()..];
        rank += 1;
    }
    let mut special = rustc_hash::FxHashMap::default();
    special.insert(tiktoken_rs::ENDOFTEXT.to_owned(), 199_999);
    special.insert(tiktoken_rs::ENDOFPROMPT.to_owned(), 200_018);
    tiktoken_rs::CoreBPE::new(encoder, special, tiktoken_rs::O200K_BASE_PAT_STR).ok()
}

fn o200k() -> Option<&'static tiktoken_rs::CoreBPE> {
    static BPE: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();
    BPE.get_or_init(o200k_base).as_ref()
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
    /// Counts each segment's `o200k_base` tokens into [`Transcript::openai_tokens`]: the upload
    /// trigger does, once, before it stores the normalized transcript.
    pub fn count_openai_tokens(&mut self) {
        self.openai_tokens = self
            .segments
            .iter()
            .map(|s| {
                u32::try_from(estimate_tokens(&s.text, TokenizerFamily::OpenAi)).unwrap_or(u32::MAX)
            })
            .collect();
    }

    /// For a transcript stored before its counts were kept: gives each segment a share of
    /// `total` (its exact count, kept with the transcript's record) in proportion to its
    /// estimate, rounded up and never below the estimate, so that chunks cut from them hold
    /// no more than the exact total says. Does nothing when the counts are there.
    pub fn spread_openai_tokens(&mut self, total: u64) {
        if self.openai_tokens.len() == self.segments.len() {
            return;
        }
        let estimates: Vec<u64> = self
            .segments
            .iter()
            .map(|s| heuristic_tokens(&s.text))
            .collect();
        let sum = u128::from(estimates.iter().sum::<u64>().max(1));
        self.openai_tokens = estimates
            .iter()
            .map(|&e| {
                let share = (u128::from(e) * u128::from(total)).div_ceil(sum);
                u32::try_from(share.max(u128::from(e))).unwrap_or(u32::MAX)
            })
            .collect();
    }

    /// Each segment's text tokens for `family`, without a tokenizer: for OpenAI models the
    /// counts of [`Transcript::count_openai_tokens`] when they cover every segment; otherwise
    /// (a transcript stored before they were counted) and for the other families, the estimate
    /// of the module docs. Nothing that reaches generation calls the tokenizer itself, so that
    /// the generate function links no vocabulary.
    pub fn segment_tokens(&self, family: TokenizerFamily) -> Vec<u64> {
        if family == TokenizerFamily::OpenAi && self.openai_tokens.len() == self.segments.len() {
            return self.openai_tokens.iter().map(|&n| u64::from(n)).collect();
        }
        self.segments
            .iter()
            .map(|s| heuristic_tokens(&s.text))
            .collect()
    }

    /// The sum of [`Transcript::segment_tokens`]. Prompt framing (ids, times, speaker labels)
    /// is the caller's to add.
    pub fn token_estimate(&self, family: TokenizerFamily) -> u64 {
        self.segment_tokens(family).iter().sum()
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
/// A transcript that fits is one chunk; an empty one is none. Segments are measured with
/// [`Transcript::segment_tokens`].
pub fn chunk(
    t: &Transcript,
    window_tokens: u64,
    overlap_tokens: u64,
    family: TokenizerFamily,
) -> Vec<Chunk> {
    chunk_by(t, &t.segment_tokens(family), window_tokens, overlap_tokens)
}

/// [`chunk`], with each segment measured by the caller: `tokens[i]` for segment `i` (e.g. its
/// text and the framing a prompt puts around it). Missing measures count as 0.
pub fn chunk_by(
    t: &Transcript,
    tokens: &[u64],
    window_tokens: u64,
    overlap_tokens: u64,
) -> Vec<Chunk> {
    let segs = &t.segments;
    let n = segs.len();
    if n == 0 {
        return Vec::new();
    }
    let window = window_tokens.max(1);
    let overlap = overlap_tokens.min(window / 2);
    let tok: Vec<u64> = (0..n)
        .map(|i| tokens.get(i).copied().unwrap_or(0))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The compact table is tiktoken-rs's vocabulary: every rank decodes to the same bytes,
    /// the first rank past the table is unknown to both, and the special tokens are the same.
    #[test]
    fn compact_o200k_base_is_tiktoken_rs_vocabulary() {
        let ours = o200k_base().expect("the compact table loads");
        let theirs = tiktoken_rs::o200k_base().expect("tiktoken-rs's o200k_base loads");
        let mut rank: tiktoken_rs::Rank = 0;
        while let Ok(expected) = theirs.decode_bytes(&[rank]) {
            if theirs
                .special_tokens()
                .contains(String::from_utf8_lossy(&expected).as_ref())
            {
                break;
            }
            assert_eq!(
                ours.decode_bytes(&[rank]).ok(),
                Some(expected),
                "rank {rank}"
            );
            rank += 1;
        }
        assert_eq!(rank, 199_998, "o200k_base's ordinary tokens");
        assert!(ours.decode_bytes(&[rank]).is_err());
        assert_eq!(ours.special_tokens(), theirs.special_tokens());
        for special in theirs.special_tokens() {
            assert_eq!(
                ours.encode_with_special_tokens(special),
                theirs.encode_with_special_tokens(special)
            );
        }
    }

    /// Same tokens for the same text, through the split pattern and merges (English, CJK,
    /// accents, digits, code, whitespace runs, emoji).
    #[test]
    fn compact_o200k_base_encodes_like_tiktoken_rs() {
        let theirs = tiktoken_rs::o200k_base().expect("tiktoken-rs's o200k_base loads");
        let texts = [
            "hello world",
            "  Speaker 1: So, what's the plan for Q3?\n\nWe ship on 2026-11-25 at 09:30.",
            "日本語のテキストです。中文字幕。한국어 자막",
            "Ça coûte 12,50 € — déjà vu, naïve façade.",
            "fn main() { println!(\"{}\", 1 + 2); } // 12345678901234567890",
            "emoji 🎉👩‍👩‍👧 tabs\t\tand\r\nCRLF",
            "",
        ];
        for text in texts {
            assert_eq!(
                o200k().expect("loads").encode_ordinary(text),
                theirs.encode_ordinary(text),
                "{text:?}"
            );
            assert_eq!(
                estimate_tokens(text, TokenizerFamily::OpenAi),
                theirs.encode_ordinary(text).len() as u64
            );
        }
    }
}
