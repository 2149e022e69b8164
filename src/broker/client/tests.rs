//! Client-task tests: memory per connection, and timing under tokio's paused clock.

/// Memory per idle connection is mostly these structs (the client task holds a boxed
/// `Client`, the router a boxed `ClientEntry`, the trie a `Node` per topic level).
/// Growing one grows every connection: do it knowingly, and move rare parts behind a
/// `Box` as `will` is.
#[test]
fn per_connection_structs_stay_small() {
    use std::mem::size_of;
    type S = tokio::net::TcpStream;
    type C = super::Client<tokio::io::ReadHalf<S>, tokio::io::WriteHalf<S>>;
    assert!(size_of::<C>() <= 640, "Client");
    // An idle connection parks as this (its client task, timer and runtime registration
    // freed), boxed once, plus its entry in the parking lot.
    assert!(super::park::sleeper_size() <= 384, "parked client");
    assert!(
        size_of::<crate::broker::router::ClientEntry>() <= 160,
        "ClientEntry"
    );
    assert!(
        size_of::<crate::broker::trie::Node<crate::broker::router::ClientIx>>() <= 40,
        "trie Node"
    );
    assert!(
        size_of::<crate::broker::message::Delivery>() <= 56,
        "Delivery"
    );
}

/// A broker with no listeners and its client context; connections are served over
/// in-memory pipes, so tokio's paused clock drives every timer.
async fn broker() -> (
    crate::broker::Broker,
    std::sync::Arc<crate::broker::Context>,
) {
    let mut config = crate::config::Config::default();
    config.listeners.clear();
    config.storage.in_memory = true;
    config.sys.interval_secs = 0;
    let access = std::sync::Arc::new(crate::broker::Open {
        allow_anonymous: true,
    });
    let broker = crate::broker::Broker::start(&config, access)
        .await
        .expect("broker starts");
    let ctx = broker.context();
    (broker, ctx)
}

/// `serve()` one connection over a pipe; returns the client's end.
fn connect(ctx: &std::sync::Arc<crate::broker::Context>) -> tokio::io::DuplexStream {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let permit = ctx
        .connections
        .clone()
        .try_acquire_owned()
        .expect("a connection permit");
    let peer = super::Peer {
        address: "pipe".into(),
        ..super::Peer::default()
    };
    tokio::spawn(super::serve(server, peer, permit, ctx.clone()));
    client
}

/// CONNECT by hand (section 3.1): clean start, keep-alive `secs`; v5 with no properties.
fn connect_packet(level: u8, id: &str, secs: u16) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', level, 0x02];
    body.extend(secs.to_be_bytes());
    if level == 5 {
        body.push(0);
    }
    body.extend(u16::try_from(id.len()).expect("short id").to_be_bytes());
    body.extend(id.as_bytes());
    let mut out = vec![0x10, u8::try_from(body.len()).expect("short packet")];
    out.extend(body);
    out
}

/// Read exactly `n` bytes.
async fn read_n(client: &mut tokio::io::DuplexStream, n: usize) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0; n];
    client.read_exact(&mut buf).await.expect("read");
    buf
}

/// Whether the broker has closed its side (EOF) without waiting: under the paused
/// clock every task has run before time moves, so "nothing yet" is final for now.
async fn closed_now(client: &mut tokio::io::DuplexStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 16];
    match tokio::time::timeout(std::time::Duration::ZERO, client.read(&mut buf)).await {
        Err(_) => false,
        Ok(Ok(0)) => true,
        Ok(other) => panic!("unexpected read: {other:?} {buf:?}"),
    }
}

/// [MQTT-3.1.2-24]: a client silent for 1.5 × keep-alive is disconnected — not a
/// millisecond before, and at that time (within the timer's 1 ms resolution).
#[tokio::test(start_paused = true)]
async fn keep_alive_cuts_off_at_one_and_a_half_times_keep_alive() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let (_broker, ctx) = broker().await;
    let mut client = connect(&ctx);
    client
        .write_all(&connect_packet(4, "sleepy", 1))
        .await
        .expect("write");
    assert_eq!(
        read_n(&mut client, 4).await,
        [0x20, 0x02, 0x00, 0x00],
        "CONNACK"
    );
    let start = tokio::time::Instant::now();
    tokio::time::sleep_until(start + Duration::from_millis(1499)).await;
    assert!(
        !closed_now(&mut client).await,
        "closed before 1.5 × keep-alive"
    );
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut client, &mut rest)
        .await
        .expect("EOF");
    let waited = start.elapsed();
    // v3: no DISCONNECT from the server, only the close.
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        waited >= Duration::from_millis(1500) && waited <= Duration::from_millis(1501),
        "closed after {waited:?}"
    );
}

