//! Tracing events → the dashboard's Log view. A `tracing_subscriber` layer that formats
//! each event (message, fields, and the fields of its spans, e.g. the connection's
//! client id) and `try_send`s it: a busy log never blocks the broker.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use midge_model::{Event, Level, LogLine};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub struct UiLogLayer {
    events: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl UiLogLayer {
    pub fn new(events: mpsc::Sender<Event>, dropped: Arc<AtomicU64>) -> Self {
        Self { events, dropped }
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

impl<S> Layer<S> for UiLogLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
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
        let level = match *meta.level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::TRACE => Level::Trace,
        };
        let line = LogLine {
            at_ms: super::now_ms(),
            level,
            target: meta.target().to_owned(),
            message,
        };
        if self.events.try_send(Event::Log(line)).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}
