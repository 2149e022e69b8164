//! Log: the broker's tracing events, newest first, filtered by level and text.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::layout::offset;
use super::theme::Theme;
use crate::app::{App, View};
use crate::derive::payload::human_bytes;
use midge_model::Level;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let rows = app.log.rows();
    let file = app
        .log_file
        .as_ref()
        .map_or_else(String::new, |p| format!(" · file {}", p.display()));
    let trunc = if app.log.lines.truncated() {
        " · TRUNCATED"
    } else {
        ""
    };
    let extra = format!(
        "≤{} · {}/{} lines · {} / {}{trunc}{file}",
        app.log.level.label(),
        app.log.lines.len(),
        app.log.lines.max_len(),
        human_bytes(app.log.lines.bytes() as u64),
        human_bytes(app.log.lines.max_bytes() as u64)
    );
    let block = super::block(
        theme,
        super::list_title(app, theme, "Log", View::Log, &extra),
        true,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let visible = usize::from(inner.height);
    let sel = app.log.list.selected.min(rows.len().saturating_sub(1));
    let mut lines = Vec::new();
    for (pos, l) in rows
        .iter()
        .enumerate()
        .skip(offset(sel, visible))
        .take(visible)
    {
        let lvl = match l.level {
            Level::Error => theme.bad,
            Level::Warn => theme.warn,
            Level::Info => theme.good,
            Level::Debug | Level::Trace => theme.dim,
        };
        let text_style = if pos == sel {
            theme.selected
        } else {
            theme.text
        };
        lines.push(
            Line::from(vec![
                Span::styled(
                    format!("{} ", fmt::clock_ms(l.at_ms)),
                    if pos == sel {
                        theme.selected
                    } else {
                        theme.dim
                    },
                ),
                Span::styled(
                    format!("{:<5} ", l.level.label()),
                    if pos == sel { theme.selected } else { lvl },
                ),
                Span::styled(
                    format!("{}: ", l.target),
                    if pos == sel {
                        theme.selected
                    } else {
                        theme.dim
                    },
                ),
                Span::styled(l.message.clone(), text_style),
            ])
            // The selected row is highlighted across the pane, not just its text.
            .style(if pos == sel {
                theme.selected
            } else {
                ratatui::style::Style::default()
            }),
        );
    }
    if rows.is_empty() {
        lines.push(Line::from(Span::styled(
            "no log line at this level / filter",
            theme.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
