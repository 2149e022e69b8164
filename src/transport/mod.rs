//! Sockets: listeners and the framed packet reader/writer. Only this module and the
//! broker's client task touch I/O.

pub mod connection;
pub mod listener;
