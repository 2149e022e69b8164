//! The tools of a dashboard left open: the Bridges view, MQTT-SN clients, Top talkers,
//! recording, and publish templates with their history.

use bytes::Bytes;
use midge_model::{fixtures, Command, Event, Message};
use midge_ui::app::{Editing, Overlay};
use midge_ui::{update, App, Key, Mouse, MouseKind, Msg, View};

use crate::support::{self, busy_app, chars, key};

fn selected_client(app: &App) -> String {
    app.connection_table()
        .get(app.connections.list.selected)
        .expect("selected row")
        .client_id
        .clone()
}

#[test]
fn bridges_selection_and_filter() {
    let mut app = support::linked_app(80, 24);
    key(&mut app, Key::Char('0'));
    assert_eq!(app.bridge_rows(), vec![0, 1]);
    key(&mut app, Key::Char('G'));
    assert_eq!(app.bridges.list.selected, 1);
    key(&mut app, Key::Char('j'));
    assert_eq!(app.bridges.list.selected, 1, "stays on the last bridge");
    key(&mut app, Key::Char('/'));
    chars(&mut app, "plant");
    key(&mut app, Key::Enter);
    assert_eq!(app.bridge_rows(), vec![1]);
    assert_eq!(app.bridges.list.selected, 0);
    // Rates come from the forwarded totals of successive snapshots.
    assert_eq!(app.bridge_rates.rates("cloud"), (Some(2.0), Some(24.0)));
    // Every tab is reachable by a click, also when only keys fit on the tab line.
    for (i, v) in View::ALL.into_iter().enumerate() {
        // Tabs move as the active one shows its title.
        let x = midge_ui::view::layout::tabs(80, app.view)[i].1;
        update(
            &mut app,
            Msg::Mouse(Mouse {
                kind: MouseKind::Click,
                column: x + 1,
                row: 0,
            }),
        );
        assert_eq!(app.view, v, "tab {i}");
    }
}

#[test]
fn mqtt_sn_clients_filter_by_transport_and_state() {
    let mut app = support::linked_app(160, 48);
    key(&mut app, Key::Char('2'));
    key(&mut app, Key::Char('/'));
    chars(&mut app, "asleep");
    key(&mut app, Key::Enter);
    assert_eq!(selected_client(&app), "sn-meter-7");
    key(&mut app, Key::Enter);
    assert_eq!(app.connections.detail.as_deref(), Some("sn-meter-7"));
    assert_eq!(
        app.detail_rows(),
        5,
        "the topic-id table is the longest list"
    );
}

#[test]
fn top_talkers_rank_and_jump() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('9'));
    // The source is asked for the busiest sessions only.
    let w = support::sync(&mut app).expect("a watch");
    let q = w.table.expect("a table query");
    assert_eq!(q.sort, midge_model::SortKey::Rate);
    assert!(q.descending);
    let topics = app.top_topics();
    assert_eq!(topics[0].key.1, "sensors/kitchen/temperature");
    // …and for the subscriber counts of the topics it ranks, in name order.
    let mut names: Vec<String> = topics.iter().map(|t| t.key.1.clone()).collect();
    names.sort();
    assert_eq!(w.topics, names);
    assert!(
        topics.windows(2).all(|w| w[0].msgs >= w[1].msgs),
        "busiest first"
    );
    let clients = app.top_clients();
    assert_eq!(clients[0].key, "historian");
    // Ranking by bytes puts the busiest by bytes first.
    key(&mut app, Key::Char('b'));
    let by_bytes = app.top_topics();
    assert!(by_bytes.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    key(&mut app, Key::Char('b'));
    // The 10 s window forgets what the 5 min one remembers.
    key(&mut app, Key::Char('w'));
    key(&mut app, Key::Char('w'));
    assert!(app.top_topics().len() >= topics.len());

    // Enter on a topic: Topics, with that topic selected.
    key(&mut app, Key::Char('w'));
    key(&mut app, Key::Char('j'));
    let second = app.top_topics()[1].key.clone();
    key(&mut app, Key::Enter);
    assert_eq!(app.view, View::Topics);
    assert_eq!(app.topics.current(), Some(second.0));
    assert_eq!(
        app.topics.current_topic().as_deref(),
        Some(second.1.as_str())
    );

    // Enter on a client: its detail.
    key(&mut app, Key::Char('9'));
    key(&mut app, Key::Char('l'));
    key(&mut app, Key::Char('j'));
    let id = app.top_clients()[1].key.clone();
    key(&mut app, Key::Enter);
    assert_eq!(app.view, View::Connections);
    assert_eq!(app.connections.detail.as_deref(), Some(id.as_str()));
}

