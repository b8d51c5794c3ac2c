//! Timestamps: the W3C WebVTT algorithm, a lenient reader for real-world files, and output.
use crate::input;

/// WebVTT whitespace inside a line: space, tab, form feed.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\x0C')
}

fn skip_ws(s: &[u8], pos: &mut usize) {
    while *pos < s.len() && is_ws(s[*pos]) {
        *pos += 1;
    }
}

/// Reads ASCII digits; returns (value, digit count), `None` on overflow.
fn digits(s: &[u8], pos: &mut usize) -> Option<(u64, usize)> {
    let start = *pos;
    let mut v: u64 = 0;
    while *pos < s.len() && s[*pos].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add(u64::from(s[*pos] - b'0'))?;
        *pos += 1;
    }
    Some((v, *pos - start))
}

fn hms(h: u64, m: u64, s: u64, ms: u64) -> Option<u64> {
    h.checked_mul(3_600_000)?
        .checked_add(m.checked_mul(60_000)?)?
        .checked_add(s.checked_mul(1000)?)?
        .checked_add(ms)
}

/// The common `HH:MM:SS` + `sep` + `mmm` at `s[pos..]`, not followed by a digit, as
/// (hours, minutes, seconds, milliseconds). A shortcut only: `None` says nothing.
#[inline]
fn fixed_stamp(s: &[u8], pos: usize, sep: fn(u8) -> bool) -> Option<(u64, u64, u64, u64)> {
    let b = s.get(pos..pos + 12)?;
    if !sep(b[8]) || s.get(pos + 12).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    // `HH:MM:SS` and `?mmm` as words, one byte per character: digits become 0-9.
    let mut hms = [0u8; 8];
    hms.copy_from_slice(&b[..8]);
    let t = u64::from_le_bytes(hms) ^ 0x3030_3030_3030_3030;
    let mut frac = [0u8; 4];
    frac.copy_from_slice(&b[8..]);
    let f = u32::from_le_bytes(frac) ^ 0x3030_3000;
    // Bytes 2 and 5 are `:` (0x3A ^ 0x30); the others digits (high nibble 0, low one <= 9).
    const DIGITS: u64 = 0xFFFF_00FF_FF00_FFFF;
    let digits_ok = |t: u64, mask: u64| {
        t & 0xF0F0_F0F0_F0F0_F0F0 & mask == 0
            && t.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0 & mask == 0
    };
    if t & !DIGITS != 0x0000_0A00_000A_0000
        || !digits_ok(t, DIGITS)
        || !digits_ok(u64::from(f), 0xFFFF_FF00)
    {
        return None;
    }
    let byte = |v: u64, k: u32| (v >> (8 * k)) & 0xFF;
    let f = u64::from(f);
    Some((
        byte(t, 0) * 10 + byte(t, 1),
        byte(t, 3) * 10 + byte(t, 4),
        byte(t, 6) * 10 + byte(t, 7),
        byte(f, 1) * 100 + byte(f, 2) * 10 + byte(f, 3),
    ))
}

/// "Collect a WebVTT timestamp" (W3C WebVTT §6.1), in milliseconds.
pub(crate) fn w3c_timestamp(s: &[u8], pos: &mut usize) -> Option<u64> {
    if let Some((h, m, sec, ms)) = fixed_stamp(s, *pos, |b| b == b'.')
        && m <= 59
        && sec <= 59
    {
        *pos += 12;
        return Some(h * 3_600_000 + m * 60_000 + sec * 1000 + ms);
    }
    if *pos >= s.len() || !s[*pos].is_ascii_digit() {
        return None;
    }
    let (v1, n1) = digits(s, pos)?;
    let hours_first = n1 != 2 || v1 > 59;
    if s.get(*pos) != Some(&b':') {
        return None;
    }
    *pos += 1;
    let (v2, n2) = digits(s, pos)?;
    if n2 != 2 {
        return None;
    }
    let (h, m, sec) = if hours_first || s.get(*pos) == Some(&b':') {
        if s.get(*pos) != Some(&b':') {
            return None;
        }
        *pos += 1;
        let (v3, n3) = digits(s, pos)?;
        if n3 != 2 {
            return None;
        }
        (v1, v2, v3)
    } else {
        (0, v1, v2)
    };
    if s.get(*pos) != Some(&b'.') {
        return None;
    }
    *pos += 1;
    let (frac, n4) = digits(s, pos)?;
    if n4 != 3 || m > 59 || sec > 59 {
        return None;
    }
    hms(h, m, sec, frac)
}

