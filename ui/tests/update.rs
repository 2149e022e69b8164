//! State tests without a terminal: key sequences → state and commands.

mod support;
#[path = "update/tools.rs"]
mod tools;
#[path = "update/watch.rs"]
mod watch;

use std::sync::Arc;

use bytes::Bytes;
use midge_model::{fixtures, Command, Counters, Event, Message, Snapshot};
use midge_ui::app::{Confirm, Editing, Limits, Overlay};
use midge_ui::derive::connections::Column;
use midge_ui::derive::topics::TopicLimits;
use midge_ui::{update, App, Key, Mouse, MouseKind, Msg, View};
use support::{busy_app, chars, key};

fn selected_client(app: &App) -> String {
    app.connection_table()
        .get(app.connections.list.selected)
        .expect("selected row")
        .client_id
        .clone()
}

#[test]
fn navigation_between_views() {
    let mut app = busy_app(80, 24);
    assert_eq!(app.view, View::Overview);
    key(&mut app, Key::Tab);
    assert_eq!(app.view, View::Connections);
    key(&mut app, Key::BackTab);
    key(&mut app, Key::BackTab);
    assert_eq!(app.view, View::Bridges, "the tenth tab wraps around");
    key(&mut app, Key::BackTab);
    assert_eq!(app.view, View::TopTalkers);
    key(&mut app, Key::BackTab);
    assert_eq!(app.view, View::Log);
    key(&mut app, Key::Char('9'));
    assert_eq!(app.view, View::TopTalkers);
    key(&mut app, Key::Char('0'));
    assert_eq!(app.view, View::Bridges);
    key(&mut app, Key::Char('3'));
    assert_eq!(app.view, View::Topics);
    // Clicking the fifth tab.
    let x = midge_ui::view::layout::tabs(80, app.view)[4].1 + 1;
    update(
        &mut app,
        Msg::Mouse(Mouse {
            kind: MouseKind::Click,
            column: x,
            row: 0,
        }),
    );
    assert_eq!(app.view, View::PubSub);
    key(&mut app, Key::Char('?'));
    assert_eq!(app.overlay, Some(Overlay::Help));
    key(&mut app, Key::Char('2'));
    assert_eq!(
        app.view,
        View::PubSub,
        "keys do not leak through an overlay"
    );
    key(&mut app, Key::Esc);
    assert_eq!(app.overlay, None);
}

#[test]
fn connections_sort_filter_and_click() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('2'));
    assert_eq!(selected_client(&app), "alerts-bot", "sorted by client id");
    key(&mut app, Key::Char('G'));
    assert_eq!(selected_client(&app), "tiny-device-9");
    key(&mut app, Key::Char('r'));
    key(&mut app, Key::Char('g'));
    assert_eq!(selected_client(&app), "tiny-device-9", "reversed");
    // Sort by queued (descending by default for numbers).
    while app.connections.sort != Column::Queued {
        key(&mut app, Key::Char('s'));
    }
    assert!(app.connections.descending);
    key(&mut app, Key::Char('g'));
    assert_eq!(selected_client(&app), "legacy-hmi");
    key(&mut app, Key::Char('/'));
    assert_eq!(app.editing, Some(Editing::Filter));
    chars(&mut app, "5.0");
    key(&mut app, Key::Enter);
    assert_eq!(app.editing, None);
    assert_eq!(app.connection_table().total(), 6, "MQTT 5.0 sessions");
    key(&mut app, Key::Esc);
    assert_eq!(app.connection_table().total(), 12, "Esc clears the filter");
    // Clicking the third data row (header at y=2, rows from y=3).
    update(
        &mut app,
        Msg::Mouse(Mouse {
            kind: MouseKind::Click,
            column: 5,
            row: 5,
        }),
    );
    assert_eq!(app.connections.list.selected, 2);
    update(
        &mut app,
        Msg::Mouse(Mouse {
            kind: MouseKind::ScrollDown,
            column: 5,
            row: 5,
        }),
    );
    assert_eq!(app.connections.list.selected, 5);
}

#[test]
fn detail_and_kick_after_confirmation() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('2'));
    key(&mut app, Key::Char('j'));
    let id = selected_client(&app);
    key(&mut app, Key::Enter);
    assert_eq!(app.connections.detail.as_deref(), Some(id.as_str()));
    assert_eq!(key(&mut app, Key::Char('x')), None, "asks first");
    assert_eq!(
        app.overlay,
        Some(Overlay::Confirm(Confirm::Kick(id.clone())))
    );
    assert_eq!(key(&mut app, Key::Char('n')), None);
    assert_eq!(app.overlay, None);
    key(&mut app, Key::Char('x'));
    assert_eq!(
        key(&mut app, Key::Char('y')),
        Some(Command::Kick { client_id: id })
    );
    key(&mut app, Key::Esc);
    assert_eq!(app.connections.detail, None);
}

