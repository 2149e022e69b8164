//! Client-task tests: memory per connection, and timing under tokio's paused clock.

/// Memory per idle connection is mostly these structs (the client task holds a boxed
/// `Client`, the router a boxed `ClientEntry`, the trie a `Node` per topic level).
/// Growing one grows every connection: do it knowingly, and move rare parts behind a
/// `Box` as `will` is.
#[test]
fn per_connection_structs_stay_small() {
    use std::mem::size_of;
    type S = tokio::net::TcpStream;
    assert!(size_of::<super::Client<S, S>>() <= 640, "Client");
    assert!(
        size_of::<crate::broker::router::ClientEntry>() <= 176,
        "ClientEntry"
    );
    assert!(size_of::<crate::broker::trie::Node>() <= 96, "trie Node");
    assert!(
        size_of::<crate::broker::message::Delivery>() <= 56,
        "Delivery"
    );
}