/// The cue timings of a W3C timing line: (start, end, settings).
pub(crate) fn w3c_timing(line: &str) -> Option<(u64, u64, &str)> {
    let s = line.as_bytes();
    let mut pos = 0;
    skip_ws(s, &mut pos);
    let start = w3c_timestamp(s, &mut pos)?;
    skip_ws(s, &mut pos);
    if !s[pos..].starts_with(b"-->") {
        return None;
    }
    pos += 3;
    skip_ws(s, &mut pos);
    let end = w3c_timestamp(s, &mut pos)?;
    Some((start, end, input::trim(&line[pos..])))
}

/// How a leniently read timestamp was written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    pub ms: u64,
    pub hour_digits: usize,
    pub minute_digits: usize,
    pub second_digits: usize,
    pub fraction_digits: usize,
    pub separator: Option<u8>,
    pub in_range: bool,
}

impl Stamp {
    /// `HH:MM:SS,mmm` (hours may have more digits).
    pub fn is_srt(&self) -> bool {
        self.hour_digits >= 2
            && self.minute_digits == 2
            && self.second_digits == 2
            && self.separator == Some(b',')
            && self.fraction_digits == 3
            && self.in_range
    }
}

/// `[h+:]m+:s+[(.|,)f+]` with any digit counts; minutes and seconds may exceed 59.
pub(crate) fn lenient_timestamp(s: &[u8], pos: &mut usize) -> Option<Stamp> {
    if let Some(stamp) = fixed_lenient(s, *pos) {
        *pos += 12;
        return Some(stamp);
    }
    if *pos >= s.len() || !s[*pos].is_ascii_digit() {
        return None;
    }
    let mut parts = [(0u64, 0usize); 3];
    let mut n = 0;
    loop {
        if n == 3 {
            return None;
        }
        let p = digits(s, pos)?;
        if p.1 == 0 {
            return None;
        }
        parts[n] = p;
        n += 1;
        if s.get(*pos) == Some(&b':') {
            *pos += 1;
        } else {
            break;
        }
    }
    if n < 2 {
        return None;
    }
    let (h, m, sec) = if n == 3 {
        (parts[0], parts[1], parts[2])
    } else {
        ((0, 0), parts[0], parts[1])
    };
    let mut separator = None;
    let mut fraction_digits = 0;
    let mut frac_ms = 0;
    if let Some(&b) = s.get(*pos)
        && (b == b'.' || b == b',')
        && s.get(*pos + 1).is_some_and(u8::is_ascii_digit)
    {
        *pos += 1;
        separator = Some(b);
        let start = *pos;
        while *pos < s.len() && s[*pos].is_ascii_digit() {
            *pos += 1;
        }
        fraction_digits = *pos - start;
        // Milliseconds from the first three digits: ".5" is 500 ms, ".5555" is 555 ms.
        for i in 0..3 {
            let d = if i < fraction_digits {
                u64::from(s[start + i] - b'0')
            } else {
                0
            };
            frac_ms = frac_ms * 10 + d;
        }
    }
    Some(Stamp {
        ms: hms(h.0, m.0, sec.0, frac_ms)?,
        hour_digits: h.1,
        minute_digits: m.1,
        second_digits: sec.1,
        fraction_digits,
        separator,
        in_range: m.0 <= 59 && sec.0 <= 59,
    })
}

/// A timing line read leniently: `start --> end [anything]`.
pub(crate) struct LenientTiming<'a> {
    pub start: Stamp,
    pub end: Stamp,
    pub settings: &'a str,
}

/// A [`fixed_stamp`] with a comma or dot, as [`lenient_timestamp`] reads it.
#[inline]
fn fixed_lenient(s: &[u8], pos: usize) -> Option<Stamp> {
    let (h, m, sec, ms) = fixed_stamp(s, pos, |b| b == b'.' || b == b',')?;
    Some(Stamp {
        ms: h * 3_600_000 + m * 60_000 + sec * 1000 + ms,
        hour_digits: 2,
        minute_digits: 2,
        second_digits: 2,
        fraction_digits: 3,
        separator: Some(s[pos + 8]),
        in_range: m <= 59 && sec <= 59,
    })
}

/// A timing line exactly as SRT writes it, `HH:MM:SS,mmm --> HH:MM:SS,mmm` (then whitespace and
/// anything, or nothing): (start, end, settings). `Some` only where [`lenient_timing`] reads
/// the line with both stamps [`Stamp::is_srt`].
pub(crate) fn srt_timing(line: &str) -> Option<(u64, u64, &str)> {
    let s = line.as_bytes();
    if !s.get(29).is_none_or(|&b| is_ws(b)) {
        return None;
    }
    let (start, end) = srt_stamps(s.get(..29)?)?;
    Some((start, end, input::trim(&line[29..])))
}

