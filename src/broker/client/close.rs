//! Graceful close. After midge's last word (a DISCONNECT or a refusing CONNACK) the write
//! side is shut and the client's input is read and discarded for a bounded time before
//! the socket closes. Closing with unread input makes the kernel answer with RST, and a
//! client still writing then sees a reset instead of the reason code it has not read.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::transport::connection::PacketWriter;

/// How long a closing connection's input is drained: long enough for a client to notice
/// the EOF and stop, short enough that a hostile client can't hold the connection (and
/// its `max_connections` permit, held meanwhile) for long.
pub(super) const DRAIN_TIME: Duration = Duration::from_secs(1);
/// At most this much input is discarded.
pub(super) const DRAIN_BYTES: usize = 1024 * 1024;
/// Writing what is pending and shutting the write side: each bounded by this.
const WRITE_TIME: Duration = Duration::from_secs(1);

/// Write what is pending (our last word), then shut the write side: the client reads
/// EOF after it.
pub(super) async fn shut_write<W: AsyncWrite + Unpin>(writer: &mut PacketWriter<W>) {
    let _ = tokio::time::timeout(WRITE_TIME, writer.flush()).await;
    let _ = tokio::time::timeout(WRITE_TIME, writer.shutdown()).await;
}

/// Read and discard until EOF, an error, `DRAIN_TIME` or `DRAIN_BYTES`, whichever comes
/// first. Call after `shut_write`; the socket closes when the caller drops it.
pub(super) async fn drain<R: AsyncRead + Unpin>(mut input: R) {
    let mut buf = vec![0u8; 4096];
    let mut left = DRAIN_BYTES;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while left > 0 {
            match input.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}
