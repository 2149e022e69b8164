//! Log lines for whoever shows them: a `tracing_subscriber` layer that formats each event
//! (message, fields, and the fields of its spans, e.g. the connection's client id) into a
//! [`LogRecord`] and `try_send`s it, so a busy log never blocks the broker; and the ring
//! a headless broker keeps for the admin channel, filled only while an admin watches.
//! Neutral ground: the dashboard's source and the admin observer both read it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::fmt::{FormatFields as _, FormattedFields};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One formatted tracing event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub at_ms: u64,
    pub level: tracing::Level,
    /// The tracing target, e.g. `midge::broker`.
    pub target: String,
    pub message: String,
}

/// Sends every event (that passes `gate`, when set) as a [`LogRecord`]; a full channel
/// drops the line and counts it.
pub struct LogLayer {
    records: mpsc::Sender<LogRecord>,
    dropped: Arc<AtomicU64>,
    gate: Option<&'static AtomicBool>,
}

impl LogLayer {
    pub fn new(records: mpsc::Sender<LogRecord>, dropped: Arc<AtomicU64>) -> Self {
        Self {
            records,
            dropped,
            gate: None,
        }
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

/// Marks span fields this layer formatted itself, because no text `fmt` layer did (the
/// JSON one stores its own kind): only then does this layer keep them up to date.
struct OwnSpanFields;

impl<S> Layer<S> for LogLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if ext.get_mut::<FormattedFields<DefaultFields>>().is_some() {
            return;
        }
        let mut fields = FormattedFields::<DefaultFields>::new(String::new());
        if DefaultFields::new()
            .format_fields(fields.as_writer(), attrs)
            .is_ok()
        {
            ext.insert(fields);
            ext.insert(OwnSpanFields);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if ext.get_mut::<OwnSpanFields>().is_none() {
            return;
        }
        if let Some(fields) = ext.get_mut::<FormattedFields<DefaultFields>>() {
            let _ = DefaultFields::new().add_fields(fields, values);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if self.gate.is_some_and(|g| !g.load(Relaxed)) {
            return;
        }
        let meta = event.metadata();
        let mut f = Fields::default();
        event.record(&mut f);
        let mut message = f.message;
        message.push_str(&f.rest);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<DefaultFields>>() {
                    if !fields.is_empty() {
                        let _ = write!(message, " [{}]", fields.fields);
                    }
                }
            }
        }
        let line = LogRecord {
            at_ms: crate::os::unix_ms_now(),
            level: *meta.level(),
            target: meta.target().to_owned(),
            message,
        };
        if self.records.try_send(line).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// Log lines kept for admins.
const RING: usize = 500;

/// The process's log ring for the admin channel: numbered lines, filled only while
/// `watching` (one atomic load per event otherwise).
pub struct Ring {
    watching: AtomicBool,
    state: Mutex<RingState>,
}

struct RingState {
    /// Fed by the ring's layer (bounded; full = the line is dropped).
    rx: Option<mpsc::Receiver<LogRecord>>,
    lines: VecDeque<(u64, LogRecord)>,
    next_seq: u64,
}

/// The ring (one per process: tracing's subscriber is process-wide too).
pub fn ring() -> &'static Ring {
    static RING_: OnceLock<Ring> = OnceLock::new();
    RING_.get_or_init(|| Ring {
        watching: AtomicBool::new(false),
        state: Mutex::new(RingState {
            rx: None,
            lines: VecDeque::new(),
            next_seq: 1,
        }),
    })
}

impl Ring {
    /// A layer feeding this ring while it is watched. Install it once, next to the stderr
    /// layer of a headless broker.
    pub fn layer(&'static self) -> LogLayer {
        let (tx, rx) = mpsc::channel(1024);
        self.lock().rx = Some(rx);
        LogLayer {
            records: tx,
            dropped: Arc::new(AtomicU64::new(0)),
            gate: Some(&self.watching),
        }
    }

    /// Keep lines (an admin watches) or stop.
    pub fn set_watching(&self, on: bool) {
        self.watching.store(on, Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RingState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Lines numbered above `after`, and the number the next line will get.
    pub fn lines_after(&self, after: u64) -> (Vec<(u64, LogRecord)>, u64) {
        let mut st = self.lock();
        let st = &mut *st;
        if let Some(rx) = st.rx.as_mut() {
            while let Ok(line) = rx.try_recv() {
                if st.lines.len() == RING {
                    st.lines.pop_front();
                }
                st.lines.push_back((st.next_seq, line));
                st.next_seq += 1;
            }
        }
        let lines = st
            .lines
            .iter()
            .filter(|(seq, _)| *seq > after)
            .cloned()
            .collect();
        (lines, st.next_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_lines_only_while_watched() {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(ring().layer());
        let _guard = tracing::subscriber::set_default(subscriber);
        tracing::info!("nobody watches this");
        let (lines, next) = ring().lines_after(0);
        assert!(lines.is_empty(), "{lines:?}");
        ring().set_watching(true);
        tracing::warn!(client_id = "c1", "an admin sees this");
        let (lines, next2) = ring().lines_after(0);
        ring().set_watching(false);
        assert_eq!(next2, next + 1);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let (seq, line) = &lines[0];
        assert_eq!(*seq, next);
        assert_eq!(line.level, tracing::Level::WARN);
        assert_eq!(line.message, "an admin sees this client_id=c1");
        assert!(ring().lines_after(*seq).0.is_empty());
    }

    #[test]
    fn span_fields_reach_the_records_without_a_text_fmt_layer() {
        use tracing_subscriber::layer::SubscriberExt;
        let (tx, mut rx) = mpsc::channel(8);
        // The JSON layer stores span fields in its own format; the records still carry them.
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::sink),
            )
            .with(LogLayer::new(tx, Arc::default()));
        let _guard = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("conn", peer = 7, client_id = tracing::field::Empty);
        span.record("client_id", "c9");
        span.in_scope(|| tracing::info!("inside"));
        let line = rx.try_recv().expect("a record");
        assert_eq!(line.message, "inside [peer=7 client_id=\"c9\"]");
    }
}
