//! Connections: every session, online and offline, sortable by any column and filtered
//! by typing; the columns that fit the width are shown, most useful first.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::layout::offset;
use super::theme::Theme;
use super::{cell, rcell};
use crate::app::{App, View};
use crate::derive::connections::{Column, ColumnExt};
use midge_model::ConnectionInfo;

/// The columns that fit `width`, in display order, with their widths.
fn fit(width: u16) -> Vec<(Column, usize)> {
    let mut cols: Vec<Column> = Column::ALL.to_vec();
    let total = |cols: &[Column]| cols.iter().map(|c| c.width() + 1).sum::<u16>();
    while total(&cols) > width && cols.len() > 1 {
        if let Some((i, _)) = cols.iter().enumerate().min_by_key(|(_, c)| c.priority()) {
            cols.remove(i);
        }
    }
    // Spread what is left over onto the client id.
    let spare = width.saturating_sub(total(&cols));
    cols.into_iter()
        .map(|c| {
            (
                c,
                usize::from(
                    c.width()
                        + if c == Column::ClientId {
                            spare.min(8)
                        } else {
                            0
                        },
                ),
            )
        })
        .collect()
}

fn value(app: &App, c: &ConnectionInfo, col: Column) -> String {
    match col {
        Column::ClientId => {
            let own = app.snapshot.source.own_client_id.as_deref() == Some(c.client_id.as_str());
            // An MQTT-SN client's sleep state (MQTT-SN 1.2 section 6.14) beside its id.
            let sn =
                c.sn.as_ref()
                    .map(|sn| format!(" ({})", sn.state.label()))
                    .unwrap_or_default();
            format!(
                "{}{}{}{sn}",
                if c.online { "● " } else { "○ " },
                c.client_id,
                if own { " (you)" } else { "" }
            )
        }
        Column::Address => {
            let addr = c.address.clone().unwrap_or_else(|| "—".to_owned());
            match c.transport.as_deref() {
                // `mqtt-sn/udp`: the protocol column says SN, the address its carrier.
                Some(t) => format!("{} {addr}", t.rsplit('/').next().unwrap_or(t)),
                None => addr,
            }
        }
        Column::Protocol => crate::derive::connections::protocol_label(c).to_owned(),
        Column::Username => c.username.clone().unwrap_or_else(|| "—".to_owned()),
        Column::Tls => if c.tls { "yes" } else { "no" }.to_owned(),
        Column::KeepAlive => c.keep_alive_secs.to_string(),
        Column::Since => fmt::age(app.now_ms, c.connected_since_ms),
        Column::Subs => c.subscriptions.len().to_string(),
        Column::MsgsIn => fmt::thousands(c.messages_in),
        Column::MsgsOut => fmt::thousands(c.messages_out),
        Column::Rate => app
            .client_rates
            .rate(&c.client_id)
            .map_or_else(|| "…".to_owned(), |r| fmt::rate(Some(r))),
        Column::Inflight => format!("{}/{}", c.inflight_out, c.inflight_in),
        Column::Queued => c.queued.to_string(),
    }
}

fn right_aligned(col: Column) -> bool {
    !matches!(
        col,
        Column::ClientId | Column::Address | Column::Username | Column::Protocol | Column::Tls
    )
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(conns) = &app.snapshot.connections else {
        let block = super::block(theme, " Connections ", false);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        super::centered_note(frame, inner, "sessions: n/a from this source", theme.dim);
        return;
    };
    let table = app.connection_table();
    let extra = if table.is_paged() {
        // Only a page is here: the whole counts come from the counters.
        let n = |v: Option<u64>| v.map_or_else(|| fmt::NA.to_owned(), fmt::thousands);
        let c = &app.snapshot.counters;
        format!(
            "{} shown · {} online · {} offline",
            fmt::thousands(table.total() as u64),
            n(c.clients_online),
            n(c.clients_offline)
        )
    } else {
        let online = conns.iter().filter(|c| c.online).count();
        format!(
            "{} shown · {online} online · {} offline",
            table.total(),
            conns.len() - online
        )
    };
    let total = table.total();
    // Borders and the header row take three lines.
    let visible = usize::from(area.height.saturating_sub(3));
    let sel = app.connections.list.selected.min(total.saturating_sub(1));
    let mut block = super::block(
        theme,
        super::list_title(app, theme, "Connections", View::Connections, &extra),
        true,
    );
    if total > visible {
        let at = format!(
            " row {} of {} ",
            fmt::thousands(sel as u64 + 1),
            fmt::thousands(total as u64)
        );
        block = block.title_bottom(Line::from(Span::styled(at, theme.dim)).right_aligned());
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let cols = fit(inner.width);
    let sort = app.connections.sort;
    let mut header = Vec::new();
    for &(col, w) in &cols {
        let arrow = match (col == sort, app.connections.descending) {
            (false, _) => "",
            (true, true) => "▼",
            (true, false) => "▲",
        };
        let t = format!("{}{arrow}", col.title());
        let s = if right_aligned(col) {
            rcell(&t, w)
        } else {
            cell(&t, w)
        };
        header.push(Span::styled(format!("{s} "), theme.header));
    }
    let mut lines = vec![Line::from(header)];
    let off = offset(sel, visible);
    for pos in (off..total).take(visible) {
        // A row the source has not sent yet (the page follows the scrolling).
        let Some(c) = table.get(pos) else {
            lines.push(Line::from(Span::styled("  …", theme.dim)));
            continue;
        };
        let base = if pos == sel {
            theme.selected
        } else if !c.online {
            theme.dim
        } else if c.queue_capacity > 0 && c.queued * 10 >= c.queue_capacity * 8 {
            theme.warn
        } else {
            theme.text
        };
        let text: String = cols
            .iter()
            .map(|&(col, w)| {
                let v = value(app, c, col);
                let s = if right_aligned(col) {
                    rcell(&v, w)
                } else {
                    cell(&v, w)
                };
                format!("{s} ")
            })
            .collect();
        lines.push(Line::from(Span::styled(text, base)));
    }
    if total == 0 && !app.filter_of(View::Connections).is_empty() {
        lines.push(Line::from(Span::styled(
            "  no session matches the filter",
            theme.dim,
        )));
    } else if app.online_clients() == 0 && app.snapshots_seen > 0 {
        lines.push(Line::from(vec![
            Span::styled("  no clients yet — try: ", theme.dim),
            Span::styled(
                super::try_command(app, "mosquitto_sub", "-t '#' -v"),
                theme.text,
            ),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    if total > visible {
        super::scrollbar(frame, theme, area, total, off, visible);
    }
}