/// The two stamps of [`srt_timing`] from the first 29 bytes of its line.
#[inline]
pub(crate) fn srt_stamps(s: &[u8]) -> Option<(u64, u64)> {
    if s.get(12..17) != Some(b" --> ".as_slice()) {
        return None;
    }
    let (h, m, sec, ms) = fixed_stamp(s, 0, |b| b == b',')?;
    let (h2, m2, sec2, ms2) = fixed_stamp(s, 17, |b| b == b',')?;
    if m > 59 || sec > 59 || m2 > 59 || sec2 > 59 {
        return None;
    }
    Some((
        h * 3_600_000 + m * 60_000 + sec * 1000 + ms,
        h2 * 3_600_000 + m2 * 60_000 + sec2 * 1000 + ms2,
    ))
}

/// Reads `start --> end` leniently; the text after the end must be separated by whitespace.
pub(crate) fn lenient_timing(line: &str) -> Option<LenientTiming<'_>> {
    let s = line.as_bytes();
    // The usual `00:00:01,000 --> 00:00:02,000`, read as the loop below would read it.
    if s.get(12..17) == Some(b" --> ".as_slice())
        && s.get(29).is_none_or(|&b| is_ws(b))
        && let Some(start) = fixed_lenient(s, 0)
        && let Some(end) = fixed_lenient(s, 17)
    {
        return Some(LenientTiming {
            start,
            end,
            settings: input::trim(&line[29..]),
        });
    }
    let mut pos = 0;
    skip_ws(s, &mut pos);
    let start = lenient_timestamp(s, &mut pos)?;
    skip_ws(s, &mut pos);
    if !s[pos..].starts_with(b"-->") {
        return None;
    }
    pos += 3;
    skip_ws(s, &mut pos);
    let end = lenient_timestamp(s, &mut pos)?;
    if pos < s.len() && !is_ws(s[pos]) {
        return None;
    }
    Some(LenientTiming {
        start,
        end,
        settings: input::trim(&line[pos..]),
    })
}

/// Why a lenient stamp is not WebVTT, for messages.
pub(crate) fn vtt_deviation(st: &Stamp) -> &'static str {
    if st.separator == Some(b',') {
        "a comma before the milliseconds"
    } else if st.separator.is_none() {
        "no milliseconds"
    } else if !st.in_range {
        "minutes or seconds above 59"
    } else if st.fraction_digits != 3 {
        "milliseconds not written with three digits"
    } else {
        "hours, minutes or seconds not written with two digits"
    }
}

/// Why a lenient stamp is not SRT's `HH:MM:SS,mmm`, for messages.
pub(crate) fn srt_deviation(st: &Stamp) -> &'static str {
    if st.separator == Some(b'.') {
        "a dot before the milliseconds"
    } else if st.separator.is_none() {
        "no milliseconds"
    } else if !st.in_range {
        "minutes or seconds above 59"
    } else if st.fraction_digits != 3 {
        "milliseconds not written with three digits"
    } else if st.hour_digits == 0 {
        "no hours"
    } else {
        "hours, minutes or seconds not written with two digits"
    }
}

/// `HH:MM:SS.mmm` (hours grow past 99 as needed).
pub(crate) fn write_vtt_time(out: &mut String, ms: u64) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    );
}

/// Seconds as a JSON number (vendor formats) to milliseconds, rounded. `None` for negative,
/// NaN or infinite values.
pub(crate) fn seconds_to_ms(secs: f64) -> Option<u64> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // Saturates at u64::MAX for absurd values; no panic.
    Some((secs * 1000.0).round() as u64)
}

