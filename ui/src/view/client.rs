//! One client's detail: who it is, its subscriptions with options, its in-flight
//! messages and the head of its queue.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::theme::Theme;
use super::{cell, rcell};
use crate::app::App;
use crate::derive::payload::human_bytes;
use midge_model::{Direction, SnClientInfo, SnState};

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, id: &str) {
    let title = format!(" Client {id} — Esc back, x kick ");
    let Some(c) = app.client(id) else {
        let block = super::block(theme, title, true);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        super::centered_note(frame, inner, "this session is gone", theme.dim);
        return;
    };
    // An MQTT-SN client also has a topic-id table; its queue is what is buffered.
    let (info, subs, ids, infl, queue) = if c.sn.is_some() {
        // Few SN clients have messages in flight: that list gets only its rows.
        let n = app.snapshot.inflight.as_ref().map_or(0, |l| {
            l.iter().filter(|e| e.client_id == c.client_id).count()
        });
        let infl_h = u16::try_from(n.clamp(1, 5)).unwrap_or(5) + 3;
        let [info, subs, ids, infl, queue] = Layout::vertical([
            Constraint::Length(7),
            Constraint::Fill(1),
            Constraint::Fill(2),
            Constraint::Max(infl_h),
            Constraint::Fill(2),
        ])
        .areas(area);
        (info, subs, Some(ids), infl, queue)
    } else {
        let [info, subs, infl, queue] = Layout::vertical([
            Constraint::Length(6),
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ])
        .areas(area);
        (info, subs, None, infl, queue)
    };
    let dash = || "—".to_owned();
    let lines = vec![
        Line::from(vec![
            Span::styled(
                if c.online {
                    "● online "
                } else {
                    "○ offline "
                },
                if c.online { theme.good } else { theme.dim },
            ),
            Span::styled(
                format!(
                    "since {} ({} ago)  ",
                    fmt::clock(c.connected_since_ms),
                    fmt::age(app.now_ms, c.connected_since_ms)
                ),
                theme.text,
            ),
            Span::styled(
                // An MQTT-SN client's broker session is MQTT 5 inside the gateway; what
                // the device speaks is MQTT-SN over UDP.
                if c.sn.is_some() {
                    "MQTT-SN 1.2  UDP".to_owned()
                } else {
                    format!(
                        "MQTT {}  {}",
                        c.protocol.label(),
                        if c.tls { "TLS" } else { "plain" }
                    )
                },
                theme.text,
            ),
        ]),
        Line::from(Span::styled(
            format!(
                "address {}  user {}  keep-alive {}s",
                c.address.clone().unwrap_or_else(dash),
                c.username.clone().unwrap_or_else(dash),
                c.keep_alive_secs
            ),
            theme.text,
        )),
        Line::from(Span::styled(
            format!(
                "in {} msgs / {}  out {} msgs / {}  rate {}",
                fmt::thousands(c.messages_in),
                human_bytes(c.bytes_in),
                fmt::thousands(c.messages_out),
                human_bytes(c.bytes_out),
                fmt::rate(app.client_rates.rate(&c.client_id))
            ),
            theme.text,
        )),
        Line::from(Span::styled(
            format!(
                "in flight out/in {}/{}  queued {}/{}  dropped {}",
                c.inflight_out,
                c.inflight_in,
                c.queued,
                c.queue_capacity,
                fmt::thousands(c.dropped)
            ),
            if c.dropped > 0 {
                theme.warn
            } else {
                theme.text
            },
        )),
    ];
    let mut lines = lines;
    if let Some(sn) = &c.sn {
        lines.push(Line::from(vec![
            Span::styled("transport ", theme.dim),
            Span::styled(
                format!("{}  ", c.transport.as_deref().unwrap_or("mqtt-sn")),
                theme.text,
            ),
            Span::styled("state ", theme.dim),
            Span::styled(
                sn.state.label(),
                match sn.state {
                    SnState::Active | SnState::Awake => theme.good,
                    SnState::Asleep => theme.warn,
                    SnState::Lost => theme.bad,
                },
            ),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(super::block(theme, title, true)),
        info,
    );
    let scroll = app.connections.detail_scroll;
    if let (Some(sn), Some(ids)) = (&c.sn, ids) {
        let mut t = vec![Line::from(Span::styled(
            format!("{:>6} {:<10} {}", "id", "kind", "topic"),
            theme.header,
        ))];
        for (id, kind, topic) in sn.topic_ids.iter().skip(scroll) {
            t.push(Line::from(Span::styled(
                format!("{id:>6} {kind:<10} {topic}"),
                theme.text,
            )));
        }
        if sn.topic_ids.is_empty() {
            t.push(Line::from(Span::styled(
                "no topic ids registered",
                theme.dim,
            )));
        }
        frame.render_widget(
            Paragraph::new(t).block(super::block(
                theme,
                format!(" Topic ids{} ", shown(scroll, ids, sn.topic_ids.len())),
                false,
            )),
            ids,
        );
    }

    let mut s = vec![Line::from(Span::styled(
        format!(
            "{} {:>3} {:<9} {:<4} {:<3} {:<5} {}",
            cell("filter", 28),
            "qos",
            "no-local",
            "rap",
            "rh",
            "id",
            "share"
        ),
        theme.header,
    ))];
    for sub in c.subscriptions.iter().skip(scroll) {
        s.push(Line::from(Span::styled(
            format!(
                "{} {:>3} {:<9} {:<4} {:<3} {:<5} {}",
                cell(&sub.filter, 28),
                sub.qos,
                if sub.no_local { "yes" } else { "no" },
                if sub.retain_as_published { "yes" } else { "no" },
                sub.retain_handling,
                sub.subscription_id
                    .map_or_else(|| "—".to_owned(), |i| i.to_string()),
                sub.share_group.clone().unwrap_or_else(|| "—".to_owned())
            ),
            theme.text,
        )));
    }
    if c.subscriptions.is_empty() {
        s.push(Line::from(Span::styled("no subscriptions", theme.dim)));
    }
    frame.render_widget(
        Paragraph::new(s).block(super::block(
            theme,
            format!(
                " Subscriptions{} ",
                shown(scroll, subs, c.subscriptions.len())
            ),
            false,
        )),
        subs,
    );

    let mut f = vec![Line::from(Span::styled(
        format!(
            "{:<4} {:>5} {:>3} {:<8} {:>7} {:>3} {}",
            "dir", "pid", "qos", "awaiting", "age", "rs", "topic"
        ),
        theme.header,
    ))];
    let mine_count = app.snapshot.inflight.as_ref().map_or(0, |l| {
        l.iter().filter(|e| e.client_id == c.client_id).count()
    });
    match &app.snapshot.inflight {
        None => f.push(Line::from(Span::styled(
            "in-flight messages: n/a from this source",
            theme.dim,
        ))),
        Some(list) => {
            let mine: Vec<_> = list.iter().filter(|e| e.client_id == c.client_id).collect();
            for e in mine.iter().skip(scroll) {
                f.push(Line::from(Span::styled(
                    format!(
                        "{:<4} {:>5} {:>3} {:<8} {:>7} {:>3} {}",
                        if e.direction == Direction::Out {
                            "out"
                        } else {
                            "in"
                        },
                        e.packet_id,
                        e.qos,
                        e.state.label(),
                        fmt::age(app.now_ms, e.since_ms),
                        e.resends,
                        e.topic
                    ),
                    theme.text,
                )));
            }
            if mine.is_empty() {
                f.push(Line::from(Span::styled("nothing in flight", theme.dim)));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(f).block(super::block(
            theme,
            format!(" In flight{} ", shown(scroll, infl, mine_count)),
            false,
        )),
        infl,
    );

    if let Some(sn) = &c.sn {
        buffered(theme, frame, queue, sn, scroll);
        return;
    }
    let mut q = vec![Line::from(Span::styled(
        format!("{:>3} {} {}", "qos", rcell("size", 9), "topic"),
        theme.header,
    ))];
    for e in c.queue_preview.iter().skip(scroll) {
        q.push(Line::from(Span::styled(
            format!(
                "{:>3} {} {}",
                e.qos,
                rcell(&human_bytes(u64::from(e.bytes)), 9),
                e.topic
            ),
            theme.text,
        )));
    }
    if c.queue_preview.is_empty() {
        q.push(Line::from(Span::styled(
            if c.queued == 0 {
                "queue empty"
            } else {
                "queue contents not shown by this source"
            },
            theme.dim,
        )));
    }
    let more = usize::try_from(c.queued)
        .unwrap_or(usize::MAX)
        .saturating_sub(c.queue_preview.len());
    let title = if more > 0 {
        format!(
            " Queue {}/{} (first {}, {} more) ",
            c.queued,
            c.queue_capacity,
            c.queue_preview.len(),
            more
        )
    } else {
        format!(" Queue {}/{} ", c.queued, c.queue_capacity)
    };
    frame.render_widget(
        Paragraph::new(q).block(super::block(theme, title, false)),
        queue,
    );
}

/// An MQTT-SN client's messages buffered while it sleeps (MQTT-SN 1.2 section 6.14).
fn buffered(theme: &Theme, frame: &mut Frame, area: Rect, sn: &SnClientInfo, scroll: usize) {
    let mut q = vec![Line::from(Span::styled(
        format!("{:>3} {} {}", "qos", rcell("size", 9), "topic"),
        theme.header,
    ))];
    for e in sn.buffered.iter().skip(scroll) {
        q.push(Line::from(Span::styled(
            format!(
                "{:>3} {} {}",
                e.qos,
                rcell(&human_bytes(u64::from(e.bytes)), 9),
                e.topic
            ),
            theme.text,
        )));
    }
    if sn.buffered.is_empty() {
        q.push(Line::from(Span::styled("nothing buffered", theme.dim)));
    }
    let title = format!(
        " Buffered while asleep {} (first {}) ",
        sn.buffered_total,
        sn.buffered.len()
    );
    frame.render_widget(
        Paragraph::new(q).block(super::block(theme, title, false)),
        area,
    );
}

/// A list title's count: ` (n)`, or ` (a–b of n · j/k)` when the rows do not all show.
fn shown(scroll: usize, area: Rect, total: usize) -> String {
    // Borders and the header row take three lines.
    let rows = usize::from(area.height.saturating_sub(3));
    let first = scroll.min(total);
    let last = (first + rows).min(total);
    if first == 0 && last == total {
        format!(" ({total})")
    } else {
        format!(" ({}–{last} of {total} · j/k)", first + 1)
    }
}
