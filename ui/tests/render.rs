//! TestBackend renders of every view from the fixtures at a fixed clock, at 80×24 and
//! 160×48, snapshotted with insta (accept with `INSTA_UPDATE=always`).

mod support;

use midge_ui::{Key, View};
use support::{busy_app, chars, key, linked_app, render};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn name(view: &str, (w, h): (u16, u16)) -> String {
    format!("{view}_{w}x{h}")
}

#[test]
fn every_view_at_both_sizes() {
    for size in SIZES {
        let mut app = busy_app(size.0, size.1);
        for (i, v) in View::ALL.iter().enumerate() {
            key(&mut app, Key::Char(midge_ui::view::layout::tab_key(i)));
            assert_eq!(app.view, *v);
            if *v == View::Trace {
                // Pick sensor-kitchen, which the fixtures traced.
                let pos = app
                    .trace_candidates()
                    .present()
                    .position(|(_, c)| c.client_id == "sensor-kitchen")
                    .expect("the fixtures have sensor-kitchen");
                for _ in 0..pos {
                    key(&mut app, Key::Char('j'));
                }
                key(&mut app, Key::Enter);
                for e in midge_model::fixtures::events() {
                    if matches!(e, midge_model::Event::Trace(_)) {
                        midge_ui::update(&mut app, midge_ui::Msg::Event(e));
                    }
                }
            }
            if *v == View::Topics {
                // Select the JSON lamp payload through the filter, then show the whole tree.
                key(&mut app, Key::Char('/'));
                chars(&mut app, "lamp");
                key(&mut app, Key::Enter);
                key(&mut app, Key::Char('j'));
                key(&mut app, Key::Esc);
            }
            insta::assert_snapshot!(
                name(
                    &format!(
                        "{}_{}",
                        i + 1,
                        v.title().replace([' ', '/'], "_").to_lowercase()
                    ),
                    size
                ),
                render(&app, size.0, size.1)
            );
        }
    }
}

#[test]
fn topics_numeric_chart() {
    for size in SIZES {
        let mut app = busy_app(size.0, size.1);
        key(&mut app, Key::Char('3'));
        key(&mut app, Key::Char('/'));
        chars(&mut app, "temperature");
        key(&mut app, Key::Enter);
        insta::assert_snapshot!(name("topics_numeric", size), render(&app, size.0, size.1));
    }
}

#[test]
fn topics_branch_and_empty_connections() {
    // The first row, the collapsed $SYS branch: what is below and how to open it.
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('3'));
    key(&mut app, Key::Char('g'));
    insta::assert_snapshot!("topics_branch_80x24", render(&app, 80, 24));

    // A fresh broker: empty states say what to try, aimed at its listener.
    let mut app = midge_ui::App::new(&support::options());
    let mut snap = midge_model::Snapshot {
        taken_at_ms: midge_model::fixtures::NOW_MS,
        connections: Some(Vec::new()),
        ..midge_model::Snapshot::default()
    };
    snap.source.listeners = vec!["mqtt://127.0.0.1:1883".to_owned()];
    midge_ui::update(&mut app, midge_ui::Msg::Snapshot(std::sync::Arc::new(snap)));
    key(&mut app, Key::Char('2'));
    insta::assert_snapshot!("connections_empty_80x24", render(&app, 80, 24));
    key(&mut app, Key::Char('3'));
    insta::assert_snapshot!("topics_empty_80x24", render(&app, 80, 24));
}

#[test]
fn overlays_and_detail() {
    for size in SIZES {
        let mut app = busy_app(size.0, size.1);
        key(&mut app, Key::Char('?'));
        insta::assert_snapshot!(name("help", size), render(&app, size.0, size.1));
        key(&mut app, Key::Esc);

        key(&mut app, Key::Char('2'));
        key(&mut app, Key::Char('/'));
        chars(&mut app, "historian");
        key(&mut app, Key::Enter);
        key(&mut app, Key::Enter);
        insta::assert_snapshot!(name("client_detail", size), render(&app, size.0, size.1));

        key(&mut app, Key::Char('x'));
        insta::assert_snapshot!(name("kick_confirm", size), render(&app, size.0, size.1));
        key(&mut app, Key::Esc);

        key(&mut app, Key::Char('q'));
        insta::assert_snapshot!(name("quit_confirm", size), render(&app, size.0, size.1));
        key(&mut app, Key::Esc);

        key(&mut app, Key::Char('5'));
        key(&mut app, Key::Char('p'));
        chars(&mut app, "home/lamp");
        key(&mut app, Key::Tab);
        chars(&mut app, "{\"on\":false}");
        insta::assert_snapshot!(name("publish_form", size), render(&app, size.0, size.1));
        key(&mut app, Key::Esc);
        key(&mut app, Key::Enter);
        insta::assert_snapshot!(name("message_whole", size), render(&app, size.0, size.1));
    }
}

