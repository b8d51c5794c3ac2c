//! Timestamps: the W3C WebVTT algorithm, a lenient reader for real-world files, and output.

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

/// "Collect a WebVTT timestamp" (W3C WebVTT §6.1), in milliseconds.
pub(crate) fn w3c_timestamp(s: &[u8], pos: &mut usize) -> Option<u64> {
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
    Some((start, end, line[pos..].trim()))
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

/// Reads `start --> end` leniently; the text after the end must be separated by whitespace.
pub(crate) fn lenient_timing(line: &str) -> Option<LenientTiming<'_>> {
    let s = line.as_bytes();
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
        settings: line[pos..].trim(),
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
