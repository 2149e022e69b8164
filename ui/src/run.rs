//! The terminal loop: drain the link (latest snapshot, bounded events), feed input to
//! `update`, send commands with `try_send` (and the `Watch` whenever what is shown
//! changed), and redraw only when something changed or on the ~1 s tick. [`run`] owns the real terminal; [`run_with`] runs the same loop on
//! any backend with any input source (tests use `TestBackend` and a script).

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use midge_model::{Command, MonitorLink};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};

use crate::app::{update, App, View};
use crate::msg::Msg;
use crate::{input, view, Options};

/// Where input messages come from.
pub trait InputSource {
    /// The next input, waiting at most `timeout`; `None` if nothing came.
    ///
    /// # Errors
    /// The terminal could not be read.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Msg>>;
}

/// The real terminal, through crossterm.
struct TerminalInput;

impl InputSource for TerminalInput {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Msg>> {
        if crossterm::event::poll(timeout)? {
            Ok(input::from_terminal(&crossterm::event::read()?))
        } else {
            Ok(None)
        }
    }
}

/// A fixed script of messages; when it runs out it yields [`Msg::Shutdown`].
#[derive(Debug, Default)]
pub struct ScriptedInput {
    msgs: VecDeque<Msg>,
}

impl ScriptedInput {
    #[must_use]
    pub fn new(msgs: impl IntoIterator<Item = Msg>) -> Self {
        Self {
            msgs: msgs.into_iter().collect(),
        }
    }
}

impl InputSource for ScriptedInput {
    fn next(&mut self, _timeout: Duration) -> io::Result<Option<Msg>> {
        Ok(Some(self.msgs.pop_front().unwrap_or(Msg::Shutdown)))
    }
}

/// How long to wait for input before looking at the link again.
const POLL: Duration = Duration::from_millis(50);
/// The redraw tick for ages and uptime.
const TICK_MS: u64 = 1000;
/// Events handled per loop turn, so a flood cannot starve input and drawing.
const MAX_EVENTS_PER_TURN: usize = 10_000;

fn system_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Takes over the terminal (ratatui::init), runs until the user quits, restores it
/// (also on panic). Honours `NO_COLOR`.
///
/// # Errors
/// The terminal could not be drawn to or read from.
pub fn run(link: MonitorLink, mut options: Options) -> io::Result<()> {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        options.no_color = true;
    }
    let mut terminal = ratatui::init();
    // ratatui's hook restores the screen; also give the mouse back on panic.
    let restore = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(io::stdout(), DisableMouseCapture);
        restore(info);
    }));
    let _ = crossterm::execute!(io::stdout(), EnableMouseCapture);
    let result = run_with(
        &mut terminal,
        link,
        &options,
        &mut TerminalInput,
        &system_clock,
    );
    let _ = crossterm::execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result.map(drop)
}

