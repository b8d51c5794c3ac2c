//! Cue text to plain text: markup removed, entities decoded, whitespace collapsed.
//!
//! Tags removed (any case, with classes or attributes): `b i u s c v lang ruby rt font br span`
//! and timestamp tags such as `<00:05:04.199>`. The text inside `<rt>` (a ruby reading) is
//! dropped. Any other `<` is text: `2 < 3`, `I <3 you`, `<laughs>` stay as written. In SRT,
//! ASS override codes left by converters (`{\an8}`) are removed too. Entities: the common
//! named ones (see [`NAMED`]) and all numeric ones; an unknown name stays as written.
use crate::cues::Breaks;
use crate::input;

/// Named character references decoded. Subtitle files use a handful; an unknown one is kept
/// literally (HTML5 has 2,231; a table of them would be larger than this crate's parsers).
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{A0}'),
    ("lrm", '\u{200E}'),
    ("rlm", '\u{200F}'),
    ("hellip", '…'),
    ("mdash", '—'),
    ("ndash", '–'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("iexcl", '¡'),
    ("iquest", '¿'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("deg", '°'),
    ("middot", '·'),
    ("bull", '•'),
    ("times", '×'),
    ("divide", '÷'),
    ("euro", '€'),
    ("pound", '£'),
    ("yen", '¥'),
    ("cent", '¢'),
    ("sect", '§'),
    ("para", '¶'),
    ("shy", '\u{AD}'),
    ("zwj", '\u{200D}'),
    ("zwnj", '\u{200C}'),
    ("aacute", 'á'),
    ("agrave", 'à'),
    ("acirc", 'â'),
    ("auml", 'ä'),
    ("atilde", 'ã'),
    ("ccedil", 'ç'),
    ("eacute", 'é'),
    ("egrave", 'è'),
    ("ecirc", 'ê'),
    ("euml", 'ë'),
    ("iacute", 'í'),
    ("igrave", 'ì'),
    ("icirc", 'î'),
    ("iuml", 'ï'),
    ("ntilde", 'ñ'),
    ("oacute", 'ó'),
    ("ograve", 'ò'),
    ("ocirc", 'ô'),
    ("ouml", 'ö'),
    ("otilde", 'õ'),
    ("uacute", 'ú'),
    ("ugrave", 'ù'),
    ("ucirc", 'û'),
    ("uuml", 'ü'),
    ("szlig", 'ß'),
    ("Eacute", 'É'),
    ("Agrave", 'À'),
    ("Ccedil", 'Ç'),
    ("Ntilde", 'Ñ'),
    ("Ouml", 'Ö'),
    ("Uuml", 'Ü'),
    ("Auml", 'Ä'),
];

const KNOWN_TAGS: &[&str] = &[
    "b", "i", "u", "s", "c", "v", "lang", "ruby", "rt", "font", "br", "span",
];

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0C' | b'\x0B')
}

/// Bytes that end a run of plain text: whitespace, `<`, `&` and (SRT) `{`.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = matches!(
            b,
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0C' | b'\x0B' | b'<' | b'&' | b'{'
        );
        i += 1;
    }
    t
};

#[inline]
fn is_special(b: u8, srt_codes: bool) -> bool {
    SPECIAL[b as usize] && (b != b'{' || srt_codes)
}

/// What a reader may know of a cue text, to spare [`clean_cue`] some searching. Each is
/// `false` / `None` when not known; none changes the result.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hints {
    /// The whitespace is regular: no tab, vertical tab or form feed, no two spaces in a row.
    pub regular: bool,
    /// The line ends.
    pub breaks: Breaks,
    /// The offset of the first `<`, `&` or (SRT) `{`, or the text's length when there is none.
    pub first_markup: Option<usize>,
}

/// Where the lines of a text end in its cleaned output, so that the cleaned lines can be had
/// without cleaning each line again: the output up to a line's end is the cleaned lines so far
/// joined with single spaces (tags, entities and codes never span lines). Known for up to four
/// line ends (LF, CR or CRLF) in the first 64 KiB of output, and only when none falls inside
/// `<rt>` (whose text is dropped across lines).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutLines {
    /// Small, as one is kept per cue.
    at: [u16; 4],
    len: u8,
    known: bool,
}

