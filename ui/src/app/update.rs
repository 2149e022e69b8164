//! `update`: the one place the dashboard's state changes, message by message. It never
//! blocks and never reads a clock: time arrives in snapshots and ticks.

use bytes::Bytes;
use midge_model::{Command, Event, Level, Snapshot};

use super::forms::FieldOutcome;
use super::{App, Confirm, Editing, Overlay, PubSubFocus, View, RANGES_MS};
use crate::input::{action_for, Action};
use crate::msg::{Key, Mouse, MouseKind, Msg};
use crate::view::layout::{hit_test, page_rows, Hit};

/// Applies one message; returns the command to send to the source, if any.
pub fn update(app: &mut App, msg: Msg) -> Option<Command> {
    match msg {
        Msg::Snapshot(s) => {
            on_snapshot(app, s);
            None
        }
        Msg::Event(e) => {
            on_event(app, e);
            None
        }
        Msg::Tick { now_ms } => {
            app.now_ms = app.now_ms.max(now_ms);
            None
        }
        Msg::Resize { width, height } => {
            app.size = (width, height);
            None
        }
        Msg::CommandFailed(why) => {
            app.notify(why, true);
            None
        }
        Msg::Shutdown => {
            app.should_quit = true;
            None
        }
        Msg::Key(key) => on_key(app, key),
        Msg::Mouse(m) => on_mouse(app, m),
    }
}

fn on_snapshot(app: &mut App, s: std::sync::Arc<Snapshot>) {
    app.now_ms = app.now_ms.max(s.taken_at_ms);
    // Sampled counters (remote `$SYS`) count at their own time; `push` ignores a sample
    // that is not newer, so rates span real updates instead of spiking.
    app.rates
        .push(s.counters_at_ms.unwrap_or(s.taken_at_ms), s.counters);
    app.client_rates.update(&s);
    app.snapshot = s;
    app.snapshots_seen += 1;
}

fn on_event(app: &mut App, e: Event) {
    match e {
        Event::Tap(m) => app.topics.insert(&m),
        Event::Delivered(m) => {
            if app.paused {
                app.skipped_while_paused += 1;
            } else {
                app.messages.push(m);
            }
        }
        Event::Log(l) => app.log.push(l),
        Event::Trace(t) => {
            if app.trace_client.as_deref() == Some(t.client_id.as_str()) {
                app.trace.push(t);
            }
        }
        Event::Notice(text) => {
            let lower = text.to_lowercase();
            let error = ["error", "fail", "denied", "refused", "invalid"]
                .iter()
                .any(|w| lower.contains(w));
            app.notify(text, error);
        }
    }
}

fn on_key(app: &mut App, key: Key) -> Option<Command> {
    if let Some(overlay) = app.overlay.clone() {
        return on_overlay_key(app, &overlay, key);
    }
    if key == Key::Ctrl('c') {
        app.editing = None;
        return act(app, Action::Quit);
    }
    if let Some(editing) = app.editing {
        return on_editing_key(app, editing, key);
    }
    let action = action_for(key, app.view)?;
    act(app, action)
}

fn on_overlay_key(app: &mut App, overlay: &Overlay, key: Key) -> Option<Command> {
    match overlay {
        Overlay::Confirm(c) => match key {
            Key::Char('y' | 'Y') | Key::Enter => {
                app.overlay = None;
                confirmed(app, c.clone())
            }
            // A second Ctrl-C confirms quitting.
            Key::Ctrl('c') if matches!(c, Confirm::Quit { .. }) => {
                app.should_quit = true;
                None
            }
            Key::Char('n' | 'N' | 'q') | Key::Esc | Key::Ctrl('c') => {
                app.overlay = None;
                None
            }
            _ => None,
        },
        Overlay::Help | Overlay::Message(_) => {
            match key {
                Key::Down | Key::Char('j') => app.help_scroll = app.help_scroll.saturating_add(1),
                Key::Up | Key::Char('k') => app.help_scroll = app.help_scroll.saturating_sub(1),
                Key::PageDown | Key::Char(' ') => {
                    app.help_scroll = app.help_scroll.saturating_add(10)
                }
                Key::PageUp => app.help_scroll = app.help_scroll.saturating_sub(10),
                Key::Esc | Key::Enter | Key::Char('q' | '?') => app.overlay = None,
                Key::Ctrl('c') => {
                    app.overlay = None;
                    return act(app, Action::Quit);
                }
                _ => {}
            }
            None
        }
    }
}

