//! Keys and mouse → messages and actions, through one key table that also generates the
//! footer hints and the help overlay, so they can never disagree.

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind,
};

mod keys;

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

pub use keys::KEYS;

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
