//! What each key-table action does to the current view's state.

use midge_model::Command;

use super::{App, Confirm, Editing, Overlay, PubSubFocus, TalkersFocus, View, RANGES_MS};
use crate::derive::connections::ColumnExt;
use crate::input::Action;
use crate::view::layout::page_rows;

/// Switches view; tracing runs only while the Trace view is open.
pub(super) fn switch_view(app: &mut App, to: View) -> Option<Command> {
    if to == app.view {
        return None;
    }
    let from = app.view;
    app.view = to;
    app.editing = None;
    if from == View::Trace && app.trace.client.is_some() {
        return Some(Command::Trace { client_id: None });
    }
    if to == View::Trace {
        if let Some(id) = &app.trace.client {
            return Some(Command::Trace {
                client_id: Some(id.clone()),
            });
        }
    }
    None
}

/// Opens a client's detail in the Connections view.
fn open_detail(app: &mut App, id: Option<String>) -> Option<Command> {
    app.connections.detail = Some(id?);
    app.connections.detail_scroll = 0;
    switch_view(app, View::Connections)
}

/// The client id of the selected row in the Connections view (or its open detail).
fn selected_client(app: &App) -> Option<String> {
    if let Some(d) = &app.connections.detail {
        return Some(d.clone());
    }
    app.connection_table()
        .get(app.connections.list.selected)
        .map(|c| c.client_id.clone())
}

/// How many rows the current view's movable list has (all of them when paged).
fn row_count(app: &App) -> usize {
    match app.view {
        View::Overview => 0,
        View::Connections => app.connection_table().total(),
        View::Topics => app.topics.rows().len(),
        View::Inflight => app.inflight_rows().len(),
        View::PubSub => match app.pubsub.focus {
            PubSubFocus::Subscriptions => app.pubsub.subscriptions.len(),
            PubSubFocus::Messages => app.pubsub.rows().len(),
        },
        View::Slow => crate::derive::slow::rank(&app.snapshot, &app.client_rates).len(),
        View::Trace => app.trace_candidates().total(),
        View::Log => app.log.rows().len(),
        View::Bridges => app.bridge_rows().len(),
        View::TopTalkers => match app.talkers.focus {
            TalkersFocus::Topics => app.top_topics().len(),
            TalkersFocus::Clients => app.top_clients().len(),
        },
    }
}

/// Moves the current view's selection to `f(current, last)`.
pub(super) fn move_selection(app: &mut App, f: impl Fn(usize, usize) -> usize) {
    match (app.view, app.pubsub.focus) {
        (View::Connections, _) if app.connections.detail.is_some() => {
            let last = app.detail_rows().saturating_sub(1);
            let c = &mut app.connections;
            c.detail_scroll = f(c.detail_scroll, last).min(last);
        }
        (View::Topics, _) => app.topics.select(f),
        (View::TopTalkers, _) if app.talkers.focus == TalkersFocus::Clients => {
            let last = row_count(app).saturating_sub(1);
            let t = &mut app.talkers;
            t.clients_selected = f(t.clients_selected, last).min(last);
        }
        (View::PubSub, PubSubFocus::Subscriptions) => {
            let last = app.pubsub.subscriptions.len().saturating_sub(1);
            let p = &mut app.pubsub;
            p.sub_selected = f(p.sub_selected, last).min(last);
        }
        (v, _) => {
            let last = row_count(app).saturating_sub(1);
            if let Some(l) = app.list_mut(v) {
                l.selected = f(l.selected, last).min(last);
            }
        }
    }
}