fn confirmed(app: &mut App, c: Confirm) -> Option<Command> {
    match c {
        Confirm::Quit { .. } => {
            app.should_quit = true;
            None
        }
        Confirm::Kick(client_id) => {
            app.notify(format!("kicking {client_id}…"), false);
            Some(Command::Kick { client_id })
        }
        Confirm::DeleteRetained(topic) => {
            app.notify(format!("deleting the retained message of {topic}…"), false);
            // An empty retained payload removes the retained message [MQTT-3.3.1-10].
            Some(Command::Publish {
                topic,
                payload: Bytes::new(),
                qos: 1,
                retain: true,
                content_type: None,
                response_topic: None,
                user_properties: Vec::new(),
            })
        }
    }
}

fn on_editing_key(app: &mut App, editing: Editing, key: Key) -> Option<Command> {
    match editing {
        Editing::Filter => {
            let i = app.view.index();
            match key {
                Key::Esc | Key::Enter | Key::Tab | Key::BackTab => app.editing = None,
                Key::Up | Key::Down | Key::PageUp | Key::PageDown => {
                    app.editing = None;
                    return on_key(app, key);
                }
                _ => {
                    super::text::edit(&mut app.filters[i], &mut app.filter_back, key);
                }
            }
            app.selected[i] = 0;
            None
        }
        Editing::Publish => match app.publish.key(key) {
            FieldOutcome::Edited => None,
            FieldOutcome::Leave => {
                app.editing = None;
                None
            }
            FieldOutcome::Submit => match app.publish.to_command() {
                Ok(cmd) => {
                    app.notify(format!("publishing to {}…", app.publish.topic), false);
                    app.editing = None;
                    Some(cmd)
                }
                Err(e) => {
                    app.notify(e, true);
                    None
                }
            },
        },
        Editing::Subscribe => match app.subscribe.key(key) {
            FieldOutcome::Edited => None,
            FieldOutcome::Leave => {
                app.editing = None;
                None
            }
            FieldOutcome::Submit => match app.subscribe.to_command() {
                Ok(cmd) => {
                    app.subscriptions
                        .insert(app.subscribe.filter.clone(), app.subscribe.qos);
                    app.notify(format!("subscribing to {}…", app.subscribe.filter), false);
                    app.subscribe.filter.clear();
                    app.editing = None;
                    Some(cmd)
                }
                Err(e) => {
                    app.notify(e, true);
                    None
                }
            },
        },
    }
}

/// Switches view; tracing runs only while the Trace view is open.
fn switch_view(app: &mut App, to: View) -> Option<Command> {
    if to == app.view {
        return None;
    }
    let from = app.view;
    app.view = to;
    app.editing = None;
    if from == View::Trace && app.trace_client.is_some() {
        return Some(Command::Trace { client_id: None });
    }
    if to == View::Trace {
        if let Some(id) = &app.trace_client {
            return Some(Command::Trace {
                client_id: Some(id.clone()),
            });
        }
    }
    None
}

/// The client id of the selected row in the Connections view (or its open detail).
fn selected_client(app: &App) -> Option<String> {
    if let Some(d) = &app.detail {
        return Some(d.clone());
    }
    let rows = app.connection_rows();
    let i = *rows.get(app.selected[View::Connections.index()])?;
    app.snapshot
        .connections
        .as_ref()?
        .get(i)
        .map(|c| c.client_id.clone())
}

