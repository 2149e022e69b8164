//! QoS in flight: every QoS 1/2 exchange across sessions, oldest first (old ones stand
//! out), and the queued counts of offline sessions.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::layout::{inflight_split, offset};
use super::theme::Theme;
use super::{cell, rcell};
use crate::app::{App, View};
use midge_model::Direction;

/// Exchanges older than this are highlighted; twice as old, alarming.
const OLD_MS: u64 = 10_000;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [top, bottom] = inflight_split(area);
    let Some(list) = &app.snapshot.inflight else {
        let block = super::block(theme, " QoS in flight ", false);
        let inner = block.inner(top);
        frame.render_widget(block, top);
        super::centered_note(
            frame,
            inner,
            "in-flight messages: n/a from this source",
            theme.dim,
        );
        draw_queues(app, theme, frame, bottom);
        return;
    };
    let rows = app.inflight_rows();
    let old = rows
        .iter()
        .filter(|&&i| {
            list.get(i)
                .is_some_and(|e| app.now_ms.saturating_sub(e.since_ms) >= OLD_MS)
        })
        .count();
    let extra = format!(
        "{} in flight · {old} older than {}s",
        rows.len(),
        OLD_MS / 1000
    );
    let block = super::block(
        theme,
        super::list_title(app, theme, "QoS in flight", View::Inflight, &extra),
        true,
    );
    let inner = block.inner(top);
    frame.render_widget(block, top);
    let topic_w = usize::from(inner.width).saturating_sub(54).max(8);
    let header = format!(
        "{} {} {} {} {} {} {} {}",
        cell("client", 18),
        cell("dir", 3),
        rcell("pid", 5),
        cell("qos", 3),
        cell("awaiting", 8),
        rcell("age", 7),
        rcell("rs", 3),
        cell("topic", topic_w)
    );
    let mut lines = vec![Line::from(Span::styled(header, theme.header))];
    let visible = usize::from(inner.height.saturating_sub(1));
    let sel = app.inflight.list.selected.min(rows.len().saturating_sub(1));
    for (pos, &i) in rows
        .iter()
        .enumerate()
        .skip(offset(sel, visible))
        .take(visible)
    {
        let Some(e) = list.get(i) else { continue };
        let age = app.now_ms.saturating_sub(e.since_ms);
        let style = if pos == sel {
            theme.selected
        } else if age >= 2 * OLD_MS || e.resends > 0 {
            theme.bad
        } else if age >= OLD_MS {
            theme.warn
        } else {
            theme.text
        };
        let text = format!(
            "{} {} {} {} {} {} {} {}",
            cell(&e.client_id, 18),
            cell(
                if e.direction == Direction::Out {
                    "out"
                } else {
                    "in"
                },
                3
            ),
            rcell(&e.packet_id.to_string(), 5),
            cell(&e.qos.to_string(), 3),
            cell(e.state.label(), 8),
            rcell(&fmt::duration(age), 7),
            rcell(&e.resends.to_string(), 3),
            super::topic_cell(&e.topic, topic_w)
        );
        lines.push(Line::from(Span::styled(text, style)));
    }
    if rows.is_empty() {
        lines.push(Line::from(Span::styled("nothing in flight", theme.dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    draw_queues(app, theme, frame, bottom);
}

fn draw_queues(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = super::block(theme, " Offline sessions: queued ", false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(conns) = &app.snapshot.connections else {
        super::centered_note(frame, inner, "n/a from this source", theme.dim);
        return;
    };
    // From the rows present: a paging source adds offline sessions with queued messages.
    let mut seen = std::collections::HashSet::new();
    let mut offline: Vec<_> = conns
        .iter()
        .filter(|c| !c.online && seen.insert(c.client_id.as_str()))
        .collect();
    offline.sort_by(|a, b| {
        b.queued
            .cmp(&a.queued)
            .then_with(|| a.client_id.cmp(&b.client_id))
    });
    let spans: Vec<Span> = offline
        .iter()
        .map(|c| {
            let style = if c.queue_capacity > 0 && c.queued >= c.queue_capacity {
                theme.bad
            } else {
                theme.text
            };
            Span::styled(
                format!("{} {}/{}   ", c.client_id, c.queued, c.queue_capacity),
                style,
            )
        })
        .collect();
    let line = if spans.is_empty() {
        Line::from(Span::styled("no offline sessions", theme.dim))
    } else {
        Line::from(spans)
    };
    frame.render_widget(
        Paragraph::new(line).wrap(ratatui::widgets::Wrap { trim: true }),
        inner,
    );
}
