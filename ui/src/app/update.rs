//! `update`: the one place the dashboard's state changes, message by message. It never
//! blocks and never reads a clock: time arrives in snapshots and ticks. Keys outside
//! text fields become actions (`actions.rs`).

use bytes::Bytes;
use midge_model::{Command, Event, Snapshot};

use super::actions::{act, move_selection, switch_view};
use super::forms::FieldOutcome;
use super::{App, Confirm, Editing, Overlay, PubSubFocus, View};
use crate::input::{action_for, Action};
use crate::msg::{Key, Mouse, MouseKind, Msg};
use crate::view::layout::{hit_test, Hit};

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
        Msg::SyncWatch => app.watch_changed(),
        Msg::WatchNotSent => {
            app.watch_sent = None;
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
    app.bridge_rates.update(&s);
    app.client_traffic.update(&s);
    app.snapshot = s;
    app.snapshots_seen += 1;
}

fn on_event(app: &mut App, e: Event) {
    match e {
        Event::Tap(m) => {
            // Only taps: a message can also arrive as a delivery, and counting it twice
            // would look like a seq gap.
            if app.decoders.for_topic(&m.topic) == Some(crate::decode::Decoder::Sparkplug) {
                app.edge_nodes.observe(&m.topic, &m.payload);
            }
            app.topics.tree.insert(&m);
        }
        Event::Delivered(m) => app.pubsub.delivered(m),
        Event::Log(l) => app.log.lines.push(l),
        Event::Trace(t) => {
            if app.trace.client.as_deref() == Some(t.client_id.as_str()) {
                app.trace.lines.push(t);
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
        Overlay::Templates => {
            let n = app.templates.entries().len();
            match key {
                Key::Down | Key::Char('j') => {
                    app.template_selected = (app.template_selected + 1).min(n.saturating_sub(1));
                }
                Key::Up | Key::Char('k') => {
                    app.template_selected = app.template_selected.saturating_sub(1);
                }
                Key::Enter => {
                    let picked = app
                        .templates
                        .entries()
                        .get(app.template_selected)
                        .copied()
                        .cloned();
                    if let Some(t) = picked {
                        t.load_into(&mut app.pubsub.publish);
                        app.overlay = None;
                        app.editing = Some(Editing::Publish);
                    }
                }
                Key::Char('d') => {
                    let picked = app
                        .templates
                        .saved
                        .get(app.template_selected)
                        .map(|t| t.name.clone());
                    if let Some(name) = picked {
                        app.templates.delete(&name);
                        app.notify(format!("deleted template {name}"), false);
                        let n = app.templates.entries().len();
                        app.template_selected = app.template_selected.min(n.saturating_sub(1));
                    }
                }
                Key::Esc | Key::Char('q' | 't') => app.overlay = None,
                Key::Ctrl('c') => {
                    app.overlay = None;
                    return act(app, Action::Quit);
                }
                _ => {}
            }
            None
        }
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
                message_expiry_secs: None,
                correlation_data: None,
            })
        }
    }
}

fn on_editing_key(app: &mut App, editing: Editing, key: Key) -> Option<Command> {
    match editing {
        Editing::Filter => {
            let view = app.view;
            match key {
                Key::Esc | Key::Enter | Key::Tab | Key::BackTab => app.editing = None,
                Key::Up | Key::Down | Key::PageUp | Key::PageDown => {
                    app.editing = None;
                    return on_key(app, key);
                }
                _ => {
                    let mut back = app.filter_back;
                    if let Some(f) = app.filter_mut(view) {
                        super::text::edit(f, &mut back, key);
                    }
                    app.filter_back = back;
                }
            }
            if let Some(l) = app.list_mut(view) {
                l.selected = 0;
            }
            None
        }
        Editing::TemplateName => {
            match key {
                Key::Esc => app.editing = None,
                Key::Enter => {
                    let name = app.template_name.trim().to_owned();
                    if name.is_empty() {
                        app.notify("a template needs a name", true);
                    } else {
                        let t = super::templates::Template::from_form(&name, &app.pubsub.publish);
                        app.templates.save(t);
                        app.notify(format!("saved template {name}"), false);
                        app.editing = None;
                    }
                }
                _ => {
                    super::text::edit(&mut app.template_name, &mut app.template_name_back, key);
                }
            }
            None
        }
        Editing::JsonPath => {
            match key {
                Key::Esc | Key::Enter | Key::Tab | Key::BackTab => app.editing = None,
                _ => {
                    let t = &mut app.topics;
                    super::text::edit(&mut t.json_path, &mut t.path_back, key);
                }
            }
            None
        }
        Editing::Publish => match app.pubsub.publish.key(key) {
            FieldOutcome::Edited => None,
            FieldOutcome::Leave => {
                app.editing = None;
                None
            }
            FieldOutcome::Submit => match app.pubsub.publish.to_command() {
                Ok(cmd) => {
                    app.templates.sent(&app.pubsub.publish);
                    let topic = app.pubsub.publish.topic.clone();
                    app.notify(format!("publishing to {topic}…"), false);
                    app.editing = None;
                    Some(cmd)
                }
                Err(e) => {
                    app.notify(e, true);
                    None
                }
            },
        },
        Editing::Subscribe => match app.pubsub.subscribe.key(key) {
            FieldOutcome::Edited => None,
            FieldOutcome::Leave => {
                app.editing = None;
                None
            }
            FieldOutcome::Submit => match app.pubsub.subscribe.to_command() {
                Ok(cmd) => {
                    let p = &mut app.pubsub;
                    let filter = std::mem::take(&mut p.subscribe.filter);
                    p.subscriptions.insert(filter.clone(), p.subscribe.qos);
                    app.notify(format!("subscribing to {filter}…"), false);
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
                    app.pubsub.focus = PubSubFocus::Messages;
                }
                move_selection(app, |_, _| i);
            }
            Hit::SubRow(i) => {
                app.pubsub.focus = PubSubFocus::Subscriptions;
                move_selection(app, |_, _| i);
            }
            Hit::Nothing => {}
        },
    }
    None
}
