//! Top talkers: topics (top) and clients (bottom) ranked by messages/s or bytes/s over
//! the chosen window, with their share of the total, a sparkline and subscribers.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::layout::{offset, talkers_split};
use super::theme::Theme;
use super::{cell, rcell};
use crate::app::{App, Talker, TalkersFocus, View};

const SPARK: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const SPARK_W: usize = 10;

/// A text sparkline of at most [`SPARK_W`] cells, scaled to its own peak.
fn spark(values: &[u64]) -> String {
    let per = values.len().div_ceil(SPARK_W).max(1);
    let cells: Vec<u64> = values.chunks(per).map(|c| c.iter().sum()).collect();
    let peak = cells.iter().copied().max().unwrap_or(0).max(1);
    let s: String = cells
        .iter()
        .map(|&v| {
            let i = usize::try_from((v * 8).div_ceil(peak)).unwrap_or(8).min(8);
            SPARK[i]
        })
        .collect();
    format!("{s:<SPARK_W$}")
}

fn share(t: Option<f64>) -> String {
    t.map_or_else(|| fmt::NA.to_owned(), |s| format!("{:.0}%", s * 100.0))
}

/// Subscribers of a topic, as the Topics view counts them.
fn subscribers(app: &App, topic: &str) -> String {
    super::topics::subscribers(app, topic)
}

struct Pane<'a> {
    title: &'a str,
    name: &'a str,
    last_col: &'a str,
    focused: bool,
    selected: usize,
}

fn table<K>(
    app: &App,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    pane: &Pane<'_>,
    rows: &[Talker<K>],
    label: impl Fn(&K) -> (String, String),
) {
    let t = &app.talkers;
    let extra = format!(
        "by {} over {}",
        if t.by_bytes { "bytes/s" } else { "msgs/s" },
        t.window.label()
    );
    let title = if pane.focused {
        super::list_title(app, theme, pane.title, View::TopTalkers, &extra)
    } else {
        Line::from(vec![
            Span::styled(format!(" {} ", pane.title), theme.title),
            Span::styled(format!("{extra} "), theme.dim),
        ])
    };
    let block = super::block(theme, title, pane.focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The columns after the name and the spaces between them.
    let fixed = 2 + 8 + 10 + 5 + SPARK_W + 5 + 6;
    let name_w = usize::from(inner.width).saturating_sub(fixed).max(8);
    let header = format!(
        "{} {} {} {} {} {} {}",
        rcell("#", 2),
        cell(pane.name, name_w),
        rcell("msgs/s", 8),
        rcell("bytes/s", 10),
        rcell("share", 5),
        cell("trend", SPARK_W),
        rcell(pane.last_col, 5)
    );
    let mut lines = vec![Line::from(Span::styled(header, theme.header))];
    let visible = usize::from(inner.height.saturating_sub(1));
    let sel = pane.selected.min(rows.len().saturating_sub(1));
    for (pos, r) in rows
        .iter()
        .enumerate()
        .skip(offset(sel, visible))
        .take(visible)
    {
        let style = if pane.focused && pos == sel {
            theme.selected
        } else {
            theme.text
        };
        let (name, last) = label(&r.key);
        lines.push(Line::from(Span::styled(
            format!(
                "{} {} {} {} {} {} {}",
                rcell(&(pos + 1).to_string(), 2),
                super::topic_cell(&name, name_w),
                rcell(&fmt::rate(Some(r.msgs)), 8),
                rcell(&fmt::byte_rate(Some(r.bytes)), 10),
                rcell(&share(r.share), 5),
                spark(&r.spark),
                rcell(&last, 5)
            ),
            style,
        )));
    }
    if rows.is_empty() {
        let note = if app.filter_of(View::TopTalkers).is_empty() {
            format!("  nothing moved in the last {}", t.window.label())
        } else {
            "  nothing matches the filter".to_owned()
        };
        lines.push(Line::from(Span::styled(note, theme.dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [top, bottom] = talkers_split(area);
    let focus = app.talkers.focus;
    let topics = app.top_topics();
    table(
        app,
        theme,
        frame,
        top,
        &Pane {
            title: "Top topics",
            name: "topic",
            last_col: "subs",
            focused: focus == TalkersFocus::Topics,
            selected: app.talkers.list.selected,
        },
        &topics,
        |(_, path)| (path.clone(), subscribers(app, path)),
    );
    if app.snapshot.connections.is_none() {
        let block = super::block(theme, " Top clients ", false);
        let inner = block.inner(bottom);
        frame.render_widget(block, bottom);
        super::centered_note(frame, inner, "sessions: n/a from this source", theme.dim);
        return;
    }
    let clients = app.top_clients();
    table(
        app,
        theme,
        frame,
        bottom,
        &Pane {
            title: "Top clients",
            name: "client",
            last_col: "subs",
            focused: focus == TalkersFocus::Clients,
            selected: app.talkers.clients_selected,
        },
        &clients,
        |id| {
            let subs = app
                .client(id)
                .map_or_else(|| "—".to_owned(), |c| c.subscriptions.len().to_string());
            (id.clone(), subs)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::spark;

    #[test]
    fn sparklines_scale_to_their_peak() {
        assert_eq!(spark(&[0, 4, 8]), " ▄█       ");
        // 30 buckets fold into 10 cells.
        assert_eq!(spark(&[1; 30]).chars().count(), 10);
        assert_eq!(spark(&[]), "          ");
    }
}