#[test]
fn no_color_and_empty_source() {
    let mut opts = support::options();
    opts.no_color = true;
    let app = midge_ui::App::new(&opts);
    insta::assert_snapshot!("waiting_80x24", render(&app, 80, 24));
}

#[test]
fn paged_connections() {
    // A paging source's big broker: 100,000 sessions, the page it answered for the
    // dashboard's Watch, scrolled to the end (80×24) and to row 100 (160×48).
    for (size, keys) in [
        ((80, 24), vec![Key::Char('G')]),
        ((160, 48), vec![Key::Char('j'); 100]),
    ] {
        let mut app = busy_app(size.0, size.1);
        let first = midge_model::fixtures::paged_snapshot(0, 10);
        midge_ui::update(
            &mut app,
            midge_ui::Msg::Snapshot(std::sync::Arc::new(first)),
        );
        key(&mut app, Key::Char('2'));
        for k in keys {
            key(&mut app, k);
        }
        let w = support::sync(&mut app)
            .and_then(|w| w.table)
            .expect("a table query");
        let page = midge_model::fixtures::paged_snapshot(w.offset, w.limit);
        midge_ui::update(&mut app, midge_ui::Msg::Snapshot(std::sync::Arc::new(page)));
        insta::assert_snapshot!(
            name("paged_connections", size),
            render(&app, size.0, size.1)
        );
    }
}

#[test]
fn bridges_and_mqtt_sn() {
    for size in SIZES {
        let mut app = linked_app(size.0, size.1);
        key(&mut app, Key::Char('0'));
        insta::assert_snapshot!(name("bridges", size), render(&app, size.0, size.1));
        // The second bridge: down, a TLS error and a backlog.
        key(&mut app, Key::Char('j'));
        insta::assert_snapshot!(name("bridges_down", size), render(&app, size.0, size.1));

        key(&mut app, Key::Char('1'));
        insta::assert_snapshot!(
            name("overview_datagrams", size),
            render(&app, size.0, size.1)
        );
        key(&mut app, Key::Char('2'));
        key(&mut app, Key::Char('/'));
        chars(&mut app, "mqtt-sn");
        key(&mut app, Key::Enter);
        insta::assert_snapshot!(name("connections_sn", size), render(&app, size.0, size.1));
        key(&mut app, Key::Enter);
        insta::assert_snapshot!(name("sn_client_detail", size), render(&app, size.0, size.1));
    }
}

#[test]
fn bridges_empty_and_unknown() {
    // The busy broker's source cannot see bridges.
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('0'));
    insta::assert_snapshot!("bridges_unknown_80x24", render(&app, 80, 24));
    // A source that sees bridges, with none configured.
    let mut snap = midge_model::fixtures::snapshot();
    snap.bridges = Some(Vec::new());
    midge_ui::update(&mut app, midge_ui::Msg::Snapshot(std::sync::Arc::new(snap)));
    insta::assert_snapshot!("bridges_empty_80x24", render(&app, 80, 24));
}

#[test]
fn top_talkers_by_bytes_over_5_min() {
    for size in SIZES {
        let mut app = busy_app(size.0, size.1);
        key(&mut app, Key::Char('9'));
        key(&mut app, Key::Char('w'));
        key(&mut app, Key::Char('w'));
        key(&mut app, Key::Char('b'));
        key(&mut app, Key::Char('l'));
        insta::assert_snapshot!(
            name("top_talkers_bytes_5min", size),
            render(&app, size.0, size.1)
        );
    }
}

