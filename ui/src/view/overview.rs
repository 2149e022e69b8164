//! Overview: the source, uptime and version, client and message gauges, and sparklines
//! of the rates over a selectable range.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::fmt::{self, NA};
use super::theme::Theme;
use crate::app::{App, RANGES_MS};
use crate::derive::rates::Series;

fn kv<'a>(theme: &Theme, k: &'a str, v: String) -> [Span<'a>; 2] {
    [
        Span::styled(k, theme.dim),
        Span::styled(format!("{v}  "), theme.text),
    ]
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let s = &app.snapshot;
    let c = &s.counters;
    let info_h = if c.datagrams_in.is_some() { 8 } else { 7 };
    let [info, charts] =
        Layout::vertical([Constraint::Length(info_h), Constraint::Min(4)]).areas(area);
    let uptime = s
        .source
        .started_at_ms
        .map_or_else(|| NA.to_owned(), |t| fmt::age(app.now_ms, t));
    let listeners = if s.source.listeners.is_empty() {
        NA.to_owned()
    } else {
        s.source.listeners.join(", ")
    };
    let cur = app.rates.current();
    let mut l1: Vec<Span> = Vec::new();
    l1.extend(kv(
        theme,
        "version ",
        s.source.version.clone().unwrap_or_else(|| NA.to_owned()),
    ));
    l1.extend(kv(theme, "uptime ", uptime));
    l1.extend(kv(theme, "listeners ", listeners));
    let mut l2: Vec<Span> = Vec::new();
    l2.extend(kv(theme, "clients online ", fmt::count(c.clients_online)));
    l2.extend(kv(theme, "offline ", fmt::count(c.clients_offline)));
    l2.extend(kv(theme, "total ", fmt::count(c.clients_total)));
    l2.extend(kv(
        theme,
        "connections since start ",
        fmt::count(c.connections_total),
    ));
    let mut l3: Vec<Span> = Vec::new();
    l3.extend(kv(theme, "subscriptions ", fmt::count(c.subscriptions)));
    l3.extend(kv(theme, "retained ", fmt::count(c.retained)));
    l3.extend(kv(theme, "auth failures ", fmt::count(c.auth_failures)));
    let mut l4: Vec<Span> = Vec::new();
    l4.extend(kv(
        theme,
        "dropped ",
        format!(
            "{} ({})",
            fmt::count(c.publish_dropped),
            fmt::rate(cur.dropped)
        ),
    ));
    l4.extend(kv(theme, "received ", fmt::count(c.messages_received)));
    l4.extend(kv(theme, "sent ", fmt::count(c.messages_sent)));
    // The MQTT-SN gateway's datagrams, when the source has a gateway.
    let mut l6: Vec<Span> = Vec::new();
    if let (Some(din), Some(dout)) = (c.datagrams_in, c.datagrams_out) {
        l6.extend(kv(
            theme,
            "datagrams in ",
            format!("{} ({})", fmt::thousands(din), fmt::rate(cur.datagrams_in)),
        ));
        l6.extend(kv(
            theme,
            "out ",
            format!(
                "{} ({})",
                fmt::thousands(dout),
                fmt::rate(cur.datagrams_out)
            ),
        ));
        l6.extend(kv(
            theme,
            "dropped ",
            format!(
                "{} ({})",
                fmt::count(c.datagrams_dropped),
                fmt::rate(cur.datagrams_dropped)
            ),
        ));
    }
    let mut l5: Vec<Span> = Vec::new();
    match &s.store {
        Some(st) => {
            l5.extend(kv(
                theme,
                "store ",
                format!(
                    "{} ({})",
                    crate::derive::payload::human_bytes(st.bytes_on_disk),
                    st.sync
                ),
            ));
            l5.extend(kv(theme, "commits ", format!("{}/s", st.commits_per_sec)));
            l5.extend(kv(theme, "fsync ", format!("{} µs", st.last_fsync_micros)));
            // The window a crash would lose: accepted, not yet on disk, and for how long.
            // Nothing pending means nothing to lose, whatever the last flush's age.
            let window = if st.pending_ops == 0 {
                "nothing (all on disk)".to_owned()
            } else {
                let since = match app.now_ms.checked_sub(st.last_durable_ms) {
                    _ if st.last_durable_ms == 0 => NA.to_owned(),
                    Some(ms) if ms < 10_000 => format!("{ms} ms"),
                    _ => fmt::age(app.now_ms, st.last_durable_ms),
                };
                format!(
                    "{} ops / {} · last flush {since} ago",
                    st.pending_ops,
                    crate::derive::payload::human_bytes(st.pending_bytes)
                )
            };
            l5.extend(kv(theme, "not yet on disk ", window));
            if st.failed {
                l5.push(Span::styled(
                    "STORE FAILING: QoS≥1 to persistent sessions refused",
                    theme.bad,
                ));
            }
        }
        None => l5.extend(kv(
            theme,
            "store ",
            "in memory (nothing survives a restart)".to_owned(),
        )),
    }
    let mut lines = vec![
        Line::from(l1),
        Line::from(l2),
        Line::from(l3),
        Line::from(l4),
        Line::from(l5),
    ];
    if !l6.is_empty() {
        lines.push(Line::from(l6));
    }
    frame.render_widget(
        Paragraph::new(lines).block(super::block(theme, " Broker ", false)),
        info,
    );

    let range = RANGES_MS[app.overview.range % RANGES_MS.len()];
    let charts_title = format!("last {} min", range / 60_000);
    let wide = charts.width >= 120;
    let cells: Vec<Rect> = if wide {
        let [top, bottom] =
            Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(charts);
        let [a, b] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
        let [c2, d] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(bottom);
        vec![a, b, c2, d]
    } else {
        Layout::vertical([Constraint::Fill(1); 4])
            .split(charts)
            .to_vec()
    };
    let specs = [
        (
            Series::MsgsIn,
            "messages in",
            fmt::rate(cur.msgs_in),
            theme.chart_in,
        ),
        (
            Series::MsgsOut,
            "messages out",
            fmt::rate(cur.msgs_out),
            theme.chart_out,
        ),
        (
            Series::BytesIn,
            "bytes in",
            fmt::byte_rate(cur.bytes_in),
            theme.chart_in,
        ),
        (
            Series::BytesOut,
            "bytes out",
            fmt::byte_rate(cur.bytes_out),
            theme.chart_out,
        ),
    ];
    for ((series, name, now, style), r) in specs.into_iter().zip(cells) {
        // Borders take one cell on each side.
        let width = usize::from(r.width.saturating_sub(2));
        let data = app.rates.series(series, app.now_ms, range, width);
        // The peak gives the bars a scale (a sparkline has no axis).
        let peak = data
            .iter()
            .flatten()
            .copied()
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let peak = match series {
            Series::BytesIn | Series::BytesOut => fmt::byte_rate(peak),
            _ => fmt::rate(peak),
        };
        let mut spans = vec![
            Span::styled(format!(" {name} "), theme.title),
            Span::styled(format!("{now} "), theme.text),
            Span::styled(format!("· {charts_title} [ ] "), theme.dim),
        ];
        if data.iter().any(Option::is_some) {
            spans.push(Span::styled(format!("· peak {peak} "), theme.dim));
        }
        let block = super::block(theme, Line::from(spans), false);
        let inner = block.inner(r);
        frame.render_widget(block, r);
        if data.iter().all(Option::is_none) {
            let note = if app.snapshot.counters.messages_received.is_none() {
                "n/a from this source"
            } else {
                "collecting…"
            };
            super::centered_note(frame, inner, note, theme.dim);
            continue;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "bar heights"
        )]
        let bars: Vec<u64> = data
            .iter()
            .map(|v| v.map_or(0, |v| v.max(0.0).round() as u64))
            .collect();
        frame.render_widget(Sparkline::default().data(&bars).style(style), inner);
    }
}
