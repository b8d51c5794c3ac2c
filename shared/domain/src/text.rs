//! Text people give things (names, titles, descriptions) is shown to others: it may not hold
//! control characters (a NUL, an escape; line breaks and tabs only where lines are expected)
//! nor the bidirectional overrides and isolates that make text display other than it reads.

use crate::error::{Error, Result};

/// `Err` naming `field` and the first character it may not hold. `lines`: line breaks and
/// tabs are allowed (descriptions).
pub fn check_display(field: &'static str, s: &str, lines: bool) -> Result<()> {
    match s.chars().find(|&c| forbidden(c, lines)) {
        Some(c) => Err(Error::validation(
            field,
            format!("must not hold the character U+{:04X}", u32::from(c)),
        )),
        None => Ok(()),
    }
}

fn forbidden(c: char, lines: bool) -> bool {
    let layout = matches!(c, '\n' | '\r' | '\t');
    (c.is_control() && !(lines && layout))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_refused_line_breaks_only_in_lines() {
        assert!(check_display("name", "Réunion 😀 du lundi", false).is_ok());
        assert!(check_display("name", "a\u{0}b", false).is_err());
        assert!(check_display("name", "evil\u{202E}txt.exe", false).is_err());
        assert!(check_display("name", "two\nlines", false).is_err());
        assert!(check_display("description", "two\nlines\twith a tab", true).is_ok());
        assert!(check_display("description", "bell\u{7}", true).is_err());
        let e = check_display("name", "x\u{1b}[31m", false).unwrap_err();
        assert!(e.to_string().contains("U+001B"), "{e}");
    }
}
