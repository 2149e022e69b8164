//! Running midge as a service: JSON logs, per-listener and store metrics checked by a real
//! Prometheus parser and `promtool`, `import-mosquitto`, the systemd unit and the
//! container image.

mod logs;
