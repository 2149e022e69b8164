//! Trace: pick a client (left) and watch its packets live (right), newest first, with
//! v5 reason codes. Tracing runs only while this view is open.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::cell;
use super::fmt;
use super::layout::{offset, trace_split};
use super::theme::Theme;
use crate::app::{App, View};
use midge_model::Direction;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [left, right] = trace_split(area);
    let block = super::block(
        theme,
        super::list_title(app, theme, "Clients", View::Trace, ""),
        true,
    );
    let inner = block.inner(left);
    frame.render_widget(block, left);
    let cands = app.trace_candidates();
    let visible = usize::from(inner.height);
    let total = cands.total();
    let sel = app.trace.list.selected.min(total.saturating_sub(1));
    let off = offset(sel, visible);
    let w = usize::from(inner.width);
    let mut lines = Vec::new();
    for pos in (off..total).take(visible) {
        let Some(id) = cands.get(pos).map(|c| c.client_id.as_str()) else {
            lines.push(Line::from(Span::styled("  …", theme.dim)));
            continue;
        };
        let traced = app.trace.client.as_deref() == Some(id);
        let style = if pos == sel {
            theme.selected
        } else if traced {
            theme.accent
        } else {
            theme.text
        };
        lines.push(Line::from(Span::styled(
            cell(&format!("{}{id}", if traced { "▶ " } else { "  " }), w),
            style,
        )));
    }
    if app.snapshot.connections.is_none() {
        lines.push(Line::from(Span::styled("n/a from this source", theme.dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);

    let rows = app.trace.rows();
    let title = match &app.trace.client {
        Some(id) => {
            let trunc = if app.trace.lines.truncated() {
                " · TRUNCATED"
            } else {
                ""
            };
            format!(
                " Packets of {id} · {}/{}{trunc} · newest first ",
                rows.len(),
                app.trace.lines.max_len()
            )
        }
        None => " Packets ".to_owned(),
    };
    let block = super::block(theme, title, false);
    let inner = block.inner(right);
    frame.render_widget(block, right);
    if app.trace.client.is_none() {
        super::centered_note(
            frame,
            inner,
            "select a client and press Enter to trace it",
            theme.dim,
        );
        return;
    }
    let lines: Vec<Line> = rows
        .iter()
        .take(usize::from(inner.height))
        .map(|t| {
            let (arrow, style) = if t.direction == Direction::In {
                ("→", theme.chart_in)
            } else {
                ("←", theme.chart_out)
            };
            let mut spans = vec![
                Span::styled(format!("{} ", fmt::clock_ms(t.at_ms)), theme.dim),
                Span::styled(format!("{arrow} {:<11}", t.packet), style),
                Span::styled(t.detail.clone(), theme.text),
            ];
            if let Some(r) = &t.reason {
                spans.push(Span::styled(
                    format!("  [{r}]"),
                    match reason_code(r) {
                        // Reason codes of 0x80 or more are failures (MQTT 5.0 §2.4).
                        Some(c) if c < 0x80 => theme.good,
                        Some(_) => theme.bad,
                        None if r.starts_with("Success") => theme.good,
                        None => theme.warn,
                    },
                ));
            }
            Line::from(spans)
        })
        .collect();
    if lines.is_empty() {
        super::centered_note(frame, inner, "waiting for packets…", theme.dim);
        return;
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The numeric code of a reason written `Name (0xNN)`.
fn reason_code(reason: &str) -> Option<u8> {
    let hex = reason.rsplit_once("(0x")?.1.strip_suffix(')')?;
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reason_codes() {
        assert_eq!(super::reason_code("Success (0x00)"), Some(0));
        assert_eq!(super::reason_code("Not authorized (0x87)"), Some(0x87));
        assert_eq!(super::reason_code("Success"), None);
    }
}
