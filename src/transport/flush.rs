//! `Flushing<S>`: a stream wrapper that pushes written bytes all the way to the socket.
//!
//! The client task writes with `write` only (never `flush`): right for a `TcpStream`, but
//! TLS and WebSocket layers may keep accepted bytes in their own buffers when the socket
//! is full. This wrapper flushes after every write and, if the socket was not ready,
//! keeps trying from both `poll_write` and `poll_read`: the client task always has a read
//! pending in its `select!`, so the wake-up for "socket writable" finishes the flush even
//! when there is nothing more to write.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug)]
pub struct Flushing<S> {
    inner: S,
    /// Bytes were accepted by `inner` but a flush has not completed since.
    dirty: bool,
}

impl<S> Flushing<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            dirty: false,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> Flushing<S> {
    /// Try to finish an outstanding flush; errors surface on the next call that can
    /// report them.
    fn drive_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.dirty {
            return Poll::Ready(Ok(()));
        }
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.dirty = false;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Flushing<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(Err(e)) = this.drive_flush(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Flushing<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.dirty = true;
        // Accepted bytes are ours to deliver: a flush that is not ready yet is retried
        // later, an error is reported by the next read or write.
        if let Poll::Ready(Err(e)) = this.drive_flush(cx) {
            tracing::trace!(error = %e, "flush after write failed");
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        this.dirty = false;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

    #[tokio::test]
    async fn written_bytes_reach_the_peer_without_an_explicit_flush() {
        let (a, mut b) = tokio::io::duplex(1024);
        // BufWriter holds bytes until flushed, like a TLS or WebSocket layer can.
        let mut w = Flushing::new(BufWriter::new(a));
        let n = w.write(b"hello").await.expect("write");
        assert_eq!(n, 5);
        let mut got = [0u8; 5];
        tokio::time::timeout(std::time::Duration::from_secs(5), b.read_exact(&mut got))
            .await
            .expect("bytes arrive without flush")
            .expect("read");
        assert_eq!(&got, b"hello");
    }

    #[tokio::test]
    async fn a_blocked_flush_is_finished_by_a_pending_read() {
        // A 4-byte pipe: the second half of the write cannot leave the BufWriter until
        // the peer reads, and only the reader on our side is polled after that.
        let (a, mut b) = tokio::io::duplex(4);
        let mut s = Flushing::new(BufWriter::new(a));
        assert_eq!(s.write(b"abcdefgh").await.expect("write"), 8);
        let (mut r, _w) = tokio::io::split(s);
        let reader = tokio::spawn(async move {
            let mut one = [0u8; 1];
            let _ = r.read(&mut one).await;
        });
        let mut got = [0u8; 8];
        tokio::time::timeout(std::time::Duration::from_secs(5), b.read_exact(&mut got))
            .await
            .expect("the read side drives the flush")
            .expect("read");
        assert_eq!(&got, b"abcdefgh");
        reader.abort();
    }
}
