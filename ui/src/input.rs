//! Keys and mouse → messages and actions, through one key table that also generates the
//! footer hints and the help overlay, so they can never disagree.

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind,
};

use crate::app::View;
use crate::msg::{Key, Mouse, MouseKind, Msg};

/// What a key does outside text fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    NextView,
    PrevView,
    Goto(View),
    Help,
    Filter,
    Up,
    Down,
    Left,
    Right,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Enter,
    Back,
    SortNext,
    SortPrev,
    SortReverse,
    Kick,
    RangeNext,
    ExpandAll,
    CollapseAll,
    DeleteRetained,
    EditPublish,
    AddSubscription,
    Unsubscribe,
    Pause,
    Clear,
    LevelMore,
    LevelLess,
    HistoryOlder,
    HistoryNewer,
    WindowNext,
    MetricToggle,
    JsonPath,
    Record,
    SaveTemplate,
    Templates,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    In(View),
}

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    /// How the keys are written in hints, e.g. `j/↓`.
    pub label: &'static str,
    pub action: Action,
    pub scope: Scope,
    pub help: &'static str,
    /// Shown in the footer (the help overlay lists every binding).
    pub footer: bool,
}

const fn b(
    keys: &'static [Key],
    label: &'static str,
    action: Action,
    scope: Scope,
    help: &'static str,
    footer: bool,
) -> Binding {
    Binding {
        keys,
        label,
        action,
        scope,
        help,
        footer,
    }
}

use Key::{
    BackTab, Char, Ctrl, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up,
};
use Scope::{Global, In};