#[test]
fn publish_form() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('5'));
    key(&mut app, Key::Char('p'));
    assert_eq!(app.editing, Some(Editing::Publish));
    chars(&mut app, "a/b+");
    key(&mut app, Key::Backspace);
    key(&mut app, Key::Tab);
    chars(&mut app, "hello q");
    key(&mut app, Key::Tab);
    chars(&mut app, "2");
    key(&mut app, Key::Tab);
    key(&mut app, Key::Char(' '));
    key(&mut app, Key::Tab);
    chars(&mut app, "text/plain");
    key(&mut app, Key::Tab);
    chars(&mut app, "a/reply");
    key(&mut app, Key::Tab);
    chars(&mut app, "k=v, x = y");
    key(&mut app, Key::Esc);
    assert_eq!(app.editing, None, "Esc leaves the form, keeping its text");
    assert_eq!(app.view, View::PubSub);
    key(&mut app, Key::Char('p'));
    let cmd = key(&mut app, Key::Enter);
    assert_eq!(
        cmd,
        Some(Command::Publish {
            topic: "a/b".to_owned(),
            payload: Bytes::from_static(b"hello q"),
            qos: 2,
            retain: true,
            content_type: Some("text/plain".to_owned()),
            response_topic: Some("a/reply".to_owned()),
            user_properties: vec![
                ("k".to_owned(), "v".to_owned()),
                ("x".to_owned(), "y".to_owned())
            ],
            message_expiry_secs: None,
            correlation_data: None,
        })
    );
    // A wildcard in the topic name is refused [MQTT-3.3.2-2].
    key(&mut app, Key::Char('p'));
    while app.pubsub.publish.field != midge_ui::app::FormField::Topic {
        key(&mut app, Key::Tab);
    }
    chars(&mut app, "/#");
    assert_eq!(key(&mut app, Key::Enter), None);
    assert!(app.notice.as_ref().is_some_and(|n| n.error));
    assert_eq!(app.editing, Some(Editing::Publish));
}

#[test]
fn subscribe_and_unsubscribe() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('5'));
    key(&mut app, Key::Char('a'));
    chars(&mut app, "alerts/#");
    key(&mut app, Key::Tab);
    key(&mut app, Key::Tab);
    assert_eq!(
        key(&mut app, Key::Enter),
        Some(Command::Subscribe {
            filter: "alerts/#".to_owned(),
            qos: 2
        })
    );
    assert_eq!(app.pubsub.subscriptions.get("alerts/#"), Some(&2));
    key(&mut app, Key::Char('a'));
    chars(&mut app, "bad/#/x");
    assert_eq!(
        key(&mut app, Key::Enter),
        None,
        "invalid filter [MQTT-4.7.1-2]"
    );
    key(&mut app, Key::Esc);
    key(&mut app, Key::Char('h'));
    key(&mut app, Key::Char('g'));
    assert_eq!(
        key(&mut app, Key::Char('u')),
        Some(Command::Unsubscribe {
            filter: "alerts/#".to_owned()
        })
    );
    assert!(!app.pubsub.subscriptions.contains_key("alerts/#"));
}

#[test]
fn messages_pause_clear_and_open() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('5'));
    let n = app.pubsub.messages.len();
    key(&mut app, Key::Char(' '));
    update(
        &mut app,
        Msg::Event(Event::Delivered(Message::new(
            fixtures::NOW_MS,
            "sensors/x",
            "1",
            0,
            false,
        ))),
    );
    assert_eq!(app.pubsub.messages.len(), n);
    assert_eq!(app.pubsub.skipped_while_paused, 1);
    key(&mut app, Key::Char(' '));
    key(&mut app, Key::Enter);
    assert!(matches!(&app.overlay, Some(Overlay::Message(m)) if m.topic == "sensors/garage/door"));
    key(&mut app, Key::Esc);
    key(&mut app, Key::Char('c'));
    assert!(app.pubsub.messages.is_empty());
}