pub(super) fn act(app: &mut App, action: Action) -> Option<Command> {
    let page = page_rows(app);
    match action {
        Action::Quit => {
            let online = app.online_clients();
            if online > 0 {
                app.overlay = Some(Overlay::Confirm(Confirm::Quit { online }));
            } else {
                app.should_quit = true;
            }
        }
        Action::Help => {
            app.help_scroll = 0;
            app.overlay = Some(Overlay::Help);
        }
        Action::NextView => return switch_view(app, app.view.next()),
        Action::PrevView => return switch_view(app, app.view.prev()),
        Action::Goto(v) => return switch_view(app, v),
        Action::Filter => {
            if app.view != View::Overview {
                app.filter_back = 0;
                app.editing = Some(Editing::Filter);
            }
        }
        Action::Up => move_selection(app, |s, _| s.saturating_sub(1)),
        Action::Down => move_selection(app, |s, _| s + 1),
        Action::Top => move_selection(app, |_, _| 0),
        Action::Bottom => move_selection(app, |_, last| last),
        Action::PageUp => move_selection(app, |s, _| s.saturating_sub(page)),
        Action::PageDown => move_selection(app, |s, _| s + page),
        Action::Left | Action::Right => horizontal(app, action == Action::Right),
        Action::Enter => return enter(app),
        Action::Back => {
            if app.view == View::Connections && app.connections.detail.is_some() {
                app.connections.detail = None;
            } else if let Some(f) = app.filter_mut(app.view) {
                f.clear();
            }
        }
        Action::SortNext | Action::SortPrev => {
            let c = &mut app.connections;
            c.sort = if action == Action::SortNext {
                c.sort.next()
            } else {
                c.sort.prev()
            };
            c.descending = c.sort.default_descending();
        }
        Action::SortReverse => app.connections.descending = !app.connections.descending,
        Action::Kick => {
            if let Some(id) = selected_client(app) {
                app.overlay = Some(Overlay::Confirm(Confirm::Kick(id)));
            }
        }
        Action::RangeNext => app.overview.range = (app.overview.range + 1) % RANGES_MS.len(),
        Action::ExpandAll => app.topics.tree.set_all_expanded(true),
        Action::CollapseAll => app.topics.collapse_all(),
        Action::DeleteRetained => delete_retained(app),
        Action::EditPublish => {
            app.pubsub.publish.cursor_back = 0;
            app.editing = Some(Editing::Publish);
        }
        Action::AddSubscription => {
            app.pubsub.subscribe.cursor_back = 0;
            app.editing = Some(Editing::Subscribe);
        }
        Action::Unsubscribe => {
            let cmd = app.pubsub.unsubscribe();
            if let Some(Command::Unsubscribe { filter }) = &cmd {
                app.notify(format!("unsubscribing from {filter}…"), false);
            }
            return cmd;
        }
        Action::Pause => app.pubsub.toggle_pause(),
        Action::Clear => match app.view {
            View::PubSub => app.pubsub.clear_messages(),
            View::Trace => app.trace.lines.clear(),
            View::Log => {
                app.log.lines.clear();
                app.log.list.selected = 0;
            }
            _ => {}
        },
        Action::LevelMore | Action::LevelLess => app.log.step_level(action == Action::LevelMore),
        Action::Record => record(app),
        Action::SaveTemplate => {
            if app.pubsub.publish.topic.is_empty() {
                app.notify("fill in the form first (p), then save it", true);
            } else {
                app.template_name.clone_from(&app.pubsub.publish.topic);
                app.template_name_back = 0;
                app.editing = Some(Editing::TemplateName);
            }
        }
        Action::Templates => {
            app.template_selected = 0;
            app.overlay = Some(Overlay::Templates);
        }
        Action::JsonPath => {
            app.topics.path_back = 0;
            app.editing = Some(Editing::JsonPath);
        }
        Action::WindowNext => app.talkers.window = app.talkers.window.next(),
        Action::MetricToggle => app.talkers.by_bytes = !app.talkers.by_bytes,
        Action::HistoryOlder => app.topics.history_scroll += 1,
        Action::HistoryNewer => {
            app.topics.history_scroll = app.topics.history_scroll.saturating_sub(1);
        }
    }
    None
}

fn horizontal(app: &mut App, right: bool) {
    match app.view {
        View::Topics => app.topics.horizontal(right),
        View::TopTalkers => {
            app.talkers.focus = if right {
                TalkersFocus::Clients
            } else {
                TalkersFocus::Topics
            };
        }
        View::PubSub => {
            app.pubsub.focus = if right {
                PubSubFocus::Messages
            } else {
                PubSubFocus::Subscriptions
            };
        }
        _ => {}
    }
}

