//! The status line (source, clock, notices, buffer health) and the footer key hints,
//! generated from the key table.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::theme::Theme;
use crate::app::{App, Editing};
use crate::input::hints;
use midge_model::SourceKind;

/// A notice stays this long in the status line.
const NOTICE_MS: u64 = 6_000;

pub fn draw_status(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let s = &app.snapshot;
    let mut spans = vec![Span::styled(format!(" {} ", app.title), theme.title)];
    match &s.source.kind {
        SourceKind::Embedded => spans.push(Span::styled("embedded ", theme.dim)),
        SourceKind::Remote { url } => spans.push(Span::styled(format!("{url} "), theme.dim)),
    }
    if app.snapshots_seen == 0 {
        spans.push(Span::styled("waiting for the source… ", theme.warn));
    } else if !s.source.connected {
        spans.push(Span::styled("DISCONNECTED ", theme.bad));
    }
    spans.push(Span::styled(
        format!("{} UTC ", fmt::clock(app.now_ms)),
        theme.text,
    ));
    if s.events_dropped > 0 {
        spans.push(Span::styled(
            format!("events dropped: {} ", fmt::thousands(s.events_dropped)),
            theme.warn,
        ));
    }
    if let Some(n) = &app.notice {
        if app.now_ms.saturating_sub(n.at_ms) < NOTICE_MS {
            spans.push(Span::styled(
                format!("│ {}", n.text),
                if n.error { theme.bad } else { theme.good },
            ));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn draw_footer(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let pairs: Vec<(&str, &str)> = match app.editing {
        Some(Editing::Filter) => vec![
            ("type", "filter"),
            ("Enter", "keep"),
            ("Esc", "leave"),
            ("C-u", "clear"),
        ],
        Some(Editing::TemplateName) => vec![
            ("type", "template name"),
            ("Enter", "save"),
            ("Esc", "cancel"),
        ],
        Some(Editing::JsonPath) => vec![
            ("type", "JSON path"),
            ("Enter", "keep"),
            ("Esc", "leave"),
            ("C-u", "clear"),
        ],
        Some(Editing::Publish) => vec![
            ("Tab/S-Tab", "field"),
            ("Enter", "publish"),
            ("Esc", "leave"),
            ("Space", "toggle"),
        ],
        Some(Editing::Subscribe) => vec![
            ("type", "filter"),
            ("Tab", "QoS"),
            ("Enter", "subscribe"),
            ("Esc", "leave"),
        ],
        None if app.view == crate::app::View::Connections && app.connections.detail.is_some() => {
            vec![("x", "kick"), ("Esc", "back"), ("?", "help"), ("q", "quit")]
        }
        None => hints(app.view),
    };
    let mut spans = Vec::new();
    let mut used = 0usize;
    for (k, h) in pairs {
        let w = k.chars().count() + h.chars().count() + 3;
        if used + w > usize::from(area.width) {
            break;
        }
        used += w;
        spans.push(Span::styled(format!(" {k}"), theme.key));
        spans.push(Span::styled(format!(" {h} "), theme.dim));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