#[test]
fn topic_tree_expand_collapse_and_delete_retained() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('3'));
    let all = app.topics.rows().len();
    key(&mut app, Key::Char('c'));
    let top = app.topics.rows().len();
    assert!(top < all);
    assert_eq!(top, 7, "seven top-level topics");
    // sensors is the last top-level node: expand it with Enter, then l on kitchen.
    key(&mut app, Key::Char('G'));
    key(&mut app, Key::Enter);
    assert_eq!(app.topics.rows().len(), top + 2);
    key(&mut app, Key::Char('G'));
    key(&mut app, Key::Char('l'));
    assert_eq!(app.topics.rows().len(), top + 4);
    key(&mut app, Key::Char('h'));
    assert_eq!(app.topics.rows().len(), top + 2);
    key(&mut app, Key::Char('e'));
    // $SYS starts collapsed; expand-all also opens its broker/uptime.
    assert_eq!(app.topics.rows().len(), all + 2);
    // Select the retained door state and delete it.
    key(&mut app, Key::Char('/'));
    chars(&mut app, "door");
    key(&mut app, Key::Enter);
    assert_eq!(key(&mut app, Key::Char('d')), None);
    assert_eq!(
        app.overlay,
        Some(Overlay::Confirm(Confirm::DeleteRetained(
            "sensors/garage/door".to_owned()
        )))
    );
    let cmd = key(&mut app, Key::Char('y'));
    assert!(
        matches!(cmd, Some(Command::Publish { ref topic, ref payload, retain: true, .. }) if topic == "sensors/garage/door" && payload.is_empty())
    );
}

#[test]
fn quit_confirmation() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('q'));
    assert_eq!(
        app.overlay,
        Some(Overlay::Confirm(Confirm::Quit { online: 8 })),
        "own client not counted"
    );
    key(&mut app, Key::Esc);
    assert!(!app.should_quit);
    key(&mut app, Key::Ctrl('c'));
    key(&mut app, Key::Ctrl('c'));
    assert!(app.should_quit, "a second Ctrl-C confirms");

    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('q'));
    key(&mut app, Key::Char('y'));
    assert!(app.should_quit);

    let mut idle = App::new(&support::options());
    key(&mut idle, Key::Char('q'));
    assert!(idle.should_quit, "no client: no question");
}

#[test]
fn trace_runs_only_while_watched() {
    let mut app = busy_app(80, 24);
    assert_eq!(key(&mut app, Key::Char('7')), None, "nothing chosen yet");
    let cmd = key(&mut app, Key::Enter);
    let first = app
        .trace_candidates()
        .get(0)
        .expect("a client")
        .client_id
        .clone();
    assert_eq!(
        cmd,
        Some(Command::Trace {
            client_id: Some(first.clone())
        })
    );
    assert_eq!(
        key(&mut app, Key::Char('1')),
        Some(Command::Trace { client_id: None })
    );
    assert_eq!(
        key(&mut app, Key::Char('7')),
        Some(Command::Trace {
            client_id: Some(first)
        })
    );
}

#[test]
fn bounded_topics_and_messages() {
    let limits = Limits {
        topics: TopicLimits {
            max_topics: 1_000,
            history_per_topic: 16,
            payload_clip: 64,
            history_budget: 64 * 1024,
        },
        messages: 500,
        messages_bytes: 1 << 20,
        log_lines: 300,
        trace_lines: 100,
    };
    let mut app = App::with_limits(&support::options(), limits);
    let payload = Bytes::from(vec![b'x'; 200]);
    for i in 0..100_000u64 {
        let m = Message::new(
            i,
            format!("fleet/{}/temp", i % 50_000),
            payload.clone(),
            0,
            false,
        );
        update(&mut app, Msg::Event(Event::Tap(m.clone())));
        update(&mut app, Msg::Event(Event::Delivered(m)));
        if i % 100 == 0 {
            update(
                &mut app,
                Msg::Event(Event::Log(midge_model::LogLine {
                    at_ms: i,
                    level: midge_model::Level::Info,
                    target: "t".into(),
                    message: "m".into(),
                })),
            );
        }
    }
    for i in 0..10_000u64 {
        update(
            &mut app,
            Msg::Event(Event::Tap(Message::new(
                i,
                "fleet/0/temp",
                payload.clone(),
                0,
                false,
            ))),
        );
    }
    let tree = &app.topics.tree;
    assert!(tree.len() <= 1_000);
    assert!(tree.capped(), "the cap is visible");
    assert_eq!(tree.total_messages(), 110_000);
    assert!(tree.history_bytes() <= 64 * 1024 + 1_000 * 64);
    let id = tree.find("fleet/0/temp").expect("kept");
    let data = tree.node(id).and_then(|n| n.data.as_ref()).expect("data");
    assert!(data.history.len() <= 16);
    assert!(data.history_dropped > 0);
    assert!(data
        .history
        .back()
        .is_some_and(|h| h.clipped() && h.full_len == 200));
    assert_eq!(app.pubsub.messages.len(), 500);
    assert!(app.pubsub.messages.truncated());
    assert_eq!(app.log.lines.len(), 300);
    assert!(app.log.lines.truncated());
    // The truncated/capped marks are on screen.
    key(&mut app, Key::Char('3'));
    let screen = support::render(&app, 160, 48);
    assert!(screen.contains("CAPPED at 1,000"), "{screen}");
}

