//! Streams that can give up their socket while idle. A parked connection keeps no task
//! and no reactor registration: only its plain socket (and its listener's gauge) stays,
//! watched by the broker's parking lot until it becomes readable or is needed. Only plain
//! TCP parks; TLS and WebSocket state lives in user space and stays with a task.

use tokio::io::DuplexStream;
use tokio::net::TcpStream;

use super::listener::OpenConnection;
use super::{Counted, Flushing};

/// A parked connection's socket: deregistered from the runtime, still open, still counted
/// on its listener.
pub struct Socket {
    pub tcp: std::net::TcpStream,
    pub open: OpenConnection,
}

/// A stream the client task may park.
pub trait Parkable: Sized {
    /// Whether this kind of stream can park at all (checked before trying).
    const PARKABLE: bool = false;

    /// The bare socket. Call only when [`Self::PARKABLE`]: an error has consumed the
    /// stream (the connection is gone).
    fn into_socket(self) -> std::io::Result<Socket> {
        drop(self);
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// The stream again, registered with the current runtime.
    fn from_socket(socket: Socket) -> std::io::Result<Self> {
        drop(socket);
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

impl Parkable for Counted<TcpStream> {
    const PARKABLE: bool = true;

    fn into_socket(self) -> std::io::Result<Socket> {
        let (stream, open) = self.into_parts();
        Ok(Socket {
            tcp: stream.into_std()?,
            open,
        })
    }

    fn from_socket(socket: Socket) -> std::io::Result<Self> {
        let stream = TcpStream::from_std(socket.tcp)?;
        Ok(Counted::new(stream, socket.open))
    }
}

impl<S> Parkable for Counted<Flushing<S>> {}
impl Parkable for DuplexStream {}
