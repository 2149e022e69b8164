//! End-to-end tests of the midge broker over real TCP on 127.0.0.1, with three kinds of
//! clients: hand-written bytes (`support::Raw`), rumqttc, and the Debian mosquitto
//! clients. One module per area of the product issue.

mod bytes;
mod support;

mod auth;
mod bench;
mod bridge;
mod bridge_in;
mod bridge_mesh;
mod cli;
mod close;
mod connect;
mod dashboard;
mod dashboard_tools;
mod diskfull;
mod durability;
mod hostile;
mod http;
mod interop;
mod malformed;
mod monitor;
mod mqttsn;
mod ops;
mod park;
mod publish;
mod retained;
mod sessions;
mod slow;
mod subscriptions;
mod transport;
mod wills;