fn backend_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The dashboard loop over any backend, input source and clock (unix ms). Returns when
/// the user quits (or the input yields [`Msg::Shutdown`]), with the final state.
///
/// # Errors
/// The backend or the input source failed.
pub fn run_with<B: Backend>(
    terminal: &mut Terminal<B>,
    mut link: MonitorLink,
    options: &Options,
    input: &mut dyn InputSource,
    clock: &dyn Fn() -> u64,
) -> io::Result<App> {
    let mut app = App::new(options);
    if let Some(dir) = &options.data_dir {
        match crate::app::templates::Templates::load(dir) {
            Ok(t) => app.templates = t,
            Err(e) => app.notify(format!("publish templates not loaded: {e}"), true),
        }
    }
    let size = terminal.size().map_err(backend_err)?;
    update(
        &mut app,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );
    let initial = link.snapshots.borrow_and_update().clone();
    if initial.taken_at_ms > 0 {
        update(&mut app, Msg::Snapshot(initial));
    }
    let mut dirty = true;
    let mut last_tick = 0u64;
    let mut source_closed = false;
    // The last Watch did not fit the command queue: try again next turn.
    let mut watch_unsent = false;
    let mut recorder = Recorder::default();
    loop {
        match link.snapshots.has_changed() {
            Ok(true) => {
                let s = link.snapshots.borrow_and_update().clone();
                update(&mut app, Msg::Snapshot(s));
                dirty = true;
            }
            Ok(false) => {}
            Err(_) => {
                if !source_closed {
                    source_closed = true;
                    app.notify("the source stopped publishing", true);
                    dirty = true;
                }
            }
        }
        for _ in 0..MAX_EVENTS_PER_TURN {
            match link.events.try_recv() {
                Ok(e) => {
                    update(&mut app, Msg::Event(e));
                    dirty = true;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let now = clock();
        if now >= last_tick.saturating_add(TICK_MS) {
            last_tick = now;
            update(&mut app, Msg::Tick { now_ms: now });
            dirty = true;
        }
        if dirty || watch_unsent {
            // What is shown may have moved with the snapshot or the clock.
            watch_unsent = !sync_watch(&mut app, &link);
        }
        recorder.write(&mut app);
        store_templates(&mut app);
        if dirty {
            terminal.draw(|f| view(&app, f)).map_err(backend_err)?;
            dirty = false;
        }
        if app.should_quit {
            if app.view == View::Trace && app.trace.client.is_some() {
                let _ = link.commands.try_send(Command::Trace { client_id: None });
            }
            return Ok(app);
        }
        let mut wait = POLL;
        // Handle a burst of input before drawing again.
        for _ in 0..64 {
            let Some(msg) = input.next(wait)? else { break };
            wait = Duration::ZERO;
            dirty = true;
            if let Some(cmd) = update(&mut app, msg) {
                send(&mut app, &link, cmd);
            }
            watch_unsent = !sync_watch(&mut app, &link);
            if app.should_quit {
                break;
            }
        }
    }
}

/// Writes the publish templates and history when they changed.
fn store_templates(app: &mut App) {
    if !app.templates.dirty {
        return;
    }
    app.templates.dirty = false;
    let Some(dir) = app.data_dir.clone() else {
        return;
    };
    if let Err(e) = app.templates.store(&dir) {
        app.notify(format!("publish templates not saved: {e}"), true);
    }
}

/// Writes the lines recordings encoded (`update` does no I/O): appends to the open
/// recording's file, flushed every turn so the file is whole at any moment.
#[derive(Default)]
struct Recorder {
    open: Option<(std::path::PathBuf, io::BufWriter<std::fs::File>)>,
}

impl Recorder {
    fn write(&mut self, app: &mut App) {
        let finished = std::mem::take(&mut app.pubsub.finished);
        for mut r in finished {
            let lines = std::mem::take(&mut r.pending);
            if let Err(e) = self.append(&r.path, &lines) {
                app.notify(
                    format!("recording to {} failed: {e}", r.path.display()),
                    true,
                );
            }
            self.open = None;
        }
        let Some(r) = &mut app.pubsub.recording else {
            return;
        };
        if r.pending.is_empty() && self.open.is_some() {
            return;
        }
        let lines = std::mem::take(&mut r.pending);
        let path = r.path.clone();
        if let Err(e) = self.append(&path, &lines) {
            app.pubsub.recording = None;
            self.open = None;
            app.notify(format!("recording to {} failed: {e}", path.display()), true);
        }
    }

    fn append(&mut self, path: &std::path::Path, lines: &[String]) -> io::Result<()> {
        use std::io::Write as _;
        if self.open.as_ref().is_none_or(|(p, _)| p != path) {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            self.open = Some((path.to_owned(), io::BufWriter::new(f)));
        }
        if let Some((_, w)) = &mut self.open {
            for l in lines {
                w.write_all(l.as_bytes())?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
        }
        Ok(())
    }
}

/// Sends the [`midge_model::Watch`] if what the dashboard shows changed; false when the
/// queue was full, so the caller tries again next turn with the latest one. A closed
/// queue is reported by the snapshot channel closing.
fn sync_watch(app: &mut App, link: &MonitorLink) -> bool {
    let Some(cmd) = update(app, Msg::SyncWatch) else {
        return true;
    };
    if let Err(TrySendError::Full(_)) = link.commands.try_send(cmd) {
        update(app, Msg::WatchNotSent);
        return false;
    }
    true
}

fn send(app: &mut App, link: &MonitorLink, cmd: Command) {
    match link.commands.try_send(cmd) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            update(
                app,
                Msg::CommandFailed("the command queue is full: try again".to_owned()),
            );
        }
        Err(TrySendError::Closed(_)) => {
            update(
                app,
                Msg::CommandFailed("the source is gone: command not sent".to_owned()),
            );
        }
    }
}