#[test]
fn rates_from_two_snapshots() {
    let mut app = App::new(&support::options());
    let c = |m: u64| Counters {
        messages_received: Some(m),
        messages_sent: Some(2 * m),
        bytes_received: Some(100 * m),
        ..Counters::default()
    };
    update(
        &mut app,
        Msg::Snapshot(Arc::new(Snapshot {
            taken_at_ms: 10_000,
            counters: c(1_000),
            ..Snapshot::default()
        })),
    );
    update(
        &mut app,
        Msg::Snapshot(Arc::new(Snapshot {
            taken_at_ms: 12_000,
            counters: c(1_400),
            ..Snapshot::default()
        })),
    );
    let r = app.rates.current();
    assert_eq!(r.msgs_in, Some(200.0));
    assert_eq!(r.msgs_out, Some(400.0));
    assert_eq!(r.bytes_in, Some(20_000.0));
    assert_eq!(r.bytes_out, None, "unknown stays unknown");
    assert_eq!(app.now_ms, 12_000);
    let screen = support::render(&app, 80, 24);
    assert!(screen.contains("messages in 200/s"), "{screen}");
    assert!(screen.contains("bytes out n/a"), "{screen}");
}

#[test]
fn run_with_scripted_input_sends_commands() {
    let (mut source, link) = midge_model::link(fixtures::snapshot(), 16, 1);
    let script = [
        Msg::char('5'),
        Msg::char('a'),
        Msg::char('x'),
        Msg::Key(Key::Enter),
        Msg::char('a'),
        Msg::char('y'),
        Msg::Key(Key::Enter),
    ];
    let mut input = midge_ui::ScriptedInput::new(script);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).expect("backend");
    let app = midge_ui::run_with(
        &mut terminal,
        link,
        &support::options(),
        &mut input,
        &|| fixtures::NOW_MS,
    )
    .expect("run");
    assert_eq!(
        source.commands.try_recv().ok(),
        Some(Command::Subscribe {
            filter: "x".to_owned(),
            qos: 0
        })
    );
    // The command channel holds one: the second subscribe was refused with a notice.
    assert!(app
        .notice
        .as_ref()
        .is_some_and(|n| n.error && n.text.contains("full")));
    assert!(terminal.backend().to_string().contains("Pub/Sub"));
}

#[test]
fn text_fields_edit_at_the_cursor() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('5'));
    key(&mut app, Key::Char('p'));
    chars(&mut app, "home/lmp");
    key(&mut app, Key::Left);
    key(&mut app, Key::Left);
    chars(&mut app, "a");
    key(&mut app, Key::Home);
    key(&mut app, Key::Delete);
    chars(&mut app, "H");
    key(&mut app, Key::End);
    chars(&mut app, "/x");
    key(&mut app, Key::Backspace);
    key(&mut app, Key::Backspace);
    assert_eq!(app.pubsub.publish.topic, "Home/lamp");
    // Tab to the user properties: an escaped comma stays in the value.
    while app.pubsub.publish.field != midge_ui::app::FormField::UserProperties {
        key(&mut app, Key::Tab);
    }
    chars(&mut app, r"note=a\, b");
    let cmd = key(&mut app, Key::Enter);
    assert!(
        matches!(&cmd, Some(Command::Publish { user_properties, .. })
            if user_properties == &[("note".to_owned(), "a, b".to_owned())]),
        "{cmd:?}"
    );
    // The filter edits in place too.
    key(&mut app, Key::Char('2'));
    key(&mut app, Key::Char('/'));
    chars(&mut app, "snsor");
    key(&mut app, Key::Home);
    key(&mut app, Key::Right);
    chars(&mut app, "e");
    assert_eq!(app.filter(), "sensor");
}

#[test]
fn client_detail_scrolls_its_lists() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('2'));
    key(&mut app, Key::Enter);
    let id = app.connections.detail.clone().expect("detail open");
    let rows = app.detail_rows();
    assert!(rows > 0, "{id} has subscriptions or messages");
    let selected = app.connections.list.selected;
    for _ in 0..rows + 3 {
        key(&mut app, Key::Char('j'));
    }
    assert_eq!(
        app.connections.detail_scroll,
        rows - 1,
        "bounded by the longest list"
    );
    assert_eq!(app.connections.list.selected, selected);
    key(&mut app, Key::Char('g'));
    assert_eq!(app.connections.detail_scroll, 0);
    key(&mut app, Key::Esc);
    assert_eq!(app.connections.detail, None);
}