/// v5: the cut-off is a DISCONNECT 0x8D at 1.5 × keep-alive. A client that goes on
/// writing afterwards is drained for `DRAIN_TIME` at most, and the connection's permit
/// is held until then.
#[tokio::test(start_paused = true)]
async fn keep_alive_disconnect_then_bounded_drain() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let (_broker, ctx) = broker().await;
    let permits = ctx.connections.available_permits();
    let mut client = connect(&ctx);
    client
        .write_all(&connect_packet(5, "sleepy5", 2))
        .await
        .expect("write");
    let head = read_n(&mut client, 2).await;
    assert_eq!(head[0], 0x20, "CONNACK");
    let connack = read_n(&mut client, usize::from(head[1])).await;
    assert_eq!(connack[1], 0x00, "accepted");
    let start = tokio::time::Instant::now();
    let head = read_n(&mut client, 2).await;
    assert_eq!(start.elapsed(), Duration::from_millis(3000));
    assert_eq!(head[0], 0xE0, "DISCONNECT");
    let body = read_n(&mut client, usize::from(head[1])).await;
    assert_eq!(body.first(), Some(&0x8D), "Keep Alive timeout");
    assert!(
        closed_now(&mut client).await,
        "write side shut after DISCONNECT"
    );
    assert_eq!(ctx.connections.available_permits(), permits - 1);
    // A client that never stops writing (PINGREQ every 100 ms) is cut off after the
    // drain time; its writes fail once the broker's end is gone.
    let goodbye = tokio::time::Instant::now();
    let mut writes = 0;
    while client.write_all(&[0xC0, 0x00]).await.is_ok() {
        writes += 1;
        assert!(
            writes <= 100,
            "still draining after {:?}",
            goodbye.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = goodbye.elapsed();
    assert!(
        drained >= super::close::DRAIN_TIME
            && drained <= super::close::DRAIN_TIME + Duration::from_millis(100),
        "drained for {drained:?}"
    );
    assert_eq!(ctx.connections.available_permits(), permits);
}

/// A client that floods after the broker's DISCONNECT is cut off once `DRAIN_BYTES`
/// are discarded, without waiting for the drain time.
#[tokio::test(start_paused = true)]
async fn drain_stops_after_its_byte_cap() {
    use tokio::io::AsyncWriteExt;
    let (_broker, ctx) = broker().await;
    let mut client = connect(&ctx);
    client
        .write_all(&connect_packet(5, "flooder", 0))
        .await
        .expect("write");
    let head = read_n(&mut client, 2).await;
    read_n(&mut client, usize::from(head[1])).await;
    // AUTH without an authentication method: DISCONNECT 0x82 [MQTT-4.12.0-1].
    client.write_all(&[0xF0, 0x00]).await.expect("write AUTH");
    let head = read_n(&mut client, 2).await;
    assert_eq!(head[0], 0xE0, "DISCONNECT");
    let body = read_n(&mut client, usize::from(head[1])).await;
    assert_eq!(body.first(), Some(&0x82), "Protocol Error");
    let goodbye = tokio::time::Instant::now();
    let chunk = vec![0xC0u8; 16 * 1024];
    let mut written = 0usize;
    while client.write_all(&chunk).await.is_ok() {
        written += chunk.len();
        assert!(written <= 4 * super::close::DRAIN_BYTES, "no byte cap");
    }
    assert!(
        written >= super::close::DRAIN_BYTES,
        "cut off after {written} bytes"
    );
    assert!(
        goodbye.elapsed() < super::close::DRAIN_TIME,
        "waited for the time cap"
    );
}
