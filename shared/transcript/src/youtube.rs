//! YouTube timedtext XML: `<transcript><text start="s" dur="s">` (the classic format) and
//! `<timedtext format="3"><body><p t="ms" d="ms">` (srv3). Text is XML-unescaped, then
//! cleaned like cue text (YouTube escapes markup such as `&lt;i>` and entities such as
//! `&amp;#39;` a second time).
use crate::build::{self, Draft, Finish};
use crate::input::Diag;
use crate::model::{Format, Mode, ParseError, Transcript, WarningKind};
use crate::{text, time};

pub(crate) fn looks_like(text: &str) -> bool {
    let head: String = text.chars().take(4096).collect();
    head.contains("<transcript") || head.contains("<timedtext")
}

pub(crate) fn parse(src: &str, mode: Mode, mut diag: Diag) -> Result<Transcript, ParseError> {
    let doc = roxmltree::Document::parse(src).map_err(|e| ParseError::Invalid {
        line: Some(e.pos().row),
        message: format!("invalid XML: {e}"),
    })?;
    let root = doc.root_element();
    let classic = root.has_tag_name("transcript");
    let mut drafts = Vec::new();
    // Captions are children of the root (`<text>`) or of `<body>` (`<p>`); each is read once,
    // with all the text inside it, so nesting cannot multiply the work.
    let parent = if classic {
        Some(root)
    } else {
        root.children().find(|n| n.has_tag_name("body"))
    };
    let nodes = parent
        .into_iter()
        .flat_map(|p| p.children())
        .filter(|n| n.is_element() && (n.has_tag_name("text") || n.has_tag_name("p")));
    for node in nodes {
        let line = Some(doc.text_pos_at(node.range().start).row);
        let (start, dur) = if classic {
            (
                node.attribute("start")
                    .and_then(time::decimal_seconds_to_ms),
                node.attribute("dur").and_then(time::decimal_seconds_to_ms),
            )
        } else {
            (
                node.attribute("t")
                    .and_then(|t| t.trim().parse::<u64>().ok()),
                node.attribute("d")
                    .and_then(|t| t.trim().parse::<u64>().ok()),
            )
        };
        let Some(start) = start else {
            diag.warn(
                WarningKind::InvalidEntry,
                line,
                "a caption has no readable start time; dropped",
            );
            continue;
        };
        let raw: String = node
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        let (_, text) = text::clean(&raw, false);
        drafts.push(Draft {
            start_ms: start,
            end_ms: start.saturating_add(dur.unwrap_or(0)),
            speaker: None,
            text,
            line,
            dropped: false,
        });
    }
    let language = root.attribute("lang").map(str::to_owned);
    build::finish(
        Finish {
            format: Format::YoutubeXml,
            mode,
            language,
            media_duration_ms: None,
        },
        drafts,
        diag,
    )
}