fn enter(app: &mut App) -> Option<Command> {
    match app.view {
        View::Connections => {
            app.connections.detail = selected_client(app);
            app.connections.detail_scroll = 0;
        }
        View::Topics => app.topics.toggle(),
        View::Inflight => {
            let rows = app.inflight_rows();
            let id = rows
                .get(app.inflight.list.selected)
                .and_then(|&i| app.snapshot.inflight.as_ref()?.get(i))
                .map(|e| e.client_id.clone());
            return open_detail(app, id);
        }
        View::PubSub => {
            if app.pubsub.focus == PubSubFocus::Messages {
                let rows = app.pubsub.rows();
                if let Some(m) = rows.get(app.pubsub.messages_list.selected) {
                    app.overlay = Some(Overlay::Message(Box::new((*m).clone())));
                }
            }
        }
        View::Slow => {
            let rank = crate::derive::slow::rank(&app.snapshot, &app.client_rates);
            let id = rank
                .get(app.slow.list.selected)
                .map(|r| r.client_id.to_owned());
            return open_detail(app, id);
        }
        View::Trace => {
            let id = app
                .trace_candidates()
                .get(app.trace.list.selected)
                .map(|c| c.client_id.clone());
            if let Some(id) = id {
                if app.trace.client.as_deref() != Some(id.as_str()) {
                    app.trace.lines.clear();
                }
                app.trace.client = Some(id.clone());
                app.notify(format!("tracing {id}"), false);
                return Some(Command::Trace {
                    client_id: Some(id),
                });
            }
        }
        View::TopTalkers => return jump(app),
        View::Overview | View::Log | View::Bridges => {}
    }
    None
}

fn delete_retained(app: &mut App) {
    let Some(id) = app.topics.current() else {
        return;
    };
    let retained = app
        .topics
        .tree
        .node(id)
        .and_then(|n| n.data.as_ref())
        .is_some_and(|d| d.retained);
    let topic = app.topics.tree.path(id);
    if retained {
        app.overlay = Some(Overlay::Confirm(Confirm::DeleteRetained(topic)));
    } else {
        app.notify(format!("{topic} has no retained message"), true);
    }
}

/// Top talkers' Enter: the selected topic in Topics (its branch opened, the filter
/// cleared), or the selected client's detail.
fn jump(app: &mut App) -> Option<Command> {
    match app.talkers.focus {
        TalkersFocus::Topics => {
            let (id, _) = app
                .top_topics()
                .get(app.talkers.list.selected)
                .map(|t| t.key.clone())?;
            app.topics.filter.clear();
            app.topics.tree.reveal(id);
            app.topics.selected = Some(id);
            app.topics.history_scroll = 0;
            switch_view(app, View::Topics)
        }
        TalkersFocus::Clients => {
            let id = app
                .top_clients()
                .get(app.talkers.clients_selected)
                .map(|t| t.key.clone());
            open_detail(app, id)
        }
    }
}

/// `R`: starts recording the delivered messages, or stops and says where they went.
fn record(app: &mut App) {
    use super::record::{file_name, Recording, DEFAULT_LIMIT_BYTES};
    match app.pubsub.recording.take() {
        Some(r) => {
            // The loop writes what is pending before it sees the recording gone.
            app.pubsub.recording = None;
            app.pubsub.finished.push(r.clone());
            app.notify(
                format!(
                    "recorded {} messages ({}) to {}",
                    r.messages,
                    crate::derive::payload::human_bytes(r.bytes),
                    r.path.display()
                ),
                false,
            );
        }
        None => {
            let path = app.record_dir.join(file_name(app.now_ms));
            app.notify(format!("recording to {}", path.display()), false);
            app.pubsub.recording_full = false;
            app.pubsub.recording = Some(Recording::new(path, app.now_ms, DEFAULT_LIMIT_BYTES));
        }
    }
}