#[test]
fn record_delivered_messages() {
    let mut app = busy_app(80, 24);
    app.record_dir = std::path::PathBuf::from("/tmp/rec");
    key(&mut app, Key::Char('5'));
    key(&mut app, Key::Char('R'));
    let path = app
        .pubsub
        .recording
        .as_ref()
        .expect("recording")
        .path
        .clone();
    assert_eq!(
        path,
        std::path::Path::new("/tmp/rec/midge-20250615-120000.jsonl")
    );
    let mut m = Message::new(fixtures::NOW_MS, "sensors/a", "1", 1, false);
    update(&mut app, Msg::Event(Event::Delivered(m.clone())));
    m.payload = Bytes::from_static(&[0xff]);
    // Paused, the list skips it, the recording keeps it.
    key(&mut app, Key::Char(' '));
    update(&mut app, Msg::Event(Event::Delivered(m)));
    let r = app.pubsub.recording.as_ref().expect("recording");
    assert_eq!(r.messages, 2);
    assert_eq!(r.pending.len(), 2);
    assert!(r.pending[1].contains("payload_base64"), "{:?}", r.pending);
    key(&mut app, Key::Char('R'));
    assert!(app.pubsub.recording.is_none());
    assert_eq!(
        app.pubsub.finished.len(),
        1,
        "its last lines are still to be written"
    );
    let notice = app.notice.as_ref().expect("a notice");
    assert!(
        notice.text.starts_with("recorded 2 messages"),
        "{}",
        notice.text
    );
}

#[test]
fn publish_templates_and_history() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('5'));
    key(&mut app, Key::Char('s'));
    assert_eq!(app.editing, None, "nothing to save yet");
    key(&mut app, Key::Char('p'));
    chars(&mut app, "cmd/valve");
    key(&mut app, Key::Tab);
    chars(&mut app, "open");
    // To the v5 fields: expiry and correlation data.
    for _ in 0..6 {
        key(&mut app, Key::Tab);
    }
    chars(&mut app, "30");
    key(&mut app, Key::Tab);
    chars(&mut app, "req-1");
    key(&mut app, Key::Esc);
    key(&mut app, Key::Char('s'));
    assert_eq!(app.editing, Some(Editing::TemplateName));
    key(&mut app, Key::Ctrl('u'));
    chars(&mut app, "open valve");
    key(&mut app, Key::Enter);
    assert_eq!(app.templates.saved.len(), 1);
    assert!(app.templates.dirty, "the loop writes it to the data dir");
    // Sending puts the message in the history, v5 properties and all.
    key(&mut app, Key::Char('p'));
    let cmd = key(&mut app, Key::Enter);
    assert!(
        matches!(&cmd, Some(Command::Publish { message_expiry_secs: Some(30), correlation_data: Some(c), .. }) if c.as_ref() == b"req-1"),
        "{cmd:?}"
    );
    assert_eq!(app.templates.history.len(), 1);
    // A bad expiry is refused, not sent.
    app.pubsub.publish.message_expiry = "soon".to_owned();
    key(&mut app, Key::Char('p'));
    assert_eq!(key(&mut app, Key::Enter), None);
    key(&mut app, Key::Esc);

    // Pick the template back into a cleared form.
    app.pubsub.publish = midge_ui::app::PublishForm::default();
    key(&mut app, Key::Char('t'));
    assert_eq!(app.overlay, Some(Overlay::Templates));
    key(&mut app, Key::Enter);
    assert_eq!(app.overlay, None);
    assert_eq!(app.editing, Some(Editing::Publish));
    assert_eq!(app.pubsub.publish.topic, "cmd/valve");
    assert_eq!(app.pubsub.publish.correlation_data, "req-1");
    key(&mut app, Key::Esc);
    // Delete it.
    key(&mut app, Key::Char('t'));
    key(&mut app, Key::Char('d'));
    assert!(app.templates.saved.is_empty());
}