/// Told where the lines of a text end in its cleaned output ([`clean_cue`]).
pub(crate) trait LineEnds {
    /// Whether [`LineEnds::line_end`] does anything (when not, the calls are compiled out).
    const RECORDS: bool;
    /// A line of the raw text ends when the output is `at` bytes long.
    fn line_end(&mut self, at: usize, in_rt: bool);
}

/// Nothing to record.
impl LineEnds for () {
    const RECORDS: bool = false;
    fn line_end(&mut self, _: usize, _: bool) {}
}

impl LineEnds for OutLines {
    const RECORDS: bool = true;
    #[inline]
    fn line_end(&mut self, at: usize, in_rt: bool) {
        match u16::try_from(at) {
            Ok(a) if self.known && !in_rt && usize::from(self.len) < self.at.len() => {
                self.at[usize::from(self.len)] = a;
                self.len += 1;
            }
            _ => self.known = false,
        }
    }
}

impl OutLines {
    pub fn new() -> Self {
        OutLines {
            at: [0; 4],
            len: 0,
            known: true,
        }
    }

    /// Calls `f` with each line of `raw` cleaned on its own (as [`clean_into`] would clean it,
    /// empty ones included, and an empty one after a final line end), from `out`, the cleaning
    /// of the whole `raw` that recorded these ends. `false` (and no call) when the ends are not
    /// known.
    pub fn each_line(&self, out: &str, mut f: impl FnMut(&str)) -> bool {
        if !self.known {
            return false;
        }
        let mut from = 0;
        let len = usize::from(self.len);
        for k in 0..=len {
            let to = if k < len {
                usize::from(self.at[k])
            } else {
                out.len()
            };
            let line = &out[from..to];
            // After the first, a line's text follows the joining space (if any text before).
            f(if k > 0 {
                line.strip_prefix(' ').unwrap_or(line)
            } else {
                line
            });
            from = to;
        }
        true
    }
}

/// Finds the bytes [`clean_cue`] must look at, skipping the ones it keeps in its run as they
/// are: plain bytes, and single spaces followed by a plain byte. Markup bytes (`<`, `&`, `{`)
/// are found with `memchr`, whitespace a word at a time (or, in regular text, line ends with
/// `memchr`).
struct Skipper<'s> {
    s: &'s [u8],
    srt_codes: bool,
    /// See [`Hints::regular`]: only markup and line ends need a look (and a space just before
    /// them).
    regular: bool,
    /// The first markup byte at or after the last position asked about (`s.len()`: none).
    markup: usize,
    /// The same for `\n` and `\r`, when `regular`.
    line_end: usize,
    /// The line ends, when known.
    breaks: Breaks,
}

impl<'s> Skipper<'s> {
    fn new(s: &'s [u8], srt_codes: bool, hints: Hints) -> Self {
        Skipper {
            s,
            srt_codes,
            regular: hints.regular,
            // 0 is "not known": no search starts there.
            markup: hints.first_markup.unwrap_or(0),
            line_end: 0,
            breaks: hints.breaks,
        }
    }

    /// The next index from `i` that needs a look (or, rarely, a plain byte), at most
    /// `s.len()`. `s[i - 1]` must be in the run.
    #[inline(always)]
    fn skip(&mut self, i: usize) -> usize {
        let s = self.s;
        if self.markup < i {
            let found = if self.srt_codes {
                memchr::memchr3(b'<', b'&', b'{', &s[i..])
            } else {
                memchr::memchr2(b'<', b'&', &s[i..])
            };
            self.markup = found.map_or(s.len(), |k| i + k);
        }
        let mut limit = self.markup;
        if self.regular {
            if self.line_end < i {
                self.line_end = match self.breaks.next_from(i, s.len()) {
                    Some(at) => at,
                    None => memchr::memchr2(b'\n', b'\r', &s[i..]).map_or(s.len(), |k| i + k),
                };
            }
            limit = limit.min(self.line_end);
            // Every space before `limit` is single and followed by a plain byte.
            return if limit > i && s[limit - 1] == b' ' {
                limit - 1
            } else {
                limit
            };
        }
        let q = skip_spaced(s, i, limit);
        // A space just before markup ends the run (the markup may be removed).
        if q == limit && limit > i && s[limit - 1] == b' ' {
            limit - 1
        } else {
            q
        }
    }
}

