//! Geometry shared by drawing and mouse hit-testing: the same functions place the tabs,
//! panes and list rows on screen and map a click back to a tab or a row.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::{App, View};

/// The frame's fixed parts.
#[derive(Debug, Clone, Copy)]
pub struct Chrome {
    pub tabs: Rect,
    pub body: Rect,
    pub status: Rect,
    pub footer: Rect,
}

#[must_use]
pub fn chrome(area: Rect) -> Chrome {
    let [tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Chrome {
        tabs,
        body,
        status,
        footer,
    }
}

/// Tab titles: short on narrow terminals.
#[must_use]
pub fn tab_title(view: View, wide: bool) -> &'static str {
    if wide {
        return view.title();
    }
    match view {
        View::Connections => "Conns",
        View::Inflight => "QoS",
        View::Slow => "Slow",
        View::TopTalkers => "Top",
        v => v.title(),
    }
}

/// How a tab is labelled: its title, or only its key when the titles do not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabLabel {
    Wide,
    Short,
    /// Only the active tab shows its (short) title; the others their key.
    KeyOnly,
}

/// The key that selects the tab at `index` (`1`–`9`, then `0`).
#[must_use]
pub fn tab_key(index: usize) -> char {
    char::from_digit(u32::try_from((index + 1) % 10).unwrap_or(0), 10).unwrap_or('?')
}

/// The text of a tab, e.g. ` 3 Topics `.
#[must_use]
pub fn tab_text(index: usize, view: View, active: View, label: TabLabel) -> String {
    let key = tab_key(index);
    match label {
        TabLabel::Wide => format!(" {key} {} ", view.title()),
        TabLabel::KeyOnly if view != active => format!(" {key} "),
        _ => format!(" {key} {} ", tab_title(view, false)),
    }
}

/// Each tab's view, x and width (cells) on the tab line, labelled as widely as fits.
#[must_use]
pub fn tabs(width: u16, active: View) -> Vec<(View, u16, u16)> {
    let layout = |label: TabLabel| {
        let mut x = 0u16;
        View::ALL
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let n = tab_text(i, v, active, label).chars().count();
                let w = u16::try_from(n).unwrap_or(u16::MAX);
                let t = (v, x, w);
                x = x.saturating_add(w + 1);
                t
            })
            .collect::<Vec<_>>()
    };
    let label = tab_label(width, active);
    layout(label)
}

/// The widest labelling whose tabs (and their separators) fit `width`.
#[must_use]
pub fn tab_label(width: u16, active: View) -> TabLabel {
    let fits = |label: TabLabel| {
        let total: usize = View::ALL
            .iter()
            .enumerate()
            .map(|(i, &v)| tab_text(i, v, active, label).chars().count() + 1)
            .sum();
        total <= usize::from(width)
    };
    if width >= 120 && fits(TabLabel::Wide) {
        TabLabel::Wide
    } else if fits(TabLabel::Short) {
        TabLabel::Short
    } else {
        TabLabel::KeyOnly
    }
}

/// Rows of a list are scrolled so that the selection stays visible (stateless, so
/// drawing and hit-testing agree).
#[must_use]
pub fn offset(selected: usize, visible: usize) -> usize {
    selected.saturating_sub(visible.saturating_sub(1))
}

/// Topics: the tree (left) and the selected topic's detail (right).
#[must_use]
pub fn topics_split(body: Rect) -> [Rect; 2] {
    Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body)
}

/// Publish / Subscribe: the form and subscriptions (left), the messages (right).
#[derive(Debug, Clone, Copy)]
pub struct PubSubAreas {
    pub form: Rect,
    pub subs: Rect,
    pub messages: Rect,
}

#[must_use]
pub fn pubsub_split(body: Rect) -> PubSubAreas {
    let [left, messages] = Layout::horizontal([
        Constraint::Length(body.width.min(120) * 2 / 5),
        Constraint::Min(20),
    ])
    .areas(body);
    let [form, subs] = Layout::vertical([Constraint::Length(11), Constraint::Min(3)]).areas(left);
    PubSubAreas {
        form,
        subs,
        messages,
    }
}

/// Trace: the client picker (left) and the packets (right).
#[must_use]
pub fn trace_split(body: Rect) -> [Rect; 2] {
    Layout::horizontal([
        Constraint::Length(24.min(body.width / 3)),
        Constraint::Min(10),
    ])
    .areas(body)
}

