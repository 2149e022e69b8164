//! The help overlay: every binding of the key table, global first, then per view.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::theme::Theme;
use crate::app::{App, View};
use crate::input::{Scope, KEYS};

/// Keys inside the filter, the publish form and the subscribe input.
const TEXT_KEYS: &[(&str, &str)] = &[
    ("←/→", "move the cursor (Home/End, C-a/C-e: to the ends)"),
    ("BS/Del", "delete before / under the cursor; C-u clears"),
    ("Tab", "next field (publish) or next QoS (subscribe)"),
    ("Enter", "publish / subscribe / keep the filter"),
    ("Esc", "leave the field, keeping its text"),
    (
        "k=v, …",
        r"user props: a literal comma or = is written \, or \=",
    ),
];

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    let section = |title: String, scope: Scope, lines: &mut Vec<Line>| {
        lines.push(Line::from(Span::styled(title, theme.header)));
        for b in KEYS.iter().filter(|b| b.scope == scope) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<8}", b.label), theme.key),
                Span::styled(b.help, theme.text),
            ]));
        }
    };
    // The current view's keys first, so they are visible at 80×24.
    section(
        format!("{} ", app.view.title()),
        Scope::In(app.view),
        &mut lines,
    );
    section("Everywhere".to_owned(), Scope::Global, &mut lines);
    lines.push(Line::from(Span::styled("Text fields", theme.header)));
    for (k, h) in TEXT_KEYS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<8}"), theme.key),
            Span::styled(*h, theme.text),
        ]));
    }
    for v in View::ALL.iter().filter(|v| **v != app.view) {
        section(v.title().to_owned(), Scope::In(*v), &mut lines);
    }
    let w = area.width.saturating_sub(4).min(72);
    let h = area.height.saturating_sub(2);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + 1,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, r);
    let block = super::block(theme, " Help — j/k scroll, Esc closes ", true);
    let max = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_sub(h.saturating_sub(2));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((app.help_scroll.min(max), 0)),
        r,
    );
}
