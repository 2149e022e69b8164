//! Publish / Subscribe: the publish form, the dashboard's own subscriptions, and the
//! stream of messages matching them (newest first, pausable, bounded).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::fmt;
use super::layout::{offset, pubsub_split};
use super::theme::Theme;
use super::{cell, rcell};
use crate::app::{App, Editing, FormField, PubSubFocus, View};
use crate::derive::payload::{human_bytes, preview};

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let a = pubsub_split(area);
    draw_form(app, theme, frame, a.form);
    draw_subs(app, theme, frame, a.subs);
    draw_messages(app, theme, frame, a.messages);
}

fn draw_form(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let editing = app.editing == Some(Editing::Publish);
    let title: Line = if app.editing == Some(Editing::TemplateName) {
        let w = app.template_name.chars().count() + 1;
        let mut spans = vec![Span::styled(" Save as template: ", theme.key)];
        spans.extend(super::edit_spans(
            &app.template_name,
            app.template_name_back,
            w,
            theme.accent,
        ));
        spans.push(Span::raw(" "));
        Line::from(spans)
    } else if editing {
        Line::from(" Publish — Enter sends, Esc leaves ")
    } else {
        Line::from(" Publish (v5 props) — p edits, s saves, t templates ")
    };
    let block = super::block(theme, title, editing);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let label_w = 13usize.min(usize::from(inner.width) / 2);
    let val_w = usize::from(inner.width).saturating_sub(label_w);
    let lines: Vec<Line> = FormField::ALL
        .iter()
        .map(|&f| {
            let focused = editing && app.pubsub.publish.field == f;
            let label = Span::styled(
                cell(f.label(), label_w),
                if focused { theme.key } else { theme.dim },
            );
            let v = app.pubsub.publish.value(f);
            let mut spans = vec![label];
            if focused && !matches!(f, FormField::Qos | FormField::Retain) {
                spans.extend(super::edit_spans(
                    &v,
                    app.pubsub.publish.cursor_back,
                    val_w,
                    theme.selected,
                ));
            } else if focused {
                spans.push(Span::styled(cell(&format!("{v}█"), val_w), theme.selected));
            } else {
                spans.push(Span::styled(cell(&v, val_w), theme.text));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_subs(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let focused = app.pubsub.focus == PubSubFocus::Subscriptions && app.editing.is_none();
    let block = super::block(
        theme,
        format!(" Subscriptions ({}) ", app.pubsub.subscriptions.len()),
        focused,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    if app.editing == Some(Editing::Subscribe) {
        let qos = format!("  QoS {} (Tab)", app.pubsub.subscribe.qos);
        let w = usize::from(inner.width).saturating_sub(7 + qos.chars().count());
        let w = w.min(app.pubsub.subscribe.filter.chars().count() + 1);
        let mut spans = vec![Span::styled("filter ", theme.key)];
        spans.extend(super::edit_spans(
            &app.pubsub.subscribe.filter,
            app.pubsub.subscribe.cursor_back,
            w,
            theme.selected,
        ));
        spans.push(Span::styled(qos, theme.key));
        lines.push(Line::from(spans));
    }
    let visible = usize::from(inner.height).saturating_sub(lines.len());
    let sel = app
        .pubsub
        .sub_selected
        .min(app.pubsub.subscriptions.len().saturating_sub(1));
    for (pos, (filter, qos)) in app
        .pubsub
        .subscriptions
        .iter()
        .enumerate()
        .skip(offset(sel, visible))
        .take(visible)
    {
        let style = if pos == sel && focused {
            theme.selected
        } else {
            theme.text
        };
        lines.push(Line::from(Span::styled(
            format!(
                "{} QoS {qos}",
                cell(filter, usize::from(inner.width).saturating_sub(7))
            ),
            style,
        )));
    }
    if app.pubsub.subscriptions.is_empty() && app.editing != Some(Editing::Subscribe) {
        lines.push(Line::from(Span::styled("none yet: press a", theme.dim)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_messages(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let rows = app.pubsub.rows();
    let mut extra = format!(
        "{}/{} · {} / {}",
        app.pubsub.messages.len(),
        app.pubsub.messages.max_len(),
        human_bytes(app.pubsub.messages.bytes() as u64),
        human_bytes(app.pubsub.messages.max_bytes() as u64)
    );
    if app.pubsub.messages.truncated() {
        extra.push_str(&format!(
            " · TRUNCATED ({} dropped)",
            fmt::thousands(app.pubsub.messages.dropped())
        ));
    }
    if app.pubsub.paused {
        extra.push_str(&format!(
            " · PAUSED ({} skipped)",
            fmt::thousands(app.pubsub.skipped_while_paused)
        ));
    }
    if let Some(r) = &app.pubsub.recording {
        let name = r
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        extra.push_str(&format!(
            " · ● REC {name} {} {} · {}",
            fmt::thousands(r.messages),
            human_bytes(r.bytes),
            fmt::rate(Some(r.rate(app.now_ms)))
        ));
    } else if app.pubsub.recording_full {
        extra.push_str(" · recording stopped: size limit reached");
    }
    let focused = app.pubsub.focus == PubSubFocus::Messages && app.editing.is_none();
    let block = super::block(
        theme,
        super::list_title(app, theme, "Messages", View::PubSub, &extra),
        focused,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    // Narrow: the time without milliseconds, and more room for the topic.
    let time_w = if width >= 100 { 12 } else { 8 };
    let topic_w = (width.saturating_sub(time_w + 8) / 2).clamp(8, 40);
    let payload_w = width.saturating_sub(time_w + 1 + topic_w + 1 + 5 + 1);
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "{} {} {} {}",
            cell("time", time_w),
            cell("topic", topic_w),
            cell("q r", 5),
            "payload"
        ),
        theme.header,
    ))];
    let visible = usize::from(inner.height.saturating_sub(1));
    let sel = app
        .pubsub
        .messages_list
        .selected
        .min(rows.len().saturating_sub(1));
    for (pos, m) in rows
        .iter()
        .enumerate()
        .skip(offset(sel, visible))
        .take(visible)
    {
        let style = if pos == sel && focused {
            theme.selected
        } else {
            theme.text
        };
        let qr = format!("{} {}", m.qos, if m.retain { "R" } else { " " });
        lines.push(Line::from(Span::styled(
            format!(
                "{} {} {} {}",
                cell(
                    &if time_w == 12 {
                        fmt::clock_ms(m.at_ms)
                    } else {
                        fmt::clock(m.at_ms)
                    },
                    time_w
                ),
                super::topic_cell(&m.topic, topic_w),
                cell(&qr, 5),
                crate::decode::summary(&app.decoders, &m.topic, &m.payload).map_or_else(
                    || preview(&m.payload, payload_w),
                    |s| crate::derive::payload::clip_chars(&s, payload_w)
                )
            ),
            style,
        )));
    }
    if rows.is_empty() {
        let note = if app.pubsub.subscriptions.is_empty() {
            "subscribe (a) to see matching messages here"
        } else {
            "no message yet"
        };
        lines.push(Line::from(Span::styled(note, theme.dim)));
    }
    let _ = rcell;
    frame.render_widget(Paragraph::new(lines), inner);
}
