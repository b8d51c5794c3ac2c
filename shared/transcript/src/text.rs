//! Cue text to plain text: markup removed, entities decoded, whitespace collapsed.
//!
//! Tags removed (any case, with classes or attributes): `b i u s c v lang ruby rt font br span`
//! and timestamp tags such as `<00:05:04.199>`. The text inside `<rt>` (a ruby reading) is
//! dropped. Any other `<` is text: `2 < 3`, `I <3 you`, `<laughs>` stay as written. In SRT,
//! ASS override codes left by converters (`{\an8}`) are removed too. Entities: the common
//! named ones (see [`NAMED`]) and all numeric ones; an unknown name stays as written.

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
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    NAMED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, c)| (c, end + 2))
}

enum Tag<'a> {
    /// A known tag; `voice` is the annotation of `<v …>`.
    Known {
        name: &'a str,
        closing: bool,
        voice: Option<&'a str>,
    },
    Timestamp,
}

/// The tag at `s[i] == b'<'`, and the index just past its `>`. `None` when the `<` is text.
fn tag(s: &[u8], i: usize) -> Option<(Tag<'_>, usize)> {
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
    if j == name_start {
        return None;
    }
    let name = std::str::from_utf8(&s[name_start..j]).ok()?;
    let known = KNOWN_TAGS.iter().find(|k| k.eq_ignore_ascii_case(name))?;
    // The rest must be classes, attributes or an annotation on this line, then `>`.
    match s.get(j) {
        Some(b'>' | b'.' | b' ' | b'\t' | b'/') => {}
        _ => return None,
    }
    let mut k = j;
    while k < s.len() && s[k] != b'>' && s[k] != b'<' && s[k] != b'\n' && s[k] != b'\r' {
        k += 1;
    }
    if s.get(k) != Some(&b'>') {
        return None;
    }
    let voice = if *known == "v" && !closing {
        // Skip classes (`<v.loud Name>`), then the annotation is the rest.
        let mut a = j;
        while a < k && !matches!(s[a], b' ' | b'\t') {
            a += 1;
        }
        std::str::from_utf8(&s[a..k]).ok()
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
    out.clear();
    let s = raw.as_bytes();
    let mut voice: Option<String> = None;
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
    while i < s.len() {
        let b = s[i];
        if !is_special(b, srt_codes) {
            i += 1;
            continue;
        }
        // The common case, one space between words, stays inside the run.
        if b == b' ' && i > run && s.get(i + 1).is_some_and(|&n| !is_special(n, srt_codes)) {
            i += 2;
            continue;
        }
        if is_space(b) {
            flush!(i);
            while i < s.len() && is_space(s[i]) {
                i += 1;
            }
            if !in_rt {
                pending_space = true;
            }
            run = i;
        } else if b == b'<' {
            match tag(s, i) {
                Some((t, next)) => {
                    flush!(i);
                    if let Tag::Known {
                        name,
                        closing,
                        voice: v,
                    } = t
                    {
                        match (name, closing) {
                            ("rt", false) => in_rt = true,
                            ("rt" | "ruby", true) => in_rt = false,
                            ("br", _) => pending_space = true,
                            _ => {}
                        }
                        if voice.is_none()
                            && let Some(v) = v
                        {
                            let mut name = String::new();
                            clean_into(v, false, &mut name);
                            if !name.is_empty() {
                                voice = Some(name);
                            }
                        }
                    }
                    i = next;
                    run = i;
                }
                None => i += 1,
            }
        } else if b == b'&' {
            match entity(s, i) {
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
        } else {
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
                    i += c + 1;
                    run = i;
                }
                None => i += 1,
            }
        }
    }
    if run < s.len() && !in_rt {
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&raw[run..]);
    }
    voice
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
    let colon = text.as_bytes().iter().take(41).position(|&b| b == b':')?;
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