/// How many rows the current view's movable list has.
fn row_count(app: &App) -> usize {
    match app.view {
        View::Overview => 0,
        View::Connections => app.connection_rows().len(),
        View::Topics => app.topic_rows().len(),
        View::Inflight => app.inflight_rows().len(),
        View::PubSub => match app.pubsub_focus {
            PubSubFocus::Subscriptions => app.subscriptions.len(),
            PubSubFocus::Messages => app.message_rows().len(),
        },
        View::Slow => crate::derive::slow::rank(&app.snapshot, &app.client_rates).len(),
        View::Trace => app.trace_candidates().len(),
        View::Log => app.log_rows().len(),
    }
}

/// Moves the current view's selection to `f(current, last)`.
fn move_selection(app: &mut App, f: impl Fn(usize, usize) -> usize) {
    let n = row_count(app);
    let last = n.saturating_sub(1);
    match (app.view, app.pubsub_focus) {
        (View::Connections, _) if app.detail.is_some() => {
            let last = app.detail_rows().saturating_sub(1);
            app.detail_scroll = f(app.detail_scroll, last).min(last);
        }
        (View::Topics, _) => {
            let rows = app.topic_rows();
            let pos = app.topic_position(&rows);
            app.topic_selected = rows.get(f(pos, last).min(last)).map(|r| r.id);
            app.history_scroll = 0;
        }
        (View::PubSub, PubSubFocus::Subscriptions) => {
            app.sub_selected = f(app.sub_selected, last).min(last)
        }
        (v, _) => app.selected[v.index()] = f(app.selected[v.index()], last).min(last),
    }
}

fn act(app: &mut App, action: Action) -> Option<Command> {
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
            if app.view == View::Connections && app.detail.is_some() {
                app.detail = None;
            } else {
                app.filters[app.view.index()].clear();
            }
        }
        Action::SortNext | Action::SortPrev => {
            app.sort = if action == Action::SortNext {
                app.sort.next()
            } else {
                app.sort.prev()
            };
            app.sort_desc = app.sort.default_descending();
        }
        Action::SortReverse => app.sort_desc = !app.sort_desc,
        Action::Kick => {
            if let Some(id) = selected_client(app) {
                app.overlay = Some(Overlay::Confirm(Confirm::Kick(id)));
            }
        }
        Action::RangeNext => app.range = (app.range + 1) % RANGES_MS.len(),
        Action::ExpandAll => app.topics.set_all_expanded(true),
        Action::CollapseAll => {
            app.topics.set_all_expanded(false);
            app.topic_selected = None;
        }
        Action::DeleteRetained => delete_retained(app),
        Action::EditPublish => {
            app.publish.cursor_back = 0;
            app.editing = Some(Editing::Publish);
        }
        Action::AddSubscription => {
            app.subscribe.cursor_back = 0;
            app.editing = Some(Editing::Subscribe);
        }
        Action::Unsubscribe => return unsubscribe(app),
        Action::Pause => {
            app.paused = !app.paused;
            if !app.paused {
                app.skipped_while_paused = 0;
            }
        }
        Action::Clear => match app.view {
            View::PubSub => {
                app.messages.clear();
                app.selected[View::PubSub.index()] = 0;
            }
            View::Trace => app.trace.clear(),
            View::Log => {
                app.log.clear();
                app.selected[View::Log.index()] = 0;
            }
            _ => {}
        },
        Action::LevelMore | Action::LevelLess => {
            let i = Level::ALL
                .iter()
                .position(|l| *l == app.log_level)
                .unwrap_or(2);
            let j = if action == Action::LevelMore {
                (i + 1).min(Level::ALL.len() - 1)
            } else {
                i.saturating_sub(1)
            };
            app.log_level = Level::ALL[j];
            app.selected[View::Log.index()] = 0;
        }
        Action::HistoryOlder => app.history_scroll += 1,
        Action::HistoryNewer => app.history_scroll = app.history_scroll.saturating_sub(1),
    }
    None
}

