//! MQTT over WebSocket (MQTT 3.1.1 §6, MQTT 5.0 §6): the server handshake (path and
//! `mqtt` subprotocol checks, with tokio-tungstenite) and `WsStream`, which turns the
//! message stream into a byte stream for the client task.
//!
//! [MQTT-6.0.0-2]: a frame may hold part of a packet or several, so frames are just
//! chunks of the byte stream in both directions. [MQTT-6.0.0-1]: anything but binary data
//! frames closes the connection.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// Subprotocols we answer, preferred first: `mqtt` [MQTT-6.0.0-3], [MQTT-6.0.0-4], and
/// the name some MQTT 3.1 clients still offer.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// Accepts a WebSocket upgrade on `path` offering an MQTT subprotocol. A wrong path gets
/// 404 and a missing subprotocol 400, then the connection closes. `max_packet_size`
/// bounds a single frame and message (a frame never needs to be larger than a packet
/// plus its fixed header).
#[expect(
    clippy::result_large_err,
    reason = "the callback's error type is fixed by tungstenite"
)]
pub async fn accept<S>(stream: S, path: &str, max_packet_size: u32) -> Result<WsStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limit = (max_packet_size as usize).saturating_add(5).max(64 * 1024);
    let config = WebSocketConfig::default()
        .max_frame_size(Some(limit))
        .max_message_size(Some(limit));
    let callback = |req: &Request, resp: Response| check_request(req, resp, path);
    let ws =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await?;
    Ok(WsStream::new(ws))
}

fn reject(status: StatusCode, why: &str) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(why.to_owned()));
    *resp.status_mut() = status;
    resp
}

#[expect(
    clippy::result_large_err,
    reason = "the error type is fixed by tungstenite's Callback"
)]
fn check_request(req: &Request, mut resp: Response, path: &str) -> Result<Response, ErrorResponse> {
    if req.uri().path() != path {
        tracing::info!(
            path = req.uri().path(),
            "WebSocket upgrade on an unknown path: 404"
        );
        return Err(reject(StatusCode::NOT_FOUND, "not found\n"));
    }
    let offered: Vec<&str> = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let Some(chosen) = SUBPROTOCOLS
        .iter()
        .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)))
    else {
        tracing::info!(
            ?offered,
            "WebSocket upgrade without the mqtt subprotocol: 400"
        );
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must offer mqtt\n",
        ));
    };
    resp.headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(chosen));
    Ok(resp)
}

/// A WebSocket connection seen as a byte stream: binary frames in, binary frames out.
/// Writes are queued in tungstenite; wrap in `Flushing` so they leave without a flush.
pub struct WsStream<S> {
    inner: WebSocketStream<S>,
    /// The unread rest of the last binary frame.
    rx: Bytes,
}

impl<S> WsStream<S> {
    pub fn new(inner: WebSocketStream<S>) -> Self {
        Self {
            inner,
            rx: Bytes::new(),
        }
    }
}

fn io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        e => io::Error::other(e),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.rx.is_empty() {
                let n = this.rx.len().min(buf.remaining());
                buf.put_slice(&this.rx[..n]);
                this.rx.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.rx = data,
                // [MQTT-6.0.0-1]: a text frame closes the network connection.
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "WebSocket text frame (MQTT needs binary frames) [MQTT-6.0.0-1]",
                    )))
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // tungstenite answers the close; the stream then ends.
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return Poll::Ready(Ok(()))
                }
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut inner = Pin::new(&mut self.get_mut().inner);
        ready!(inner.as_mut().poll_ready(cx)).map_err(io_error)?;
        inner
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner)
            .poll_flush(cx)
            .map_err(io_error)
    }

    /// Sends a close frame (normal closure) and flushes it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.get_mut().inner).poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(io_error(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    fn request(path: &str, protocols: Option<&str>) -> Request {
        let mut req = format!("ws://localhost{path}")
            .into_client_request()
            .expect("request");
        if let Some(p) = protocols {
            req.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(p).expect("header"),
            );
        }
        req
    }

    #[test]
    fn answers_mqtt_when_offered() {
        let resp = check_request(
            &request("/mqtt", Some("wamp, MQTT")),
            Response::default(),
            "/mqtt",
        )
        .expect("accepted");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .map(HeaderValue::as_bytes),
            Some(&b"mqtt"[..])
        );
        let resp = check_request(&request("/m", Some("mqttv3.1")), Response::default(), "/m")
            .expect("accepted");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .map(HeaderValue::as_bytes),
            Some(&b"mqttv3.1"[..])
        );
    }

    #[test]
    fn wrong_path_is_404_and_missing_protocol_400() {
        let err = check_request(
            &request("/other", Some("mqtt")),
            Response::default(),
            "/mqtt",
        )
        .expect_err("wrong path");
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        let err = check_request(&request("/mqtt", None), Response::default(), "/mqtt")
            .expect_err("no protocol");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        let err = check_request(
            &request("/mqtt", Some("chat")),
            Response::default(),
            "/mqtt",
        )
        .expect_err("other protocol");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