/// Seconds written as a decimal string (AWS Transcribe's `"6.54"`), to milliseconds, rounded
/// half up, without going through a float.
pub(crate) fn decimal_seconds_to_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f = frac.as_bytes();
    let mut ms = 0u64;
    for i in 0..3 {
        ms = ms * 10 + f.get(i).map_or(0, |d| u64::from(d - b'0'));
    }
    if f.get(3).is_some_and(|d| *d >= b'5') {
        ms += 1;
    }
    whole.checked_mul(1000)?.checked_add(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w3c(s: &str) -> Option<u64> {
        w3c_timestamp(s.as_bytes(), &mut 0)
    }

    #[test]
    fn w3c_timestamps_follow_the_spec() {
        assert_eq!(w3c("00:01.500"), Some(1500));
        assert_eq!(w3c("01:00:00.000"), Some(3_600_000));
        assert_eq!(w3c("000:00:00.000"), Some(0));
        assert_eq!(w3c("100:00:00.000"), Some(360_000_000));
        assert_eq!(w3c("0:00:00.000"), Some(0));
        assert_eq!(w3c("0:0:0.570"), None);
        assert_eq!(w3c("00:00:00.00"), None);
        assert_eq!(w3c("00:60.000"), None);
        assert_eq!(w3c("00:00:01,000"), None);
        assert_eq!(w3c("99999999999999999999:00:00.000"), None);
    }

    #[test]
    fn trim_is_str_trim() {
        let bits = [
            " ", "\t", "\r", "\n", "\x0B", "\x0C", "\u{A0}", "\u{2028}", "\u{3000}", "\u{85}", "a",
            "é", "%", "\x1F", "\u{200B}",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            let mut t = String::new();
            for _ in 0..(seed % 7) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                t.push_str(bits[(seed % bits.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(1);
            assert_eq!(crate::input::trim(&t), t.trim(), "{t:?}");
        }
    }

    #[test]
    fn fixed_stamps_agree_with_the_general_readers() {
        let forms = [
            "00:00:01.000",
            "12:34:56,789",
            "99:59:59.999",
            "00:60:00.000",
            "00:00:60,000",
            "0a:00:00.000",
            "00:00:00.0000",
            "00:00:00.00",
            "00;00:00.000",
            "00:00:00:000",
            "/0:00:00.000",
            ":0:00:00.000",
            "00:00:00.00:",
            "00:00:00.0/0",
            "00:00:00.\u{0}00",
        ];
        for f in forms {
            let b = f.as_bytes();
            let fixed = fixed_stamp(b, 0, |c| c == b'.' || c == b',');
            let mut pos = 0;
            let general = lenient_timestamp(b, &mut pos);
            if let Some((h, m, s, ms)) = fixed {
                let g = general.expect(f);
                assert_eq!(g.ms, hms(h, m, s, ms).expect(f), "{f}");
                assert_eq!(pos, 12, "{f}");
            }
            let mut pos = 0;
            let w3c = w3c_timestamp(b, &mut pos);
            let want = fixed.filter(|&(_, m, s, _)| b[8] == b'.' && m <= 59 && s <= 59);
            assert_eq!(w3c, want.and_then(|(h, m, s, ms)| hms(h, m, s, ms)), "{f}");
        }
    }

    #[test]
    fn srt_timing_is_lenient_timing_without_deviations() {
        for line in [
            "00:00:01,000 --> 00:00:02,500",
            "00:00:01,000 --> 00:00:02,500 X1:10",
            "00:00:01,000 --> 00:00:02,500\tx",
            "00:00:01,000 --> 00:00:02,500x",
            "00:00:01,000 --> 00:00:02,5000",
            "00:00:01.000 --> 00:00:02,500",
            "00:00:01,000 --> 00:60:02,500",
            "00:00:01,000  --> 00:00:02,500",
            "100:00:01,000 --> 00:00:02,500",
            "00:00:01,000 --> 00:00:02,500 ",
        ] {
            let want = lenient_timing(line)
                .filter(|t| t.start.is_srt() && t.end.is_srt())
                .map(|t| (t.start.ms, t.end.ms, t.settings));
            let got = srt_timing(line);
            // The shortcut may refuse what the general reader takes, never differ.
            assert!(got.is_none() || got == want, "{line}");
            if line.len() >= 29 && line.as_bytes()[12..17] == *b" --> " {
                assert_eq!(got, want, "{line}");
            }
        }
    }

    #[test]
    fn lenient_timestamps_take_teams_and_srt_forms() {
        let t = lenient_timing("0:0:0.0 --> 0:0:0.570").expect("teams");
        assert_eq!((t.start.ms, t.end.ms), (0, 570));
        let t = lenient_timing("00:00:01,5 --> 00:00:02,50").expect("short");
        assert_eq!((t.start.ms, t.end.ms), (1500, 2500));
        let t = lenient_timing("00:75:00,000 --> 00:75:01,000").expect("over 59");
        assert_eq!(t.start.ms, 4_500_000);
        assert!(!t.start.in_range);
        assert!(lenient_timing("00:00:07.000 --> 00:00:1d.890").is_none());
        assert!(lenient_timing("-00:00:01,000 --> 00:00:02,000").is_none());
        assert!(lenient_timing("00:00:01,000 -> 00:00:02,000").is_none());
    }

    #[test]
    fn vendor_seconds_round_to_milliseconds() {
        assert_eq!(seconds_to_ms(1.179_999_999_999_999_3), Some(1180));
        assert_eq!(seconds_to_ms(-1.0), None);
        assert_eq!(decimal_seconds_to_ms("6.54"), Some(6540));
        assert_eq!(decimal_seconds_to_ms("0.4495"), Some(450));
        assert_eq!(decimal_seconds_to_ms("12"), Some(12_000));
        assert_eq!(decimal_seconds_to_ms("1e3"), None);
    }
}