fn horizontal(app: &mut App, right: bool) {
    match app.view {
        View::Topics => {
            let rows = app.topic_rows();
            let Some(row) = rows.get(app.topic_position(&rows)).copied() else {
                return;
            };
            let Some(node) = app.topics.node(row.id) else {
                return;
            };
            if right {
                if !node.children.is_empty() && !node.expanded {
                    app.topics.set_expanded(row.id, true);
                }
            } else if node.expanded && !node.children.is_empty() {
                app.topics.set_expanded(row.id, false);
            } else if let Some(p) = node.parent.filter(|p| *p != 0) {
                app.topic_selected = Some(p);
            }
        }
        View::PubSub => {
            app.pubsub_focus = if right {
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
            app.detail = selected_client(app);
            app.detail_scroll = 0;
        }
        View::Topics => {
            let rows = app.topic_rows();
            if let Some(row) = rows.get(app.topic_position(&rows)) {
                app.topic_selected = Some(row.id);
                app.topics.toggle(row.id);
            }
        }
        View::Inflight => {
            let rows = app.inflight_rows();
            let id = rows
                .get(app.selected[View::Inflight.index()])
                .and_then(|&i| app.snapshot.inflight.as_ref()?.get(i))
                .map(|e| e.client_id.clone());
            if id.is_some() {
                app.detail = id;
                app.detail_scroll = 0;
                return switch_view(app, View::Connections);
            }
        }
        View::PubSub => {
            if app.pubsub_focus == PubSubFocus::Messages {
                let rows = app.message_rows();
                if let Some(m) = rows.get(app.selected[View::PubSub.index()]) {
                    app.overlay = Some(Overlay::Message(Box::new((*m).clone())));
                }
            }
        }
        View::Slow => {
            let rank = crate::derive::slow::rank(&app.snapshot, &app.client_rates);
            let id = rank
                .get(app.selected[View::Slow.index()])
                .map(|r| r.client_id.to_owned());
            if id.is_some() {
                app.detail = id;
                app.detail_scroll = 0;
                return switch_view(app, View::Connections);
            }
        }
        View::Trace => {
            let id = app
                .trace_candidates()
                .get(app.selected[View::Trace.index()])
                .map(|s| (*s).to_owned());
            if let Some(id) = id {
                if app.trace_client.as_deref() != Some(id.as_str()) {
                    app.trace.clear();
                }
                app.trace_client = Some(id.clone());
                app.notify(format!("tracing {id}"), false);
                return Some(Command::Trace {
                    client_id: Some(id),
                });
            }
        }
        View::Overview | View::Log => {}
    }
    None
}

fn delete_retained(app: &mut App) {
    let rows = app.topic_rows();
    let Some(row) = rows.get(app.topic_position(&rows)) else {
        return;
    };
    let retained = app
        .topics
        .node(row.id)
        .and_then(|n| n.data.as_ref())
        .is_some_and(|d| d.retained);
    let topic = app.topics.path(row.id);
    if retained {
        app.overlay = Some(Overlay::Confirm(Confirm::DeleteRetained(topic)));
    } else {
        app.notify(format!("{topic} has no retained message"), true);
    }
}

fn unsubscribe(app: &mut App) -> Option<Command> {
    let filter = app.subscriptions.keys().nth(app.sub_selected).cloned()?;
    app.subscriptions.remove(&filter);
    app.sub_selected = app
        .sub_selected
        .min(app.subscriptions.len().saturating_sub(1));
    app.notify(format!("unsubscribing from {filter}…"), false);
    Some(Command::Unsubscribe { filter })
}

fn on_mouse(app: &mut App, m: Mouse) -> Option<Command> {
    if app.overlay.is_some() {
        return None;
    }
    match m.kind {
        MouseKind::ScrollUp => move_selection(app, |s, _| s.saturating_sub(3)),
        MouseKind::ScrollDown => move_selection(app, |s, _| s + 3),
        MouseKind::Click => match hit_test(app, m.column, m.row) {
            Hit::Tab(v) => return switch_view(app, v),
            Hit::Row(i) => {
                if app.view == View::PubSub {
                    app.pubsub_focus = PubSubFocus::Messages;
                }
                move_selection(app, |_, _| i);
            }
            Hit::SubRow(i) => {
                app.pubsub_focus = PubSubFocus::Subscriptions;
                move_selection(app, |_, _| i);
            }
            Hit::Nothing => {}
        },
    }
    None
}