/// Inside a bordered block.
fn inner(r: Rect) -> Rect {
    r.inner(ratatui::layout::Margin {
        horizontal: 1,
        vertical: 1,
    })
}

/// Below a header line.
fn below_header(r: Rect) -> Rect {
    Rect {
        y: r.y.saturating_add(1),
        height: r.height.saturating_sub(1),
        ..r
    }
}

/// The rectangle holding the main list's rows of the current view, if it has one.
#[must_use]
pub fn list_rows(app: &App, body: Rect) -> Option<Rect> {
    if app.view == View::Connections && app.connections.detail.is_some() {
        return None;
    }
    list_area(app.view, body)
}

/// The rectangle holding the rows of `view`'s main list, if it has one.
fn list_area(view: View, body: Rect) -> Option<Rect> {
    match view {
        View::Overview => None,
        View::Connections => Some(below_header(inner(body))),
        View::Topics => Some(inner(topics_split(body)[0])),
        View::Inflight => Some(below_header(inner(inflight_split(body)[0]))),
        View::PubSub => Some(below_header(inner(pubsub_split(body).messages))),
        View::Slow => Some(below_header(inner(slow_split(body)[0]))),
        View::Trace => Some(inner(trace_split(body)[0])),
        View::Log => Some(inner(body)),
        View::Bridges => Some(below_header(inner(bridges_split(body)[0]))),
        View::TopTalkers => None,
    }
}

/// Rows of `view`'s main list on a terminal of `size` cells (0 for the Overview).
#[must_use]
pub fn visible_rows(size: (u16, u16), view: View) -> usize {
    let body = chrome(Rect::new(0, 0, size.0, size.1)).body;
    list_area(view, body).map_or(0, |r| usize::from(r.height))
}

/// QoS in flight: the table (top) and the offline queues (bottom).
#[must_use]
pub fn inflight_split(body: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Min(5), Constraint::Length(5)]).areas(body)
}

/// Slow consumers: the ranking (top) and the selected client's drops (bottom).
#[must_use]
pub fn slow_split(body: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body)
}

/// Bridges: the table (top) and the selected bridge's detail (bottom).
#[must_use]
pub fn bridges_split(body: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Min(5), Constraint::Length(9)]).areas(body)
}

/// Top talkers: topics (top) and clients (bottom).
#[must_use]
pub fn talkers_split(body: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body)
}

/// Rows a page key moves by.
#[must_use]
pub fn page_rows(app: &App) -> usize {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    list_rows(app, chrome(area).body).map_or(10, |r| usize::from(r.height.max(1)))
}

/// What a click landed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Tab(View),
    /// A row of the main list (absolute index, scrolling applied).
    Row(usize),
    /// A row of the Publish / Subscribe view's subscriptions.
    SubRow(usize),
    Nothing,
}

fn contains(r: Rect, x: u16, y: u16) -> bool {
    x >= r.x && x < r.x.saturating_add(r.width) && y >= r.y && y < r.y.saturating_add(r.height)
}

/// Maps a click at (`x`, `y`) to what is drawn there.
#[must_use]
pub fn hit_test(app: &App, x: u16, y: u16) -> Hit {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    let c = chrome(area);
    if contains(c.tabs, x, y) {
        return tabs(area.width, app.view)
            .into_iter()
            .find(|&(_, tx, w)| x >= tx && x < tx + w)
            .map_or(Hit::Nothing, |(v, _, _)| Hit::Tab(v));
    }
    if app.view == View::PubSub {
        let subs = inner(pubsub_split(c.body).subs);
        if contains(subs, x, y) {
            let off = offset(app.pubsub.sub_selected, usize::from(subs.height));
            return Hit::SubRow(off + usize::from(y - subs.y));
        }
    }
    let Some(rows) = list_rows(app, c.body) else {
        return Hit::Nothing;
    };
    if !contains(rows, x, y) {
        return Hit::Nothing;
    }
    let selected = match app.list(app.view) {
        Some(l) => l.selected,
        None => app.topics.position(&app.topics.rows()),
    };
    Hit::Row(offset(selected, usize::from(rows.height)) + usize::from(y - rows.y))
}