/// The key table. View-scoped bindings win over global ones.
pub static KEYS: &[Binding] = &[
    b(
        &[Char('q'), Ctrl('c')],
        "q",
        Action::Quit,
        Global,
        "quit: asks when clients are connected",
        true,
    ),
    b(
        &[Char('?')],
        "?",
        Action::Help,
        Global,
        "help: every key",
        true,
    ),
    b(&[Tab], "Tab", Action::NextView, Global, "next view", false),
    b(
        &[BackTab],
        "S-Tab",
        Action::PrevView,
        Global,
        "previous view",
        false,
    ),
    b(
        &[Char('1')],
        "1",
        Action::Goto(View::Overview),
        Global,
        "Overview",
        false,
    ),
    b(
        &[Char('2')],
        "2",
        Action::Goto(View::Connections),
        Global,
        "Connections",
        false,
    ),
    b(
        &[Char('3')],
        "3",
        Action::Goto(View::Topics),
        Global,
        "Topics",
        false,
    ),
    b(
        &[Char('4')],
        "4",
        Action::Goto(View::Inflight),
        Global,
        "QoS in flight",
        false,
    ),
    b(
        &[Char('5')],
        "5",
        Action::Goto(View::PubSub),
        Global,
        "Publish / Subscribe",
        false,
    ),
    b(
        &[Char('6')],
        "6",
        Action::Goto(View::Slow),
        Global,
        "Slow consumers",
        false,
    ),
    b(
        &[Char('7')],
        "7",
        Action::Goto(View::Trace),
        Global,
        "Trace",
        false,
    ),
    b(
        &[Char('8')],
        "8",
        Action::Goto(View::Log),
        Global,
        "Log",
        false,
    ),
    b(
        &[Char('9')],
        "9",
        Action::Goto(View::TopTalkers),
        Global,
        "Top talkers",
        false,
    ),
    b(
        &[Char('0')],
        "0",
        Action::Goto(View::Bridges),
        Global,
        "Bridges",
        false,
    ),
    b(
        &[Char('/')],
        "/",
        Action::Filter,
        Global,
        "filter: type to narrow the list",
        true,
    ),
    b(
        &[Char('k'), Up],
        "k/↑",
        Action::Up,
        Global,
        "move up",
        false,
    ),
    b(
        &[Char('j'), Down],
        "j/↓",
        Action::Down,
        Global,
        "move down",
        false,
    ),
    b(
        &[Char('h'), Left],
        "h/←",
        Action::Left,
        Global,
        "left / collapse / previous pane",
        false,
    ),
    b(
        &[Char('l'), Right],
        "l/→",
        Action::Right,
        Global,
        "right / expand / next pane",
        false,
    ),
    b(
        &[Char('g'), Home],
        "g",
        Action::Top,
        Global,
        "first row",
        false,
    ),
    b(
        &[Char('G'), End],
        "G",
        Action::Bottom,
        Global,
        "last row",
        false,
    ),
    b(
        &[PageUp, Ctrl('b')],
        "PgUp",
        Action::PageUp,
        Global,
        "page up",
        false,
    ),
    b(
        &[PageDown, Ctrl('f')],
        "PgDn",
        Action::PageDown,
        Global,
        "page down",
        false,
    ),
    b(
        &[Enter],
        "Enter",
        Action::Enter,
        Global,
        "open / select",
        false,
    ),
    b(
        &[Esc],
        "Esc",
        Action::Back,
        Global,
        "leave a field, close an overlay or detail",
        false,
    ),
    b(
        &[Char('['), Char(']')],
        "[ ]",
        Action::RangeNext,
        In(View::Overview),
        "range: chart span 1 / 5 / 15 min",
        true,
    ),
    b(
        &[Enter],
        "Enter",
        Action::Enter,
        In(View::Connections),
        "detail: session, subscriptions, in flight, queue",
        true,
    ),
    b(
        &[Char('s')],
        "s",
        Action::SortNext,
        In(View::Connections),
        "sort: by the next column",
        true,
    ),
    b(
        &[Char('S')],
        "S",
        Action::SortPrev,
        In(View::Connections),
        "sort: by the previous column",
        false,
    ),
    b(
        &[Char('r')],
        "r",
        Action::SortReverse,
        In(View::Connections),
        "reverse: the sort order",
        true,
    ),
    b(
        &[Char('x')],
        "x",
        Action::Kick,
        In(View::Connections),
        "kick: disconnect the client",
        true,
    ),
    b(
        &[Enter, Char(' ')],
        "Space",
        Action::Enter,
        In(View::Topics),
        "expand/collapse",
        true,
    ),
    b(
        &[Char('e')],
        "e",
        Action::ExpandAll,
        In(View::Topics),
        "expand all",
        false,
    ),
    b(
        &[Char('c')],
        "c",
        Action::CollapseAll,
        In(View::Topics),
        "collapse all",
        false,
    ),
    b(
        &[Char('d')],
        "d",
        Action::DeleteRetained,
        In(View::Topics),
        "delete: the retained message",
        true,
    ),
    b(
        &[Char('p')],
        "p",
        Action::JsonPath,
        In(View::Topics),
        "path: narrow JSON payloads, e.g. a.b[0] (json decoder)",
        false,
    ),
    b(
        &[Char('K')],
        "K",
        Action::HistoryOlder,
        In(View::Topics),
        "scroll payload history (older)",
        false,
    ),
    b(
        &[Char('J')],
        "J",
        Action::HistoryNewer,
        In(View::Topics),
        "scroll payload history (newer)",
        false,
    ),
    b(
        &[Char('p'), Char('e')],
        "p",
        Action::EditPublish,
        In(View::PubSub),
        "publish: edit and send a message",
        true,
    ),
    b(
        &[Char('a')],
        "a",
        Action::AddSubscription,
        In(View::PubSub),
        "subscribe: add a subscription",
        true,
    ),
    b(
        &[Char('u')],
        "u",
        Action::Unsubscribe,
        In(View::PubSub),
        "unsubscribe: remove the selected subscription",
        true,
    ),
    b(
        &[Char(' ')],
        "Space",
        Action::Pause,
        In(View::PubSub),
        "pause: stop or resume the message list",
        true,
    ),
    b(
        &[Char('s')],
        "s",
        Action::SaveTemplate,
        In(View::PubSub),
        "save: the publish form as a named template",
        true,
    ),
    b(
        &[Char('t')],
        "t",
        Action::Templates,
        In(View::PubSub),
        "templates: pick a template or a sent message into the form",
        true,
    ),
    b(
        &[Char('R')],
        "R",
        Action::Record,
        In(View::PubSub),
        "record: the subscriptions' messages to a JSON Lines file (again: stop)",
        true,
    ),
    b(
        &[Char('c')],
        "c",
        Action::Clear,
        In(View::PubSub),
        "clear the message list",
        false,
    ),
    b(
        &[Enter],
        "Enter",
        Action::Enter,
        In(View::PubSub),
        "open the message whole",
        false,
    ),
    b(
        &[Enter],
        "Enter",
        Action::Enter,
        In(View::Slow),
        "detail: session, subscriptions, in flight, queue",
        true,
    ),
    b(
        &[Enter],
        "Enter",
        Action::Enter,
        In(View::Trace),
        "trace: the selected client's packets",
        true,
    ),
    b(
        &[Char('c')],
        "c",
        Action::Clear,
        In(View::Trace),
        "clear the trace",
        false,
    ),
    b(
        &[Enter],
        "Enter",
        Action::Enter,
        In(View::TopTalkers),
        "jump: to the topic in Topics or the client's detail",
        true,
    ),
    b(
        &[Char('w')],
        "w",
        Action::WindowNext,
        In(View::TopTalkers),
        "window: rank over 10 s / 1 min / 5 min",
        true,
    ),
    b(
        &[Char('b')],
        "b",
        Action::MetricToggle,
        In(View::TopTalkers),
        "bytes: rank by bytes/s or messages/s",
        true,
    ),
    b(
        &[Char('+')],
        "+",
        Action::LevelMore,
        In(View::Log),
        "more: show more verbose levels",
        true,
    ),
    b(
        &[Char('-')],
        "-",
        Action::LevelLess,
        In(View::Log),
        "fewer: show fewer levels",
        true,
    ),
    b(
        &[Char('c')],
        "c",
        Action::Clear,
        In(View::Log),
        "clear the log",
        false,
    ),
];