/// The first index in `i..limit` (`limit <= s.len()`) holding a byte below `' '` or a space
/// followed by whitespace (or by nothing), else `limit`. A space at `limit - 1` is not looked
/// at.
#[inline]
fn skip_spaced(s: &[u8], mut i: usize, limit: usize) -> usize {
    while i < limit && i + 8 <= s.len() {
        let w = input::word(s, i);
        let blank = input::bytes_below(w, b'!');
        if blank != 0 {
            // Flags may be false above the lowest true one: that only stops early.
            let last = s.get(i + 8).is_none_or(|&b| b <= b' ');
            let after = (blank >> 8) | (u64::from(last) << 63);
            let space = input::zero_bytes(w ^ input::splat(b' '));
            let stop = input::bytes_below(w, b' ') | (space & after);
            if stop != 0 {
                return (i + (stop.trailing_zeros() / 8) as usize).min(limit);
            }
        }
        i += 8;
    }
    while i < limit {
        if s[i] > b' ' {
            i += 1;
        } else if s[i] == b' ' && s.get(i + 1).is_some_and(|&n| n > b' ') {
            i += 2;
        } else {
            return i;
        }
    }
    limit
}

/// Decodes the entity at `s[i] == b'&'`: (char, length in bytes).
fn entity(s: &[u8], i: usize) -> Option<(char, usize)> {
    let rest = &s[i + 1..];
    if rest.first() == Some(&b'#') {
        let (radix, start) = match rest.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let mut end = start;
        while end < rest.len() && end - start < 8 && (rest[end] as char).is_digit(radix) {
            end += 1;
        }
        if end == start || rest.get(end) != Some(&b';') {
            return None;
        }
        let digits = std::str::from_utf8(&rest[start..end]).ok()?;
        let code = u32::from_str_radix(digits, radix).ok()?;
        let c = match code {
            0 => '\u{FFFD}',
            _ => char::from_u32(code).unwrap_or('\u{FFFD}'),
        };
        return Some((c, end + 2));
    }
    let mut end = 0;
    while end < rest.len() && end < 10 && rest[end].is_ascii_alphanumeric() {
        end += 1;
    }
    if end == 0 || rest.get(end) != Some(&b';') {
        return None;
    }
    let name = &rest[..end];
    NAMED
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .map(|&(_, c)| (c, end + 2))
}

enum Tag<'a> {
    /// A known tag; `voice` is the annotation of `<v …>`.
    Known {
        /// The name's [`tag_key`].
        name: u32,
        closing: bool,
        voice: Option<&'a str>,
    },
    Timestamp,
}

/// `<i>`, `<b>`, `<u>`, `<s>`, `<c>` or their closing tags (any case) at `s[i] == b'<'`: the
/// index just past them. The most common tags, read as [`tag`] reads them, without its general
/// look.
#[inline]
fn style_tag(s: &[u8], i: usize) -> Option<usize> {
    let style = |c: u8| matches!(c | 0x20, b'i' | b'b' | b'u' | b's' | b'c');
    match (s.get(i + 1), s.get(i + 2), s.get(i + 3)) {
        (Some(&c), Some(b'>'), _) if style(c) => Some(i + 3),
        (Some(b'/'), Some(&c), Some(b'>')) if style(c) => Some(i + 4),
        _ => None,
    }
}

/// A tag name's bytes as a little-endian `u32`, padded with zeros (names of at most four bytes).
const fn tag_key(name: &str) -> u32 {
    let name = name.as_bytes();
    let mut b = [0u8; 4];
    let mut k = 0;
    while k < name.len() {
        b[k] = name[k];
        k += 1;
    }
    u32::from_le_bytes(b)
}

/// The keys ([`tag_key`]) of [`KNOWN_TAGS`].
const KNOWN_TAG_KEYS: [u32; KNOWN_TAGS.len()] = {
    let mut keys = [0u32; KNOWN_TAGS.len()];
    let mut t = 0;
    while t < KNOWN_TAGS.len() {
        keys[t] = tag_key(KNOWN_TAGS[t]);
        t += 1;
    }
    keys
};

const RT: u32 = tag_key("rt");
const RUBY: u32 = tag_key("ruby");
const BR: u32 = tag_key("br");
const V: u32 = tag_key("v");

