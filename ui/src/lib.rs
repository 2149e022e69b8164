//! midge-ui: the live ratatui dashboard of midge. Pure presentation over the monitoring
//! model (`midge-model`) and its command interface; no broker dependency, so the same
//! dashboard can watch the embedded broker or a remote one.
//!
//! Layout (TEA-lite):
//! - `msg` — [`Msg`]: keys, mouse, snapshots, events and ticks fed to [`update`].
//! - `input` — the key table (also the footer hints and help) and terminal event mapping.
//! - `app` — [`App`]: the shell and one state per view (`app/connections.rs`, `topics.rs`,
//!   `pubsub.rs`, `talkers.rs`, `lists.rs`); [`update`] (`app/update.rs`, `actions.rs`); the
//!   `Watch` sent to the source when what is shown changes (`app/watch.rs`); text fields;
//!   recordings (`record.rs`) and publish templates (`templates.rs`), whose files the
//!   terminal loop writes.
//! - `derive` — pure derivations: rates, the bounded topic tree, rings, payload kinds,
//!   the connections table's columns and local sort, the slow-consumer ranking.
//! - `decode` — payload decoders chosen by topic (`[ui.decoders]`): JSON with a path,
//!   Sparkplug B (prost), text, hex.
//! - `view` — [`view`]: one file per pane, theme, help, footer, layout (hit-testing).
//! - `run` — the terminal loop: [`run`] on the real terminal, [`run_with`] on any backend.

pub mod app;
pub mod decode;
pub mod derive;
pub mod input;
pub mod msg;
mod run;
pub mod view;

pub use app::{update, App, View};
pub use msg::{Key, Mouse, MouseKind, Msg};
pub use run::{run, run_with, InputSource, ScriptedInput};
pub use view::view;

/// Give the terminal back (leave raw mode and the alternate screen, stop mouse capture)
/// from outside the dashboard loop, e.g. before exiting on SIGTERM or SIGHUP.
pub fn restore_terminal() {
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    ratatui::restore();
}

/// How the dashboard presents itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Shown at the left of the status line (e.g. `midge 0.1.0`).
    pub title: String,
    /// Monochrome: also honoured when the `NO_COLOR` environment variable is set.
    pub no_color: bool,
    /// Where the broker's logs go, shown in the Log view header.
    pub log_file: Option<std::path::PathBuf>,
    /// `[ui.decoders]`: topic filter → decoder (Sparkplug B under `spBv1.0/` is added).
    pub decoders: Vec<(String, decode::Decoder)>,
    /// Where `R` writes recordings (default: the current directory).
    pub record_dir: Option<std::path::PathBuf>,
    /// Where publish templates and history are kept (`publish.json`); none: not kept.
    pub data_dir: Option<std::path::PathBuf>,
}