/// The action of `key` in `view`, view bindings first.
#[must_use]
pub fn action_for(key: Key, view: View) -> Option<Action> {
    let find = |scope: Scope| {
        KEYS.iter()
            .find(|b| b.scope == scope && b.keys.contains(&key))
            .map(|b| b.action)
    };
    find(Scope::In(view)).or_else(|| find(Scope::Global))
}

/// Footer hints for a view: its own bindings, then the global ones marked for the footer.
#[must_use]
pub fn hints(view: View) -> Vec<(&'static str, &'static str)> {
    let own = KEYS
        .iter()
        .filter(|b| b.footer && b.scope == Scope::In(view));
    let global = KEYS.iter().filter(|b| b.footer && b.scope == Scope::Global);
    own.chain(global)
        .map(|b| (b.label, short(b.help)))
        .collect()
}

/// The first words of a help text, for the footer.
fn short(help: &'static str) -> &'static str {
    help.split([':', '(']).next().map_or(help, str::trim_end)
}

/// Converts a terminal event into a message; `None` for what the dashboard ignores.
#[must_use]
pub fn from_terminal(ev: &TermEvent) -> Option<Msg> {
    match ev {
        TermEvent::Key(k) if k.kind != KeyEventKind::Release => {
            let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
            let key = match k.code {
                KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
                KeyCode::Char(c) => Key::Char(c),
                KeyCode::Enter => Key::Enter,
                KeyCode::Esc => Key::Esc,
                KeyCode::Tab if k.modifiers.contains(KeyModifiers::SHIFT) => Key::BackTab,
                KeyCode::Tab => Key::Tab,
                KeyCode::BackTab => Key::BackTab,
                KeyCode::Backspace => Key::Backspace,
                KeyCode::Delete => Key::Delete,
                KeyCode::Up => Key::Up,
                KeyCode::Down => Key::Down,
                KeyCode::Left => Key::Left,
                KeyCode::Right => Key::Right,
                KeyCode::Home => Key::Home,
                KeyCode::End => Key::End,
                KeyCode::PageUp => Key::PageUp,
                KeyCode::PageDown => Key::PageDown,
                _ => return None,
            };
            Some(Msg::Key(key))
        }
        TermEvent::Mouse(m) => {
            let kind = match m.kind {
                MouseEventKind::Down(MouseButton::Left) => MouseKind::Click,
                MouseEventKind::ScrollUp => MouseKind::ScrollUp,
                MouseEventKind::ScrollDown => MouseKind::ScrollDown,
                _ => return None,
            };
            Some(Msg::Mouse(Mouse {
                kind,
                column: m.column,
                row: m.row,
            }))
        }
        TermEvent::Resize(width, height) => Some(Msg::Resize {
            width: *width,
            height: *height,
        }),
        _ => None,
    }
}
