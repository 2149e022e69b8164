//! Slow consumers: sessions ranked by queue fill and drop rate, and for the selected
//! one which topics were dropped and why.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::layout::{offset, slow_split};
use super::theme::Theme;
use super::{cell, rcell};
use crate::app::{App, View};
use crate::derive::slow::rank;

fn bar(fill: f64, w: usize) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a bar of a few cells"
    )]
    let n = ((fill.clamp(0.0, 1.0) * w as f64).round() as usize).min(w);
    format!("{}{}", "█".repeat(n), "░".repeat(w - n))
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [top, bottom] = slow_split(area);
    if app.snapshot.connections.is_none() {
        let block = super::block(theme, " Slow consumers ", false);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        super::centered_note(
            frame,
            inner,
            "sessions and drops: n/a from this source",
            theme.dim,
        );
        return;
    }
    let rows = rank(&app.snapshot, &app.client_rates);
    let block = super::block(
        theme,
        super::list_title(
            app,
            theme,
            "Slow consumers",
            View::Slow,
            &format!("{} with queue or drops", rows.len()),
        ),
        true,
    );
    let inner = block.inner(top);
    frame.render_widget(block, top);
    let header = format!(
        "{} {} {} {} {} {}",
        cell("client", 18),
        cell("queue fill", 12),
        rcell("queued", 11),
        rcell("dropped", 9),
        rcell("drop/s", 8),
        "top reason"
    );
    let mut lines = vec![Line::from(Span::styled(header, theme.header))];
    let visible = usize::from(inner.height.saturating_sub(1));
    let sel = app.slow.list.selected.min(rows.len().saturating_sub(1));
    for (pos, r) in rows
        .iter()
        .enumerate()
        .skip(offset(sel, visible))
        .take(visible)
    {
        let style = if pos == sel {
            theme.selected
        } else if r.fill >= 0.8 || r.drop_rate.unwrap_or(0.0) > 0.0 {
            theme.bad
        } else if r.fill >= 0.5 {
            theme.warn
        } else {
            theme.text
        };
        let reason = r.drops.first().map_or("—", |d| d.reason.label());
        let who = cell(
            &format!("{}{}", if r.online { "● " } else { "○ " }, r.client_id),
            18,
        );
        let rest = format!(
            " {} {} {} {}",
            rcell(&format!("{}/{}", r.queued, r.capacity), 11),
            rcell(&fmt::thousands(r.dropped), 9),
            rcell(
                &r.drop_rate
                    .map_or_else(|| "…".to_owned(), |d| format!("{d:.1}")),
                8
            ),
            reason
        );
        // The bar keeps its fill colour on the selected row too.
        let level = if r.fill >= 0.8 {
            theme.bad
        } else if r.fill >= 0.5 {
            theme.warn
        } else {
            theme.good
        };
        let bar_style = level.fg.map_or(style, |c| style.fg(c));
        lines.push(Line::from(vec![
            Span::styled(format!("{who} "), style),
            Span::styled(bar(r.fill, 12), bar_style),
            Span::styled(rest, style),
        ]));
    }
    if rows.is_empty() {
        lines.push(Line::from(Span::styled(
            "no session is queueing or dropping",
            theme.good,
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);

    let selected = rows.get(sel);
    let title = selected.map_or_else(
        || " Drops ".to_owned(),
        |r| format!(" Drops for {} ", r.client_id),
    );
    let block = super::block(theme, title, false);
    let inner = block.inner(bottom);
    frame.render_widget(block, bottom);
    let Some(r) = selected else { return };
    let topic_w = usize::from(inner.width)
        .saturating_sub(11 + 9 + 10 + 3)
        .max(8);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{} {} {} {}",
            cell("topic", topic_w),
            cell("reason", 11),
            rcell("count", 9),
            rcell("last", 9)
        ),
        theme.header,
    ))];
    for d in &r.drops {
        lines.push(Line::from(Span::styled(
            format!(
                "{} {} {} {}",
                super::topic_cell(&d.topic, topic_w),
                cell(d.reason.label(), 11),
                rcell(&fmt::thousands(d.count), 9),
                rcell(&format!("{} ago", fmt::age(app.now_ms, d.last_ms)), 9)
            ),
            theme.text,
        )));
    }
    if r.drops.is_empty() {
        lines.push(Line::from(Span::styled(
            "no drop recorded for this client (its queue is filling)",
            theme.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