/// A Sparkplug B NBIRTH and DDATA of one edge node, encoded with prost.
fn sparkplug_events() -> Vec<midge_model::Event> {
    use midge_ui::decode::sparkplug::{encode, Metric, Payload, Value};
    let m = |name: &str, alias: u64, datatype: u32, value: Value| Metric {
        name: Some(name.to_owned()),
        alias: Some(alias),
        datatype: Some(datatype),
        value: Some(value),
        ..Metric::default()
    };
    let now = midge_model::fixtures::NOW_MS;
    let birth = Payload {
        timestamp: Some(now - 2000),
        seq: Some(0),
        metrics: vec![m("bdSeq", 0, 8, Value::Long(3))],
        ..Payload::default()
    };
    let data = Payload {
        timestamp: Some(now - 500),
        seq: Some(1),
        metrics: vec![
            m("Press/Temperature", 1, 9, Value::Float(71.25)),
            m("Press/Running", 2, 11, Value::Boolean(true)),
            m("Press/Count", 3, 3, Value::Int(u32::MAX - 4)),
            m("Press/Recipe", 4, 12, Value::String("steel-4mm".to_owned())),
        ],
        ..Payload::default()
    };
    let tap = |at: u64, topic: &str, p: &Payload| {
        midge_model::Event::Tap(midge_model::Message::new(at, topic, encode(p), 0, false))
    };
    vec![
        tap(now - 2000, "spBv1.0/plant/NBIRTH/edge1", &birth),
        tap(now - 500, "spBv1.0/plant/DDATA/edge1/press", &data),
        midge_model::Event::Tap(midge_model::Message::new(
            now - 400,
            "factory/line2/json",
            r#"{"temp":{"c":21.5,"f":70.7},"ok":true}"#,
            0,
            false,
        )),
        midge_model::Event::Tap(midge_model::Message::new(
            now - 300,
            "factory/line3/json",
            "temp=21.5",
            0,
            false,
        )),
    ]
}

#[test]
fn payload_decoders() {
    for size in SIZES {
        let mut app = busy_app(size.0, size.1);
        for e in sparkplug_events() {
            midge_ui::update(&mut app, midge_ui::Msg::Event(e));
        }
        key(&mut app, Key::Char('3'));
        let show = |app: &mut midge_ui::App, filter: &str| {
            key(app, Key::Char('/'));
            key(app, Key::Ctrl('u'));
            chars(app, filter);
            key(app, Key::Enter);
            key(app, Key::Char('G'));
        };
        show(&mut app, "DDATA");
        insta::assert_snapshot!(
            name("decoded_sparkplug", size),
            render(&app, size.0, size.1)
        );
        show(&mut app, "line2");
        key(&mut app, Key::Char('p'));
        chars(&mut app, "temp.c");
        insta::assert_snapshot!(
            name("decoded_json_path", size),
            render(&app, size.0, size.1)
        );
        key(&mut app, Key::Enter);
        show(&mut app, "line3");
        insta::assert_snapshot!(name("decode_error", size), render(&app, size.0, size.1));
    }
}

#[test]
fn pubsub_recording() {
    for size in SIZES {
        let mut app = busy_app(size.0, size.1);
        key(&mut app, Key::Char('5'));
        key(&mut app, Key::Char('R'));
        for e in midge_model::fixtures::events() {
            if matches!(e, midge_model::Event::Delivered(_)) {
                midge_ui::update(&mut app, midge_ui::Msg::Event(e));
            }
        }
        insta::assert_snapshot!(name("pubsub_recording", size), render(&app, size.0, size.1));
    }
}

#[test]
fn publish_templates_overlay() {
    for size in SIZES {
        let mut app = busy_app(size.0, size.1);
        key(&mut app, Key::Char('5'));
        key(&mut app, Key::Char('p'));
        chars(&mut app, "cmd/valve");
        key(&mut app, Key::Tab);
        chars(&mut app, "open");
        key(&mut app, Key::Enter);
        key(&mut app, Key::Char('s'));
        key(&mut app, Key::Ctrl('u'));
        chars(&mut app, "open valve");
        insta::assert_snapshot!(name("template_name", size), render(&app, size.0, size.1));
        key(&mut app, Key::Enter);
        key(&mut app, Key::Char('t'));
        insta::assert_snapshot!(name("templates", size), render(&app, size.0, size.1));
    }
}
