//! The MQTT-SN 1.2 gateway, built in: UDP datagrams from sensor networks become sessions of
//! this broker. `codec` is the sans-IO wire format.

pub mod codec;
