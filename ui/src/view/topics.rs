//! Topics: the live topic tree (left) and the selected topic (right): its last payload
//! rendered by kind, a chart when payloads are numeric, and the payload history.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::fmt;
use super::layout::{offset, topics_split};
use super::theme::Theme;
use super::{cell, rcell};
use crate::app::{App, View};
use crate::derive::payload::{self, human_bytes};
use crate::derive::topics::{NodeId, TopicData};
use midge_topic::matches;

/// How many subscribers `topic` has, as text: the source's count when it answered for
/// this topic; counted here from every session when the source sent them all; `?` when
/// it sent only a page (the count is on its way, or the source does not count);
/// `n/a` when the source cannot see sessions.
pub(super) fn subscribers(app: &App, topic: &str) -> String {
    if let Some((_, n)) = app.snapshot.subscribers.iter().find(|(t, _)| t == topic) {
        return fmt::thousands(*n);
    }
    let Some(conns) = app.snapshot.connections.as_ref() else {
        return fmt::NA.to_owned();
    };
    if app.snapshot.page.is_some() {
        return "?".to_owned();
    }
    let n = conns
        .iter()
        .filter(|c| c.subscriptions.iter().any(|s| matches(&s.filter, topic)))
        .count();
    n.to_string()
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [left, right] = topics_split(area);
    let rows = app.topics.rows();
    let t = &app.topics.tree;
    let limits = t.limits();
    let mut extra = format!("{} kept", fmt::thousands(t.len() as u64));
    if t.capped() {
        extra.push_str(&format!(
            " · CAPPED at {}: {} msgs not kept",
            fmt::thousands(limits.max_topics as u64),
            fmt::thousands(t.capped_messages())
        ));
    }
    let block = super::block(
        theme,
        super::list_title(app, theme, "Topics", View::Topics, &extra),
        true,
    );
    let inner = block.inner(left);
    frame.render_widget(block, left);
    let visible = usize::from(inner.height);
    let sel = app.topics.position(&rows);
    let off = offset(sel, visible);
    let w = usize::from(inner.width);
    let mut lines = Vec::new();
    for (pos, row) in rows.iter().enumerate().skip(off).take(visible) {
        let Some(node) = t.node(row.id) else { continue };
        let marker = if node.children.is_empty() {
            "  "
        } else if node.expanded {
            "▾ "
        } else {
            "▸ "
        };
        let name = if app.filter_of(View::Topics).is_empty() {
            node.name.clone()
        } else {
            t.path(row.id)
        };
        let name = if name.is_empty() {
            "(empty)".to_owned()
        } else {
            name
        };
        let retained = if node.data.as_ref().is_some_and(|d| d.retained) {
            "R"
        } else {
            " "
        };
        let rate = node
            .data
            .as_ref()
            .map_or(String::new(), |d| fmt::rate(Some(d.rate(app.now_ms))));
        let stats = format!(
            " {} {} {retained}",
            rcell(&fmt::thousands(node.subtree_count), 7),
            rcell(&rate, 7)
        );
        let indent = "  ".repeat(row.depth);
        let room = w.saturating_sub(stats.chars().count());
        let text = format!("{}{stats}", cell(&format!("{indent}{marker}{name}"), room));
        let style = if pos == sel {
            theme.selected
        } else if node.data.is_none() {
            theme.dim
        } else {
            theme.text
        };
        lines.push(Line::from(Span::styled(text, style)));
    }
    if rows.is_empty() && t.is_empty() {
        lines.push(Line::from(Span::styled(
            "no messages seen yet — try:",
            theme.dim,
        )));
        // Two lines: the list pane is narrow at 80 columns.
        let cmd = super::try_command(app, "mosquitto_pub", "");
        lines.push(Line::from(Span::styled(
            cmd.trim_end().to_owned(),
            theme.text,
        )));
        lines.push(Line::from(Span::styled("  -t test -m hi", theme.text)));
    } else if rows.is_empty() {
        lines.push(Line::from(Span::styled("no topic matches", theme.dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    let selected = rows.get(sel).map(|r| r.id);
    draw_detail(app, theme, frame, right, selected);
}

fn draw_detail(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, id: Option<NodeId>) {
    let t = &app.topics.tree;
    let Some((id, data)) = id.and_then(|id| Some((id, t.node(id)?.data.as_ref()?))) else {
        let block = super::block(theme, " Topic ", false);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        // A branch: what is below it, and how to get there.
        if let Some((id, node)) = id.and_then(|id| Some((id, t.node(id)?))) {
            let lines = vec![
                Line::from(Span::styled(format!("{}/", t.path(id)), theme.accent)),
                Line::from(Span::styled(
                    format!(
                        "{} msgs in {} topics below",
                        fmt::thousands(node.subtree_count),
                        t.topics_below(id)
                    ),
                    theme.text,
                )),
                Line::from(Span::styled(
                    if node.expanded {
                        "j/↓ to a topic below to see its payloads"
                    } else {
                        "Space or l/→ expands it"
                    },
                    theme.dim,
                )),
            ];
            frame.render_widget(Paragraph::new(lines), inner);
            return;
        }
        super::centered_note(frame, inner, "select a topic with messages", theme.dim);
        return;
    };
    let path = t.path(id);
    let numeric: Vec<(f64, f64)> = data
        .history
        .iter()
        .filter_map(|h| payload::parse_number(&h.payload).map(|v| (h.at_ms as f64 / 1000.0, v)))
        .collect();
    let chart_h = if numeric.len() >= 2 { 8 } else { 0 };
    let [head, last, chart, hist] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Fill(1),
        Constraint::Length(chart_h),
        Constraint::Fill(1),
    ])
    .areas(area);
    let subs = subscribers(app, &path);
    let head_lines = vec![
        Line::from(Span::styled(path.clone(), theme.accent)),
        Line::from(Span::styled(
            format!(
                "{} msgs · {} · {} subscribers{} · last {} ago",
                fmt::thousands(data.count),
                fmt::rate(Some(data.rate(app.now_ms))),
                subs,
                if data.retained { " · retained" } else { "" },
                fmt::age(app.now_ms, data.last_ms)
            ),
            theme.text,
        )),
    ];
    frame.render_widget(
        Paragraph::new(head_lines).block(super::block(theme, " Topic ", false)),
        head,
    );
    draw_last(app, theme, frame, last, data, &path);
    if chart_h > 0 {
        draw_chart(theme, frame, chart, &numeric);
    }
    draw_history(app, theme, frame, hist, data, &path);
}

fn draw_last(
    app: &App,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    data: &TopicData,
    topic: &str,
) {
    let Some(h) = data.history.back() else { return };
    if app.decoders.for_topic(topic).is_some() {
        draw_decoded(app, theme, frame, area, h, topic);
        return;
    }
    let kind = match payload::classify(&h.payload) {
        payload::PayloadKind::Empty => "empty",
        payload::PayloadKind::Number(_) => "number",
        payload::PayloadKind::Json(_) => "JSON",
        payload::PayloadKind::Text(_) => "text",
        payload::PayloadKind::Binary => "binary, hex",
    };
    let clipped = if h.clipped() {
        format!(" · TRUNCATED to {}", human_bytes(h.payload.len() as u64))
    } else {
        String::new()
    };
    let title = format!(
        " Last payload · {kind} · {}{clipped} · {} ",
        human_bytes(h.full_len as u64),
        fmt::clock(h.at_ms)
    );
    let block = super::block(theme, title, false);
    let room = usize::from(block.inner(area).height);
    let lines: Vec<Line> = payload::lines(&h.payload, room)
        .into_iter()
        .map(|l| Line::from(Span::styled(l, theme.text)))
        .collect();
    let _ = app;
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The last payload through its topic's decoder; a decode error in red, then the raw
/// bytes.
fn draw_decoded(
    app: &App,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    h: &crate::derive::topics::HistoryEntry,
    topic: &str,
) {
    let t = &app.topics;
    let editing = app.editing == Some(crate::app::Editing::JsonPath);
    let mut title = vec![Span::styled(" Last payload · ", theme.title)];
    let mut lines: Vec<Line> = Vec::new();
    if let Some(node) = app.edge_nodes.describe(topic) {
        lines.push(Line::from(Span::styled(node, theme.accent)));
    }
    let room = usize::from(area.height.saturating_sub(2)).saturating_sub(lines.len());
    let Some((d, body, failed)) =
        crate::decode::lines(&app.decoders, topic, &h.payload, &t.json_path, room)
    else {
        return;
    };
    title.push(Span::styled(
        format!(
            "{} · {} · {} ",
            d.label(),
            human_bytes(h.full_len as u64),
            fmt::clock(h.at_ms)
        ),
        theme.title,
    ));
    if d == crate::decode::Decoder::Json && (editing || !t.json_path.is_empty()) {
        title.push(Span::styled("path ", theme.dim));
        if editing {
            let w = t.json_path.chars().count() + 1;
            title.extend(super::edit_spans(
                &t.json_path,
                t.path_back,
                w,
                theme.accent,
            ));
            title.push(Span::raw(" "));
        } else {
            title.push(Span::styled(format!("{} ", t.json_path), theme.accent));
        }
    }
    for (i, l) in body.into_iter().enumerate() {
        let style = if failed && i == 0 {
            theme.bad
        } else {
            theme.text
        };
        lines.push(Line::from(Span::styled(l, style)));
    }
    frame.render_widget(
        Paragraph::new(lines).block(super::block(theme, Line::from(title), false)),
        area,
    );
}

fn draw_chart(theme: &Theme, frame: &mut Frame, area: Rect, points: &[(f64, f64)]) {
    let (x0, x1) = (
        points.first().map_or(0.0, |p| p.0),
        points.last().map_or(1.0, |p| p.0),
    );
    let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.1).max(0.5);
    let ds = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.chart_in)
        .data(points);
    let chart = Chart::new(vec![ds])
        .block(super::block(theme, " Values ", false))
        .x_axis(Axis::default().bounds([x0, x1.max(x0 + 1.0)]))
        .y_axis(
            Axis::default()
                .style(theme.dim)
                .bounds([lo - pad, hi + pad])
                .labels([format!("{:.1}", lo - pad), format!("{:.1}", hi + pad)]),
        );
    frame.render_widget(chart, area);
}

fn draw_history(
    app: &App,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    data: &TopicData,
    path: &str,
) {
    let t = app.topics.tree.limits();
    let trunc = if data.history_dropped > 0 {
        format!(
            " · TRUNCATED ({} older dropped)",
            fmt::thousands(data.history_dropped)
        )
    } else {
        String::new()
    };
    let title = format!(
        " History {}/{}{trunc} · budget {} / {} · J/K ",
        data.history.len(),
        t.history_per_topic,
        human_bytes(app.topics.tree.history_bytes() as u64),
        human_bytes(t.history_budget as u64)
    );
    let block = super::block(theme, title, false);
    let inner = block.inner(area);
    let room = usize::from(inner.height);
    let skip = app
        .topics
        .history_scroll
        .min(data.history.len().saturating_sub(1));
    let w = usize::from(inner.width).saturating_sub(15);
    let lines: Vec<Line> = data
        .history
        .iter()
        .rev()
        .skip(skip)
        .take(room)
        .map(|h| {
            Line::from(vec![
                Span::styled(format!("{} ", fmt::clock_ms(h.at_ms)), theme.dim),
                Span::styled(
                    crate::decode::summary(&app.decoders, path, &h.payload).map_or_else(
                        || payload::preview(&h.payload, w),
                        |s| payload::clip_chars(&s, w),
                    ),
                    theme.text,
                ),
            ])
        })
        .collect();
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), inner);
}
