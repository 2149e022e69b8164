//! Drawing: `view(&App, &mut Frame)` composes the tab line, the current pane, the
//! status line, the footer and any overlay. Only this module touches ratatui widgets.

mod bridges;
mod client;
mod connections;
pub mod fmt;
mod footer;
mod help;
mod inflight;
pub mod layout;
mod log;
mod overlays;
mod overview;
mod pubsub;
mod slow;
mod talkers;
pub mod theme;
mod topics;
mod trace;

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::app::{App, Overlay, View};
use theme::Theme;

/// Draws the whole dashboard.
pub fn view(app: &App, frame: &mut Frame) {
    let theme = Theme::new(app.no_color);
    let area = frame.area();
    let c = layout::chrome(area);
    draw_tabs(app, &theme, frame, c.tabs);
    match app.view {
        View::Overview => overview::draw(app, &theme, frame, c.body),
        View::Connections => match &app.connections.detail {
            Some(id) => client::draw(app, &theme, frame, c.body, id),
            None => connections::draw(app, &theme, frame, c.body),
        },
        View::Topics => topics::draw(app, &theme, frame, c.body),
        View::Inflight => inflight::draw(app, &theme, frame, c.body),
        View::PubSub => pubsub::draw(app, &theme, frame, c.body),
        View::Slow => slow::draw(app, &theme, frame, c.body),
        View::Trace => trace::draw(app, &theme, frame, c.body),
        View::Log => log::draw(app, &theme, frame, c.body),
        View::Bridges => bridges::draw(app, &theme, frame, c.body),
        View::TopTalkers => talkers::draw(app, &theme, frame, c.body),
    }
    footer::draw_status(app, &theme, frame, c.status);
    footer::draw_footer(app, &theme, frame, c.footer);
    match &app.overlay {
        Some(Overlay::Help) => help::draw(app, &theme, frame, area),
        Some(Overlay::Confirm(q)) => overlays::confirm(&theme, frame, area, q),
        Some(Overlay::Message(m)) => overlays::message(app, &theme, frame, area, m),
        Some(Overlay::Templates) => overlays::templates(app, &theme, frame, area),
        None => {}
    }
}

fn draw_tabs(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let label = layout::tab_label(area.width, app.view);
    let mut spans = Vec::new();
    for (i, &v) in View::ALL.iter().enumerate() {
        let style = if v == app.view {
            theme.tab_active
        } else {
            theme.tab
        };
        spans.push(Span::styled(layout::tab_text(i, v, app.view, label), style));
        spans.push(Span::styled("│", theme.border));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A bordered block with a title, focused or not.
pub(crate) fn block<'a>(theme: &Theme, title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    Block::bordered()
        .title(title.into().style(theme.title))
        .border_style(if focused {
            theme.border_focus
        } else {
            theme.border
        })
}

/// The block title of a list with its filter shown while set or being edited.
pub(crate) fn list_title(
    app: &App,
    theme: &Theme,
    name: &str,
    view: View,
    extra: &str,
) -> Line<'static> {
    let mut spans = vec![Span::styled(format!(" {name} "), theme.title)];
    if !extra.is_empty() {
        spans.push(Span::styled(format!("{extra} "), theme.dim));
    }
    let filter = app.filter_of(view);
    let editing = app.view == view && app.editing == Some(crate::app::Editing::Filter);
    if editing {
        spans.push(Span::styled("/", theme.accent));
        let w = filter.chars().count() + 1;
        spans.extend(edit_spans(filter, app.filter_back, w, theme.accent));
        spans.push(Span::styled(" ", theme.accent));
    } else if !filter.is_empty() {
        spans.push(Span::styled(format!("/{filter} "), theme.accent));
    }
    Line::from(spans)
}

/// A text field being edited, exactly `width` cells: scrolled so the cursor shows, the
/// cursor a block at the end or the character under it reversed.
pub(crate) fn edit_spans(
    text: &str,
    back: usize,
    width: usize,
    style: Style,
) -> Vec<Span<'static>> {
    let width = width.max(1);
    let chars: Vec<char> = text.chars().collect();
    let pos = crate::app::text::cursor_index(text, back);
    let start = (pos + 1).saturating_sub(width);
    let before: String = chars[start..pos].iter().collect();
    let mut spans = vec![Span::styled(before, style)];
    let used = pos - start + 1;
    match chars.get(pos) {
        None => spans.push(Span::styled("█", style)),
        Some(c) => {
            spans.push(Span::styled(
                c.to_string(),
                style.add_modifier(ratatui::style::Modifier::REVERSED),
            ));
        }
    }
    let after: String = chars
        .iter()
        .skip(pos + 1)
        .take(width.saturating_sub(used))
        .collect();
    let pad = width.saturating_sub(used + after.chars().count());
    spans.push(Span::styled(format!("{after}{}", " ".repeat(pad)), style));
    spans
}

