//! MQTT over WebSocket with a tokio-tungstenite client speaking raw MQTT bytes in binary
//! frames: packets whole, split over frames and several in one frame; text frames; paths.

use futures_util::{SinkExt, StreamExt};
use midge::config::ListenerKind;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::pki::{client_config, listener, open, start, Pki, T};
use super::{connect, tls_connect, CONNACK_OK, PINGREQ, PINGRESP};

/// SUBSCRIBE packet id 1, `ws/t` at QoS 0, and its SUBACK.
const SUBSCRIBE: &[u8] = &[0x82, 9, 0, 1, 0, 4, b'w', b's', b'/', b't', 0];
const SUBACK: &[u8] = &[0x90, 3, 0, 1, 0];
/// PUBLISH QoS 0 to `ws/t`, payload `hello`.
const PUBLISH: &[u8] = &[
    0x30, 11, 0, 4, b'w', b's', b'/', b't', b'h', b'e', b'l', b'l', b'o',
];

/// A WebSocket client offering the `mqtt` subprotocol; binary frames in, bytes out.
struct WsClient<S> {
    ws: WebSocketStream<S>,
    buf: Vec<u8>,
}

async fn ws_connect<S>(stream: S, path: &str) -> Result<WsClient<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut req = format!("ws://localhost{path}")
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "mqtt".parse().expect("header value"),
    );
    let (ws, resp) = tokio::time::timeout(
        T,
        tokio_tungstenite::client_async_with_config(req, stream, None),
    )
    .await
    .expect("WebSocket handshake in time")?;
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.as_bytes()),
        Some(&b"mqtt"[..]),
        "the server answers the mqtt subprotocol"
    );
    Ok(WsClient {
        ws,
        buf: Vec::new(),
    })
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsClient<S> {
    async fn send(&mut self, frame: &[u8]) {
        tokio::time::timeout(T, self.ws.send(Message::binary(frame.to_vec())))
            .await
            .expect("send in time")
            .expect("send frame");
    }

    /// Reads frames until `want.len()` bytes came, then compares them.
    async fn expect(&mut self, want: &[u8]) {
        while self.buf.len() < want.len() {
            let msg = tokio::time::timeout(T, self.ws.next())
                .await
                .expect("frame in time");
            match msg {
                Some(Ok(Message::Binary(b))) => self.buf.extend_from_slice(&b),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected binary data, got {other:?}"),
            }
        }
        let got: Vec<u8> = self.buf.drain(..want.len()).collect();
        assert_eq!(got, want);
    }

    /// Whatever arrives next must be the end of the connection.
    async fn expect_closed(&mut self) {
        loop {
            let msg = tokio::time::timeout(T, self.ws.next())
                .await
                .expect("the server closes in time");
            match msg {
                Some(Ok(Message::Binary(b))) => panic!("data after a text frame: {b:?}"),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(other)) => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// CONNECT, SUBSCRIBE split over two frames, a PUBLISH echoed back, two PINGREQs in one
/// frame, then a text frame, which closes the connection.
async fn mqtt_over_ws<S: AsyncRead + AsyncWrite + Unpin>(mut c: WsClient<S>, id: &str) {
    c.send(&connect(id)).await;
    c.expect(CONNACK_OK).await;
    c.send(&SUBSCRIBE[..4]).await;
    c.send(&SUBSCRIBE[4..]).await;
    c.expect(SUBACK).await;
    c.send(PUBLISH).await;
    c.expect(PUBLISH).await;
    c.send(&[PINGREQ, PINGREQ].concat()).await;
    c.expect(&[PINGRESP, PINGRESP].concat()).await;
    c.ws.send(Message::text("not mqtt"))
        .await
        .expect("send text frame");
    c.expect_closed().await;
}

#[tokio::test]
async fn mqtt_over_websocket_and_secure_websocket() {
    let pki = Pki::new();
    let mut ws = listener(ListenerKind::Ws, None);
    ws.ws_path = "/custom".into();
    let broker = start(
        vec![ws, listener(ListenerKind::Ws, Some(pki.server("server")))],
        open(),
        10,
    )
    .await;
    let (ws_addr, wss_addr) = (broker.local_addrs()[0], broker.local_addrs()[1]);

    let tcp = TcpStream::connect(ws_addr).await.expect("connect ws");
    let c = ws_connect(tcp, "/custom").await.expect("ws handshake");
    mqtt_over_ws(c, "ws-client").await;

    let tls = tls_connect(wss_addr, client_config(&pki.ca(), None))
        .await
        .expect("TLS for wss");
    let c = ws_connect(tls, "/mqtt").await.expect("wss handshake");
    mqtt_over_ws(c, "wss-client").await;
}

#[tokio::test]
async fn websocket_on_a_wrong_path_gets_404() {
    let broker = start(vec![listener(ListenerKind::Ws, None)], open(), 10).await;
    let addr = broker.local_addrs()[0];
    let tcp = TcpStream::connect(addr).await.expect("connect");
    match ws_connect(tcp, "/elsewhere").await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::NOT_FOUND),
        Err(e) => panic!("expected 404, got {e}"),
        Ok(_) => panic!("a wrong path must not upgrade"),
    }
    // The listener still serves the right path.
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut c = ws_connect(tcp, "/mqtt").await.expect("handshake");
    c.send(&connect("after-404")).await;
    c.expect(CONNACK_OK).await;
}