/// The key ([`tag_key`]) of the entry of [`KNOWN_TAGS`] equal to `name` (ASCII letters) in any
/// case. Compared as numbers, names need no byte comparison.
#[inline]
fn known_tag(name: &[u8]) -> Option<u32> {
    // Letters only: `| 0x20` lowercases them exactly; no letter is 0, so the padded key also
    // tells the length (and an empty name matches nothing).
    if name.len() > 4 {
        return None;
    }
    // Shifted into a register (bytes stored one by one and read back as a `u32` would stall).
    let key = name
        .iter()
        .enumerate()
        .fold(0u32, |key, (k, &c)| key | u32::from(c | 0x20) << (8 * k));
    let found = KNOWN_TAG_KEYS.contains(&key).then_some(key);
    debug_assert_eq!(
        found,
        KNOWN_TAGS
            .iter()
            .find(|k| k.as_bytes().eq_ignore_ascii_case(name))
            .map(|k| tag_key(k))
    );
    found
}

/// The first index `>= k` of `>`, `<`, `\n` or `\r` in `s`, or `s.len()`.
#[inline]
fn find_tag_end(s: &[u8], mut k: usize) -> usize {
    while k + 8 <= s.len() {
        let w = input::word(s, k);
        // The lowest flag of each term is exact, so the lowest of all is.
        let m = input::zero_bytes(w ^ input::splat(b'>'))
            | input::zero_bytes(w ^ input::splat(b'<'))
            | input::zero_bytes(w ^ input::splat(b'\n'))
            | input::zero_bytes(w ^ input::splat(b'\r'));
        if m != 0 {
            return k + (m.trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    while k < s.len() && !matches!(s[k], b'>' | b'<' | b'\n' | b'\r') {
        k += 1;
    }
    k
}

/// The tag at `raw[i] == '<'`, and the index just past its `>`. `None` when the `<` is text.
fn tag(raw: &str, i: usize) -> Option<(Tag<'_>, usize)> {
    let s = raw.as_bytes();
    let first = *s.get(i + 1)?;
    if first.is_ascii_digit() {
        let mut j = i + 1;
        while j < s.len() && (s[j].is_ascii_digit() || s[j] == b':' || s[j] == b'.') {
            j += 1;
        }
        return (s.get(j) == Some(&b'>')).then_some((Tag::Timestamp, j + 1));
    }
    let closing = first == b'/';
    let name_start = if closing { i + 2 } else { i + 1 };
    let mut j = name_start;
    while j < s.len() && s[j].is_ascii_alphabetic() {
        j += 1;
    }
    let known = known_tag(&s[name_start..j])?;
    // The rest must be classes, attributes or an annotation on this line, then `>`.
    let k = match s.get(j) {
        Some(b'>') => j,
        Some(b'.' | b' ' | b'\t' | b'/') => find_tag_end(s, j),
        _ => return None,
    };
    if s.get(k) != Some(&b'>') {
        return None;
    }
    let voice = if known == V && !closing {
        // Skip classes (`<v.loud Name>`), then the annotation is the rest.
        let mut a = j;
        while a < k && !matches!(s[a], b' ' | b'\t') {
            a += 1;
        }
        // `a` and `k` are at ASCII bytes (a space or tab, the end of the name, `>`).
        Some(&raw[a..k])
    } else {
        None
    };
    Some((
        Tag::Known {
            name: known,
            closing,
            voice,
        },
        k + 1,
    ))
}

/// Cleans `raw` into `out` (cleared first). Returns the first voice (`<v Name>`) annotation,
/// itself cleaned.
pub(crate) fn clean_into(raw: &str, srt_codes: bool, out: &mut String) -> Option<String> {
    let mut voice = None;
    let _ = clean_cue(
        raw,
        srt_codes,
        Hints::default(),
        out,
        &mut |v| {
            let name = voice_name(v);
            let found = !name.is_empty();
            if found {
                voice = Some(name.into_owned());
            }
            found
        },
        &mut (),
    );
    voice
}

/// A voice annotation cleaned (as [`clean_into`] cleans text), usually without copying.
pub(crate) fn voice_name(annotation: &str) -> std::borrow::Cow<'_, str> {
    let t = annotation.trim_matches(|c: char| c.is_ascii() && is_space(c as u8));
    let b = t.as_bytes();
    // Only single spaces between other bytes, nothing to decode: cleaning changes nothing.
    let plain = b.iter().enumerate().all(|(k, &c)| {
        !is_special(c, false) || (c == b' ' && b.get(k + 1).is_some_and(|&n| !is_special(n, false)))
    });
    if plain {
        return std::borrow::Cow::Borrowed(t);
    }
    let mut name = String::with_capacity(annotation.len());
    clean_into(annotation, false, &mut name);
    std::borrow::Cow::Owned(name)
}

/// [`clean_into`], told whether the whitespace of `raw` is regular: no tab, vertical tab or
/// form feed, no two spaces in a row (see [`input::Line`]). The result is the same. Voice
/// annotations are handed to `voice` (raw, in order) until it returns true (a name found).
/// Returns whether some `<` of `raw` is followed by a digit (a timestamp tag, or text such as
/// `<3`): every `<` is looked at here anyway.
pub(crate) fn clean_cue<'r, E: LineEnds>(
    raw: &'r str,
    srt_codes: bool,
    hints: Hints,
    out: &mut String,
    voice: &mut dyn FnMut(&'r str) -> bool,
    ends: &mut E,
) -> bool {
    out.clear();
    let s = raw.as_bytes();
    let mut voice_found = false;
    let mut digit_after_lt = false;
    let mut pending_space = false;
    let mut in_rt = false;
    let mut no_close_before = 0;
    let mut i = 0;
    let mut run = 0;
    macro_rules! flush {
        ($end:expr) => {
            if run < $end && !in_rt {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push_str(&raw[run..$end]);
            }
        };
    }
    let mut skipper = Skipper::new(s, srt_codes, hints);
    while i < s.len() {
        let b = s[i];
        if !is_special(b, srt_codes) {
            i = skipper.skip(i + 1);
            continue;
        }
        // The common case, one space between words, stays inside the run.
        if b == b' ' && i > run && s.get(i + 1).is_some_and(|&n| !is_special(n, srt_codes)) {
            i = skipper.skip(i + 2);
            continue;
        }
        // Compared in this order (not matched on the byte: a jump table on it mispredicts).
        if b == b'<' {
            digit_after_lt |= s.get(i + 1).is_some_and(u8::is_ascii_digit);
            if let Some(next) = style_tag(s, i) {
                flush!(i);
                i = next;
                run = i;
                continue;
            }
            match tag(raw, i) {
                Some((t, next)) => {
                    flush!(i);
                    if let Tag::Known {
                        name,
                        closing,
                        voice: v,
                    } = t
                    {
                        match (name, closing) {
                            (RT, false) => in_rt = true,
                            (RT | RUBY, true) => in_rt = false,
                            (BR, _) => pending_space = true,
                            _ => {}
                        }
                        if !voice_found && let Some(v) = v {
                            voice_found = voice(v);
                        }
                    }
                    i = next;
                    run = i;
                }
                None => i += 1,
            }
        } else if b == b'&' {
            let decoded = if s.get(i..i + 5) == Some(b"&amp;".as_slice()) {
                Some(('&', 5))
            } else {
                entity(s, i)
            };
            match decoded {
                Some((c, len)) => {
                    flush!(i);
                    if !in_rt {
                        if c.is_whitespace() {
                            pending_space = true;
                        } else {
                            if pending_space && !out.is_empty() {
                                out.push(' ');
                            }
                            pending_space = false;
                            out.push(c);
                        }
                    }
                    i += len;
                    run = i;
                }
                None => i += 1,
            }
        } else if b == b'{' {
            // `{\…}`: an ASS override code inside SRT text. `no_close_before` remembers where
            // a search for `}` already failed, so a line of `{\{\{\…` stays linear.
            let close = if s.get(i + 1) == Some(&b'\\') && i >= no_close_before {
                let found = s[i..]
                    .iter()
                    .take_while(|&&c| c != b'\n' && c != b'\r')
                    .position(|&c| c == b'}');
                if found.is_none() {
                    no_close_before = i + s[i..]
                        .iter()
                        .position(|&c| c == b'\n' || c == b'\r')
                        .unwrap_or(s.len() - i);
                }
                found
            } else {
                None
            };
            match close {
                Some(c) => {
                    flush!(i);
                    // The only `<` this loop does not stop at are inside such codes.
                    digit_after_lt |= s[i..=i + c]
                        .windows(2)
                        .any(|p| p[0] == b'<' && p[1].is_ascii_digit());
                    i += c + 1;
                    run = i;
                }
                None => i += 1,
            }
        } else {
            // Whitespace: the other special bytes.
            flush!(i);
            while i < s.len() && is_space(s[i]) {
                if E::RECORDS && (s[i] == b'\n' || (s[i] == b'\r' && s.get(i + 1) != Some(&b'\n')))
                {
                    ends.line_end(out.len(), in_rt);
                }
                i += 1;
            }
            if !in_rt {
                pending_space = true;
            }
            run = i;
        }
    }
    if run < s.len() && !in_rt {
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&raw[run..]);
    }
    digit_after_lt
}

/// Convenience for one-off cleaning.
pub(crate) fn clean(raw: &str, srt_codes: bool) -> (Option<String>, String) {
    let mut out = String::with_capacity(raw.len());
    let voice = clean_into(raw, srt_codes, &mut out);
    (voice, out)
}

/// Escapes text for WebVTT cue text or a voice annotation.
pub(crate) fn escape_vtt(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}

/// `Name: text` at the start of a line (Zoom's cues, plain-text transcripts). The name is 1 to
/// 5 words, at most 40 bytes, starts with a letter, and holds only letters, digits, spaces and
/// `.'-_()`; the colon is followed by whitespace and some text.
pub(crate) fn speaker_prefix(text: &str) -> Option<(&str, &str)> {
    let head = &text.as_bytes()[..text.len().min(41)];
    // A word at a time: most texts have no colon this early (a call to memchr costs more).
    // `zero_bytes` is exact on whether a word has a colon at all.
    let colons = |i: usize| input::zero_bytes(input::word(head, i) ^ input::splat(b':'));
    let colon = if head.len() == 41 {
        // The usual length: five words and a byte, without a branch between them.
        if (colons(0) | colons(8) | colons(16) | colons(24) | colons(32)) == 0 && head[40] != b':' {
            return None;
        }
        head.iter().position(|&b| b == b':')?
    } else {
        // Shorter: the same, in as many words as fit, then the bytes after them.
        let mut i = 0;
        let mut any = 0;
        while i + 8 <= head.len() {
            any |= colons(i);
            i += 8;
        }
        if any == 0 && !head[i..].contains(&b':') {
            return None;
        }
        head.iter().position(|&b| b == b':')?
    };
    let name = text[..colon].trim();
    let rest = &text[colon + 1..];
    if !rest.starts_with([' ', '\t']) || rest.trim().is_empty() {
        return None;
    }
    if !plausible_name(name) {
        return None;
    }
    Some((name, rest.trim_start()))
}

/// A speaker name as transcripts write them (see [`speaker_prefix`]).
pub(crate) fn plausible_name(name: &str) -> bool {
    name.chars().next().is_some_and(char::is_alphabetic)
        && name.len() <= 40
        && name.split_whitespace().count() <= 5
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '\'' | '-' | '_' | '(' | ')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        clean(s, true).1
    }

    #[test]
    fn markup_is_removed_and_entities_decoded() {
        assert_eq!(
            c(r##"<font color="#ff00ff"><i>Some italic</i> and text. By the way, 2 < 3 !</font>"##),
            "Some italic and text. By the way, 2 < 3 !"
        );
        assert_eq!(
            c("this<00:05:04.199><c> will</c><c.colorE5E5E5><00:05:04.379><c> happen</c></c>"),
            "this will happen"
        );
        assert_eq!(
            c("Tom &amp; Jerry &lt;3 &gt; &#x41;&#66; &bogus; &"),
            "Tom & Jerry <3 > AB &bogus; &"
        );
        assert_eq!(c("{\\an8}top line"), "top line");
        assert_eq!(c("  two\r\n  lines  "), "two lines");
        assert_eq!(c("I <3 you <laughs>"), "I <3 you <laughs>");
        assert_eq!(c("<ruby>漢<rt>kan</rt></ruby>字"), "漢字");
        assert_eq!(c("a<br/>b"), "a b");
    }

    #[test]
    fn voice_tags_name_the_speaker() {
        let (v, t) = clean("<v Roger Bingham>We are in <b>New York</b></v>", false);
        assert_eq!(v.as_deref(), Some("Roger Bingham"));
        assert_eq!(t, "We are in New York");
        let (v, _) = clean("<v.loud Esme &amp; Co>Hi", false);
        assert_eq!(v.as_deref(), Some("Esme & Co"));
    }

    #[test]
    fn style_tags_are_read_as_tags() {
        for t in [
            "<i>", "</i>", "<B>", "</U>", "<i.x>", "<ib>", "</i", "<i", "</>", "<I >", "<c>",
            "</C>", "<s>", "</s>", "<c.x>", "<v>", "</v>",
        ] {
            let general = tag(t, 0).map(|(_, next)| next);
            let fast = style_tag(t.as_bytes(), 0);
            assert!(fast.is_none() || fast == general, "{t}");
            if ["<i>", "</i>", "<B>", "</U>", "<c>", "</C>", "<s>", "</s>"].contains(&t) {
                assert_eq!(fast, general, "{t}");
            }
        }
    }

    #[test]
    fn every_lt_digit_is_reported() {
        let bits = [
            "<", "1", "a", " ", "{\\", "}", "{", "<i>", "</i>", "\n", "&amp;", "<0", ">", "  ",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            let mut t = String::new();
            for _ in 0..12 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                t.push_str(bits[(seed % bits.len() as u64) as usize]);
            }
            let want = t
                .as_bytes()
                .windows(2)
                .any(|p| p[0] == b'<' && p[1].is_ascii_digit());
            for (srt, regular) in [(true, false), (false, false), (true, true)] {
                let regular = regular && !t.contains("  ");
                let mut out = String::new();
                let hints = Hints {
                    regular,
                    ..Hints::default()
                };
                let got = clean_cue(&t, srt, hints, &mut out, &mut |_| false, &mut ());
                assert_eq!(got, want, "{t:?}");
            }
        }
    }

    #[test]
    fn cleaned_lines_cut_from_the_whole_are_the_lines_cleaned() {
        let bits = [
            "a",
            "b c",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\r\n",
            "<i>",
            "</i>",
            "<rt>",
            "</rt>",
            "<ruby>",
            "</ruby>",
            "<br>",
            "&nbsp;",
            "&#32;",
            "&amp;",
            "{\\an8}",
            "<v Bob>",
            "<00:01.000>",
            "<c.x>",
            "é",
            "<",
            "&",
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut cut = 0;
        for _ in 0..20_000 {
            let mut t = String::new();
            for _ in 0..10 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                t.push_str(bits[(seed % bits.len() as u64) as usize]);
            }
            for srt in [true, false] {
                let mut out = String::new();
                let mut ends = OutLines::new();
                clean_cue(
                    &t,
                    srt,
                    Hints::default(),
                    &mut out,
                    &mut |_| false,
                    &mut ends,
                );
                let mut got = Vec::new();
                // Empty lines aside (a final line end gives one more here).
                let keep = |l: &str| (!l.is_empty()).then(|| l.to_owned());
                if ends.each_line(&out, |l| got.extend(keep(l))) {
                    cut += 1;
                    let want: Vec<String> = input::split_lines(&t)
                        .into_iter()
                        .filter_map(|l| keep(&clean(l, srt).1))
                        .collect();
                    assert_eq!(got, want, "{t:?}");
                } else {
                    let breaks = t.matches('\n').count() + t.matches('\r').count()
                        - t.matches("\r\n").count();
                    assert!(t.contains("<rt>") || breaks > 4, "{t:?}");
                }
            }
        }
        assert!(cut > 10_000, "{cut}");
    }

    #[test]
    fn voice_names_are_cleaned_annotations() {
        for a in [
            " Alice Martin",
            "Bob",
            "  Bob  ",
            "\tA\tB ",
            "A  B",
            "Esme &amp; Co",
            " ",
            "",
            "&nbsp;",
            "x\ny",
            " é ",
            "{\\an8}x",
            "a &bogus; b",
        ] {
            let mut want = String::new();
            clean_cue(
                a,
                false,
                Hints::default(),
                &mut want,
                &mut |_| false,
                &mut (),
            );
            assert_eq!(voice_name(a), want, "{a:?}");
        }
    }

    #[test]
    fn speaker_prefixes_need_a_name_and_text() {
        assert_eq!(
            speaker_prefix("Alice Smith: hello"),
            Some(("Alice Smith", "hello"))
        );
        assert_eq!(speaker_prefix("at 10:30 we met"), None);
        assert_eq!(speaker_prefix("See https://x.y"), None);
        assert_eq!(speaker_prefix("Alice:"), None);
        assert_eq!(
            speaker_prefix("This sentence has far too many words: before its colon"),
            None
        );
    }
}
