//! Everything that can happen to the dashboard, as one enum fed to `update`.

use std::sync::Arc;

use midge_model::{Event, Snapshot};

/// A key press, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Char(char),
    /// A letter with Control held.
    Ctrl(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

/// What the mouse did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseKind {
    Click,
    ScrollUp,
    ScrollDown,
}

/// A mouse event at a terminal cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mouse {
    pub kind: MouseKind,
    pub column: u16,
    pub row: u16,
}

/// One input to [`crate::update`].
#[derive(Debug, Clone)]
pub enum Msg {
    Key(Key),
    Mouse(Mouse),
    /// The terminal size (cells).
    Resize {
        width: u16,
        height: u16,
    },
    /// A new whole snapshot from the source (it also advances the clock).
    Snapshot(Arc<Snapshot>),
    Event(Event),
    /// The ~1 s tick, carrying the clock (unix ms) so ages move between snapshots.
    Tick {
        now_ms: u64,
    },
    /// A command could not be handed to the source (its queue was full or closed).
    CommandFailed(String),
    /// The loop asks whether what the dashboard shows changed: `update` answers with
    /// `Command::Watch` when it differs from the last one sent, else nothing.
    SyncWatch,
    /// The last `Command::Watch` did not fit the command queue: the next sync sends the
    /// (then latest) watch again.
    WatchNotSent,
    /// Stop now, without asking (the input script ended, or the source went away).
    Shutdown,
}

impl Msg {
    /// A plain character key.
    #[must_use]
    pub fn char(c: char) -> Self {
        Msg::Key(Key::Char(c))
    }
}
