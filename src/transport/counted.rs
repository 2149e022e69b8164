//! A stream that counts as one open connection of its listener for as long as it lives
//! (both halves of a split stream included): `/metrics`' per-listener gauge falls when the
//! client task drops the socket, however the connection ended.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::listener::OpenConnection;

/// `inner`, plus the guard that keeps it counted.
pub struct Counted<S> {
    inner: S,
    _open: OpenConnection,
}

impl<S> Counted<S> {
    pub fn new(inner: S, open: OpenConnection) -> Self {
        Self { inner, _open: open }
    }

    /// The stream and its guard, apart (to park the bare socket).
    pub fn into_parts(self) -> (S, OpenConnection) {
        (self.inner, self._open)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::transport::listener::ListenerStats;

    #[tokio::test]
    async fn counts_while_either_half_lives() {
        let stats = Arc::new(ListenerStats::default());
        let (a, mut b) = tokio::io::duplex(64);
        let (mut r, mut w) = tokio::io::split(Counted::new(a, stats.accepted()));
        assert_eq!(stats.open.load(Relaxed), 1);
        w.write_all(b"hi").await.expect("write");
        let mut got = [0; 2];
        b.read_exact(&mut got).await.expect("read");
        b.write_all(b"yo").await.expect("write");
        r.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"yo");
        drop(w);
        assert_eq!(stats.open.load(Relaxed), 1);
        drop(r);
        assert_eq!(stats.open.load(Relaxed), 0);
        assert_eq!(stats.accepted.load(Relaxed), 1);
    }
}