/// A `mosquitto_pub`/`mosquitto_sub` command line aimed at the source's first plain
/// listener, for empty states ("try: …").
pub(crate) fn try_command(app: &App, tool: &str, rest: &str) -> String {
    let target = app
        .snapshot
        .source
        .listeners
        .iter()
        .find_map(|l| l.strip_prefix("mqtt://"))
        .and_then(|hp| hp.rsplit_once(':'))
        .map(|(h, p)| {
            let h = if h == "0.0.0.0" || h == "[::]" {
                "localhost"
            } else {
                h
            };
            format!(" -h {h} -p {p}")
        })
        .unwrap_or_default();
    format!("{tool}{target} {rest}")
}

/// A vertical scrollbar on the right border of a bordered list with a header row in
/// `area`: `first` of `total` rows at the top, `visible` rows on screen.
pub(crate) fn scrollbar(
    frame: &mut Frame,
    theme: &Theme,
    area: Rect,
    total: usize,
    first: usize,
    visible: usize,
) {
    use ratatui::widgets::{Scrollbar, ScrollbarOrientation, ScrollbarState};
    let mut state = ScrollbarState::new(total.saturating_sub(visible))
        .position(first)
        .viewport_content_length(visible);
    let bar = Scrollbar::new(ScrollbarOrientation::VerticalRight)
        .begin_symbol(None)
        .end_symbol(None)
        .style(theme.border_focus);
    // Beside the rows: below the top border and the header, above the bottom border.
    let track = Rect {
        y: area.y.saturating_add(2),
        height: area.height.saturating_sub(3),
        ..area
    };
    frame.render_stateful_widget(bar, track, &mut state);
}

/// A message centred in `area` (e.g. "n/a from this source").
pub(crate) fn centered_note(frame: &mut Frame, area: Rect, text: &str, style: Style) {
    let y = area.y + area.height / 2;
    let r = Rect {
        y,
        height: 1.min(area.height),
        ..area
    };
    frame.render_widget(
        Paragraph::new(text.to_owned())
            .style(style)
            .alignment(ratatui::layout::Alignment::Center),
        r,
    );
}

/// Pads or clips `s` to exactly `w` cells (char-based; good enough for ids and topics).
pub(crate) fn cell(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n > w {
        let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
        out.push('…');
        out
    } else {
        format!("{s:<w$}")
    }
}

/// A topic name in exactly `w` cells. Too long, it keeps the first level and as many
/// trailing levels as fit (`sensors/…/temperature`), since the end is the specific part;
/// failing that, the tail (`…perature`).
pub(crate) fn topic_cell(topic: &str, w: usize) -> String {
    if topic.chars().count() <= w {
        return cell(topic, w);
    }
    let levels: Vec<&str> = topic.split('/').collect();
    if levels.len() > 2 {
        let first = levels[0];
        // The longest tail that fits, at least the last level.
        for start in 2..levels.len() {
            let candidate = format!("{first}/…/{}", levels[start..].join("/"));
            if candidate.chars().count() <= w {
                return cell(&candidate, w);
            }
        }
    }
    // Whole trailing levels after "…/", else the bare tail.
    for start in 1..levels.len() {
        let candidate = format!("…/{}", levels[start..].join("/"));
        if candidate.chars().count() <= w {
            return cell(&candidate, w);
        }
    }
    if w == 0 {
        return String::new();
    }
    let n = topic.chars().count();
    let tail: String = topic.chars().skip(n + 1 - w).collect();
    format!("…{tail}")
}

/// Right-aligned in `w` cells.
pub(crate) fn rcell(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n > w {
        cell(s, w)
    } else {
        format!("{s:>w$}")
    }
}

#[cfg(test)]
mod tests {
    use super::topic_cell;

    #[test]
    fn long_topics_keep_their_ends() {
        assert_eq!(topic_cell("a/b", 5), "a/b  ");
        assert_eq!(
            topic_cell("sensors/kitchen/temperature", 21),
            "sensors/…/temperature"
        );
        assert_eq!(
            topic_cell("sensors/kitchen/temperature", 12),
            "…temperature"
        );
        assert_eq!(topic_cell("abcdef", 4), "…def");
        assert_eq!(topic_cell("abcdef", 0), "");
    }
}
