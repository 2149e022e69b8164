//! Bridges: each configured bridge's state, remote address, round trip, backlog and
//! forwarding rates in a table, and below it the selected bridge's detail: drops by
//! reason, connection history and the last error.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::layout::{bridges_split, offset};
use super::theme::Theme;
use super::{cell, rcell};
use crate::app::{App, View};
use crate::derive::payload::human_bytes;
use midge_model::{BridgeInfo, BridgeState};

fn state_style(theme: &Theme, s: BridgeState) -> ratatui::style::Style {
    match s {
        BridgeState::Up => theme.good,
        BridgeState::Connecting => theme.warn,
        BridgeState::Down => theme.bad,
        BridgeState::Stopped => theme.dim,
    }
}

fn rtt(b: &BridgeInfo) -> String {
    match b.rtt_micros {
        None => "—".to_owned(),
        Some(us) if us < 10_000 => format!("{:.1} ms", us as f64 / 1000.0),
        Some(us) => format!("{} ms", us / 1000),
    }
}

fn oldest(app: &App, b: &BridgeInfo) -> String {
    b.oldest_queued_ms
        .map_or_else(|| "—".to_owned(), |t| fmt::age(app.now_ms, t))
}

fn drops_total(b: &BridgeInfo) -> u64 {
    b.dropped.iter().map(|(_, n)| n).sum()
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(list) = &app.snapshot.bridges else {
        let block = super::block(theme, " Bridges ", false);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        super::centered_note(
            frame,
            inner,
            "bridges: not available from this source",
            theme.dim,
        );
        return;
    };
    if list.is_empty() {
        let block = super::block(theme, " Bridges ", false);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        super::centered_note(
            frame,
            inner,
            "no bridges configured — add a [[bridge]] section to the config",
            theme.dim,
        );
        return;
    }
    let [top, bottom] = bridges_split(area);
    let rows = app.bridge_rows();
    let up = list.iter().filter(|b| b.state == BridgeState::Up).count();
    let block = super::block(
        theme,
        super::list_title(
            app,
            theme,
            "Bridges",
            View::Bridges,
            &format!("{} · {up} up", list.len()),
        ),
        true,
    );
    let inner = block.inner(top);
    frame.render_widget(block, top);
    // The remote address and queued bytes are in the detail; the table shows them when
    // there is room.
    let fixed = 14 + 11 + 8 + 9 + 7 + 8 + 8 + 6;
    let show_bytes = usize::from(inner.width) >= fixed + 10;
    let remote_w = usize::from(inner.width).saturating_sub(fixed + 10 + 1);
    let show_remote = show_bytes && remote_w >= 16;
    let mut header = format!("{} {} ", cell("name", 13), cell("state", 10));
    if show_remote {
        header.push_str(&format!("{} ", cell("remote", remote_w)));
    }
    header.push_str(&format!("{} {} ", rcell("rtt", 7), rcell("queued", 8)));
    if show_bytes {
        header.push_str(&format!("{} ", rcell("bytes", 9)));
    }
    header.push_str(&format!(
        "{} {} {} {}",
        rcell("oldest", 6),
        rcell("in/s", 7),
        rcell("out/s", 7),
        rcell("drops", 6)
    ));
    let mut lines = vec![Line::from(Span::styled(header, theme.header))];
    let visible = usize::from(inner.height.saturating_sub(1));
    let sel = app.bridges.list.selected.min(rows.len().saturating_sub(1));
    for (pos, &i) in rows
        .iter()
        .enumerate()
        .skip(offset(sel, visible))
        .take(visible)
    {
        let Some(b) = list.get(i) else { continue };
        let (rin, rout) = app.bridge_rates.rates(&b.name);
        let base = if pos == sel {
            theme.selected
        } else if b.queued_messages > 0 && b.state != BridgeState::Up {
            theme.warn
        } else {
            theme.text
        };
        let state = if pos == sel {
            base
        } else {
            state_style(theme, b.state)
        };
        let mut spans = vec![
            Span::styled(format!("{} ", cell(&b.name, 13)), base),
            Span::styled(format!("{} ", cell(b.state.label(), 10)), state),
        ];
        if show_remote {
            let remote = b.remote.clone().unwrap_or_else(|| "—".to_owned());
            spans.push(Span::styled(format!("{} ", cell(&remote, remote_w)), base));
        }
        let rate = |r: Option<f64>| r.map_or_else(|| "…".to_owned(), |r| fmt::rate(Some(r)));
        let mut rest = format!(
            "{} {} ",
            rcell(&rtt(b), 7),
            rcell(&fmt::thousands(b.queued_messages), 8)
        );
        if show_bytes {
            rest.push_str(&format!("{} ", rcell(&human_bytes(b.queued_bytes), 9)));
        }
        rest.push_str(&format!(
            "{} {} {} {}",
            rcell(&oldest(app, b), 6),
            rcell(&rate(rin), 7),
            rcell(&rate(rout), 7),
            rcell(&fmt::thousands(drops_total(b)), 6)
        ));
        spans.push(Span::styled(rest, base));
        lines.push(Line::from(spans));
    }
    if rows.is_empty() {
        lines.push(Line::from(Span::styled(
            "  no bridge matches the filter",
            theme.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);

    let selected = rows.get(sel).and_then(|&i| list.get(i));
    let title = selected.map_or_else(|| " Bridge ".to_owned(), |b| format!(" Bridge {} ", b.name));
    let block = super::block(theme, title, false);
    let inner = block.inner(bottom);
    frame.render_widget(block, bottom);
    if let Some(b) = selected {
        frame.render_widget(Paragraph::new(detail(app, theme, b)), inner);
    }
}

fn detail<'a>(app: &App, theme: &Theme, b: &'a BridgeInfo) -> Vec<Line<'a>> {
    let dim = |s: &'a str| Span::styled(s, theme.dim);
    let text = |s: String| Span::styled(s, theme.text);
    let (rin, rout) = app.bridge_rates.rates(&b.name);
    let connected = match b.connected_since_ms {
        Some(t) => format!("since {} ({} ago)", fmt::clock(t), fmt::age(app.now_ms, t)),
        None => "not connected".to_owned(),
    };
    let drops = if b.dropped.is_empty() {
        "none".to_owned()
    } else {
        b.dropped
            .iter()
            .map(|(why, n)| format!("{why} {}", fmt::thousands(*n)))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    vec![
        Line::from(vec![
            Span::styled(format!("{} ", b.state.label()), state_style(theme, b.state)),
            text(format!(
                "{}  MQTT {}  ",
                b.remote.as_deref().unwrap_or("—"),
                b.protocol.label()
            )),
            dim("client id "),
            text(b.client_id.clone()),
        ]),
        Line::from(vec![
            dim("connection "),
            text(format!("{connected}  ")),
            dim("connects "),
            text(format!("{}  ", b.connects)),
            dim("rtt "),
            text(rtt(b)),
        ]),
        Line::from(vec![
            dim("forwarded in "),
            text(format!(
                "{} ({})  ",
                fmt::thousands(b.forwarded_in),
                fmt::rate(rin)
            )),
            dim("out "),
            text(format!(
                "{} ({})",
                fmt::thousands(b.forwarded_out),
                fmt::rate(rout)
            )),
        ]),
        Line::from(vec![
            dim("queued "),
            text(format!(
                "{} msgs / {}  ",
                fmt::thousands(b.queued_messages),
                human_bytes(b.queued_bytes)
            )),
            dim("oldest "),
            text(match b.oldest_queued_ms {
                Some(_) => format!("{} ago", oldest(app, b)),
                None => "—".to_owned(),
            }),
        ]),
        Line::from(vec![
            dim("dropped "),
            Span::styled(
                drops,
                if b.dropped.is_empty() {
                    theme.text
                } else {
                    theme.warn
                },
            ),
        ]),
        Line::from(match &b.last_error {
            Some(e) => vec![dim("last error "), Span::styled(e.clone(), theme.bad)],
            None => vec![dim("last error "), text("none".to_owned())],
        }),
    ]
}
