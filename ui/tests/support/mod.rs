//! Shared test helpers: an App fed with the busy-broker fixtures at a fixed clock.

#![allow(dead_code)]

use std::sync::Arc;

use midge_model::fixtures;
use midge_ui::{update, App, Key, Msg, Options};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

pub fn options() -> Options {
    Options {
        title: "midge 0.1.0".to_owned(),
        no_color: false,
        log_file: Some("/var/log/midge.log".into()),
        decoders: vec![
            ("factory/+/json".to_owned(), midge_ui::decode::Decoder::Json),
            ("raw/#".to_owned(), midge_ui::decode::Decoder::Hex),
        ],
        ..Options::default()
    }
}

/// An App that has seen one minute of snapshots and all fixture events.
pub fn busy_app(width: u16, height: u16) -> App {
    app_with(width, height, fixtures::snapshot_series(240))
}

fn app_with(width: u16, height: u16, series: Vec<midge_model::Snapshot>) -> App {
    let mut app = App::new(&options());
    update(&mut app, Msg::Resize { width, height });
    // The dashboard's own subscription, typed before the clock starts (so its notice
    // is long gone), then back to the Overview.
    key(&mut app, Key::Char('5'));
    key(&mut app, Key::Char('a'));
    chars(&mut app, "sensors/#");
    key(&mut app, Key::Tab);
    key(&mut app, Key::Enter);
    // The next subscription starts at QoS 0 again.
    key(&mut app, Key::Char('a'));
    key(&mut app, Key::Tab);
    key(&mut app, Key::Tab);
    key(&mut app, Key::Esc);
    key(&mut app, Key::Char('1'));
    for s in series {
        update(&mut app, Msg::Snapshot(Arc::new(s)));
    }
    for e in fixtures::events() {
        update(&mut app, Msg::Event(e));
    }
    app
}

/// The busy broker with two bridges, an MQTT-SN client and datagram counters.
pub fn linked_app(width: u16, height: u16) -> App {
    app_with(width, height, fixtures::linked_series(240))
}

/// The Watch the dashboard would send now, if it changed since the last one.
pub fn sync(app: &mut App) -> Option<midge_model::Watch> {
    match update(app, Msg::SyncWatch) {
        Some(midge_model::Command::Watch(w)) => Some(w),
        _ => None,
    }
}

pub fn key(app: &mut App, k: Key) -> Option<midge_model::Command> {
    update(app, Msg::Key(k))
}

pub fn chars(app: &mut App, s: &str) {
    for c in s.chars() {
        update(app, Msg::Key(Key::Char(c)));
    }
}

pub fn render(app: &App, width: u16, height: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    t.draw(|f| midge_ui::view(app, f)).expect("draw");
    t.backend().to_string()
}
