//! Overlays over any view: yes/no confirmations and one message shown whole.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::fmt;
use super::theme::Theme;
use crate::app::{App, Confirm};
use crate::derive::payload;
use midge_model::Message;

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub fn confirm(theme: &Theme, frame: &mut Frame, area: Rect, q: &Confirm) {
    let (title, text) = match q {
        Confirm::Quit { online } => (
            " Quit? ",
            if *online == 1 {
                "1 client is connected. Quit and shut the broker down?".to_owned()
            } else {
                format!("{online} clients are connected. Quit and shut the broker down?")
            },
        ),
        Confirm::Kick(id) => (" Kick client? ", format!("Disconnect {id}?")),
        Confirm::DeleteRetained(t) => (
            " Delete retained? ",
            format!("Publish an empty retained message to {t}?"),
        ),
    };
    let r = centered(area, 50, 7);
    frame.render_widget(Clear, r);
    let lines = vec![
        Line::from(Span::styled(text, theme.text)),
        Line::default(),
        Line::from(vec![
            Span::styled("y", theme.key),
            Span::raw(" yes    "),
            Span::styled("n/Esc", theme.key),
            Span::raw(" no"),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(super::block(theme, title, true).border_style(theme.warn)),
        r,
    );
}

pub fn message(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, m: &Message) {
    let r = centered(
        area,
        area.width.saturating_sub(6),
        area.height.saturating_sub(4),
    );
    frame.render_widget(Clear, r);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("topic    ", theme.dim),
            Span::styled(m.topic.clone(), theme.accent),
        ]),
        Line::from(vec![
            Span::styled("received ", theme.dim),
            Span::raw(format!(
                "{} UTC ({} ago)  QoS {}  {}",
                fmt::clock_ms(m.at_ms),
                fmt::age(app.now_ms, m.at_ms),
                m.qos,
                if m.retain { "retained" } else { "" }
            )),
        ]),
        Line::from(vec![
            Span::styled("size     ", theme.dim),
            Span::raw(payload::human_bytes(m.payload.len() as u64)),
        ]),
    ];
    if let Some(ct) = &m.content_type {
        lines.push(Line::from(vec![
            Span::styled("content  ", theme.dim),
            Span::raw(ct.clone()),
        ]));
    }
    if let Some(rt) = &m.response_topic {
        lines.push(Line::from(vec![
            Span::styled("response ", theme.dim),
            Span::raw(rt.clone()),
        ]));
    }
    for (k, v) in &m.user_properties {
        lines.push(Line::from(vec![
            Span::styled("property ", theme.dim),
            Span::raw(format!("{k} = {v}")),
        ]));
    }
    lines.push(Line::default());
    let room = usize::from(r.height.saturating_sub(2)).saturating_sub(lines.len());
    match crate::decode::lines(&app.decoders, &m.topic, &m.payload, "", room) {
        Some((d, body, failed)) => {
            lines.push(Line::from(Span::styled(
                format!("decoded as {}", d.label()),
                theme.dim,
            )));
            lines.extend(body.into_iter().enumerate().map(|(i, l)| {
                let style = if failed && i == 0 {
                    theme.bad
                } else {
                    theme.text
                };
                Line::from(Span::styled(l, style))
            }));
        }
        None => lines.extend(
            payload::lines(&m.payload, room)
                .into_iter()
                .map(|l| Line::from(Span::styled(l, theme.text))),
        ),
    }
    frame.render_widget(
        Paragraph::new(lines).block(super::block(theme, " Message — Esc closes ", true)),
        r,
    );
}

/// Publish templates, then the history of sent messages: Enter loads one into the form.
pub fn templates(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let r = centered(
        area,
        area.width.saturating_sub(8).min(100),
        area.height.saturating_sub(4),
    );
    frame.render_widget(Clear, r);
    let t = &app.templates;
    let w = usize::from(r.width.saturating_sub(2));
    let name_w = 16.min(w / 4);
    let topic_w = (w.saturating_sub(name_w + 8) / 2).max(8);
    let row = |name: &str, e: &crate::app::templates::Template| {
        format!(
            "{} {} q{}{} {}",
            super::cell(name, name_w),
            super::topic_cell(&e.topic, topic_w),
            e.qos,
            if e.retain { "r" } else { " " },
            crate::derive::payload::clip_chars(
                &e.payload.replace('\n', " "),
                w.saturating_sub(name_w + topic_w + 6)
            )
        )
    };
    let mut lines = vec![Line::from(Span::styled(
        format!("Templates ({})", t.saved.len()),
        theme.header,
    ))];
    let style = |i: usize| {
        if i == app.template_selected {
            theme.selected
        } else {
            theme.text
        }
    };
    for (i, e) in t.saved.iter().enumerate() {
        lines.push(Line::from(Span::styled(row(&e.name, e), style(i))));
    }
    if t.saved.is_empty() {
        lines.push(Line::from(Span::styled(
            "  none yet: fill the form (p), then s saves it",
            theme.dim,
        )));
    }
    lines.push(Line::from(Span::styled(
        format!("Sent ({}, newest first)", t.history.len()),
        theme.header,
    )));
    for (i, e) in t.history.iter().enumerate() {
        lines.push(Line::from(Span::styled(
            row("", e),
            style(t.saved.len() + i),
        )));
    }
    // Keep the selection in view.
    let visible = usize::from(r.height.saturating_sub(2));
    let sel_line = app.template_selected
        + 1
        + usize::from(app.template_selected >= t.saved.len())
        + usize::from(t.saved.is_empty());
    let scroll = u16::try_from(sel_line.saturating_sub(visible.saturating_sub(1))).unwrap_or(0);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(super::block(
                theme,
                " Templates and history — Enter loads, d deletes, Esc closes ",
                true,
            )),
        r,
    );
}
