//! proptest strategies for every packet and property. For 3.1 / 3.1.1 they generate only
//! what v3 can carry, so encode → decode gives back the same value.

use std::num::NonZeroU16;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;

use super::super::properties::{allowed, Context};
use super::super::{
    ack, auth, connack, disconnect, suback, unsuback, Ack, Auth, ByteStr, ConnAck, Connect,
    Disconnect, LastWill, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, QosPid,
    ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};

fn text() -> impl Strategy<Value = ByteStr> {
    "[a-zA-Z0-9/ _é€+#-]{0,12}".prop_map(ByteStr::from)
}

fn topic() -> impl Strategy<Value = ByteStr> {
    "[a-z0-9é]{1,5}(/[a-z0-9]{0,5}){0,3}".prop_map(ByteStr::from)
}

fn filter() -> impl Strategy<Value = ByteStr> {
    "[a-z+#/]{1,10}".prop_map(ByteStr::from)
}

fn data() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn pid() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|n| NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN))
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn reason(codes: &'static [u8]) -> impl Strategy<Value = ReasonCode> {
    select(codes).prop_map(|b| ReasonCode::try_from(b).unwrap_or(ReasonCode::Success))
}

fn bit() -> impl Strategy<Value = Option<u8>> {
    of(0..=1u8)
}

fn non_zero_u16() -> impl Strategy<Value = Option<u16>> {
    of(1..=u16::MAX)
}

/// Every property with a valid value, before `restrict` keeps a packet's allowed set.
fn any_props() -> impl Strategy<Value = Properties> {
    let a = (
        bit(),
        of(any::<u32>()),
        of(text()),
        of(topic()),
        of(data()),
        vec(1..=268_435_455u32, 0..3),
        of(any::<u32>()),
        of(text()),
        of(any::<u16>()),
        of(text()),
        of(data()),
        bit(),
    );
    let b = (
        of(any::<u32>()),
        bit(),
        of(text()),
        of(text()),
        of(text()),
        non_zero_u16(),
        of(any::<u16>()),
        non_zero_u16(),
        bit(),
        of(any::<bool>()),
        vec((text(), text()), 0..3),
        of(1..=u32::MAX),
    );
    let c = (of(any::<bool>()), of(any::<bool>()), of(any::<bool>()));
    (a, b, c).prop_map(|(a, b, c)| Properties {
        payload_format_indicator: a.0,
        message_expiry_interval: a.1,
        content_type: a.2,
        response_topic: a.3,
        correlation_data: a.4,
        subscription_identifiers: a.5,
        session_expiry_interval: a.6,
        assigned_client_identifier: a.7,
        server_keep_alive: a.8,
        authentication_method: a.9,
        authentication_data: a.10,
        request_problem_information: a.11,
        will_delay_interval: b.0,
        request_response_information: b.1,
        response_information: b.2,
        server_reference: b.3,
        reason_string: b.4,
        receive_maximum: b.5,
        topic_alias_maximum: b.6,
        topic_alias: b.7,
        maximum_qos: b.8,
        retain_available: b.9,
        user_properties: b.10,
        maximum_packet_size: b.11,
        wildcard_subscription_available: c.0,
        subscription_identifier_available: c.1,
        shared_subscription_available: c.2,
    })
}

/// Clears every property `ctx` may not carry.
fn restrict(p: Properties, ctx: Context) -> Properties {
    fn keep<T>(ctx: Context, id: u32, v: Option<T>) -> Option<T> {
        v.filter(|_| allowed(ctx, id))
    }
    let mut subscription_identifiers = if allowed(ctx, 0x0B) {
        p.subscription_identifiers
    } else {
        Vec::new()
    };
    if ctx == Context::Subscribe {
        subscription_identifiers.truncate(1);
    }
    Properties {
        payload_format_indicator: keep(ctx, 0x01, p.payload_format_indicator),
        message_expiry_interval: keep(ctx, 0x02, p.message_expiry_interval),
        content_type: keep(ctx, 0x03, p.content_type),
        response_topic: keep(ctx, 0x08, p.response_topic),
        correlation_data: keep(ctx, 0x09, p.correlation_data),
        subscription_identifiers,
        session_expiry_interval: keep(ctx, 0x11, p.session_expiry_interval),
        assigned_client_identifier: keep(ctx, 0x12, p.assigned_client_identifier),
        server_keep_alive: keep(ctx, 0x13, p.server_keep_alive),
        authentication_method: keep(ctx, 0x15, p.authentication_method),
        authentication_data: keep(ctx, 0x16, p.authentication_data),
        request_problem_information: keep(ctx, 0x17, p.request_problem_information),
        will_delay_interval: keep(ctx, 0x18, p.will_delay_interval),
        request_response_information: keep(ctx, 0x19, p.request_response_information),
        response_information: keep(ctx, 0x1A, p.response_information),
        server_reference: keep(ctx, 0x1C, p.server_reference),
        reason_string: keep(ctx, 0x1F, p.reason_string),
        receive_maximum: keep(ctx, 0x21, p.receive_maximum),
        topic_alias_maximum: keep(ctx, 0x22, p.topic_alias_maximum),
        topic_alias: keep(ctx, 0x23, p.topic_alias),
        maximum_qos: keep(ctx, 0x24, p.maximum_qos),
        retain_available: keep(ctx, 0x25, p.retain_available),
        user_properties: p.user_properties,
        maximum_packet_size: keep(ctx, 0x27, p.maximum_packet_size),
        wildcard_subscription_available: keep(ctx, 0x28, p.wildcard_subscription_available),
        subscription_identifier_available: keep(ctx, 0x29, p.subscription_identifier_available),
        shared_subscription_available: keep(ctx, 0x2A, p.shared_subscription_available),
    }
}

/// Properties for `ctx`, or none at all before v5.
fn props(ctx: Context, v5: bool) -> BoxedStrategy<Properties> {
    if v5 {
        any_props().prop_map(move |p| restrict(p, ctx)).boxed()
    } else {
        Just(Properties::default()).boxed()
    }
}

fn connect() -> impl Strategy<Value = Packet> {
    let version = prop_oneof![
        Just(ProtocolVersion::V3_1),
        Just(ProtocolVersion::V3_1_1),
        Just(ProtocolVersion::V5)
    ];
    version.prop_flat_map(|protocol| {
        let v5 = protocol.is_v5();
        let will = (
            topic(),
            data(),
            qos(),
            any::<bool>(),
            props(Context::Will, v5),
        )
            .prop_map(|(topic, payload, qos, retain, properties)| LastWill {
                topic,
                payload,
                qos,
                retain,
                properties: properties.into(),
            });
        (
            any::<bool>(),
            any::<u16>(),
            props(Context::Connect, v5),
            text(),
            of(will),
            of(text()),
            of(data()),
        )
            .prop_map(
                move |(
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                )| {
                    // Before v5 a password needs a username [MQTT-3.1.2-22].
                    let password = if v5 || username.is_some() {
                        password
                    } else {
                        None
                    };
                    Packet::Connect(Box::new(Connect {
                        protocol,
                        clean_start,
                        keep_alive,
                        properties: properties.into(),
                        client_id,
                        will,
                        username,
                        password,
                        // Bridges (level | 0x80) exist in 3.x only.
                        bridge: !v5 && keep_alive % 2 == 1,
                    }))
                },
            )
    })
}

const CONNACK_V3: &[u8] = &[0x00, 0x84, 0x85, 0x88, 0x86, 0x87];
const SUBACK_V3: &[u8] = &[0x00, 0x01, 0x02, 0x80];

fn publish(v5: bool) -> impl Strategy<Value = Packet> {
    let qos_pid = prop_oneof![
        Just(QosPid::Level0),
        pid().prop_map(QosPid::Level1),
        pid().prop_map(QosPid::Level2)
    ];
    (
        any::<bool>(),
        qos_pid,
        any::<bool>(),
        topic(),
        props(Context::Publish, v5),
        data(),
        any::<bool>(),
    )
        .prop_map(
            |(dup, qos_pid, retain, topic, properties, payload, aliased)| {
                // DUP only with QoS > 0 [MQTT-3.3.1-2]; an empty topic only with an alias.
                let dup = dup && qos_pid != QosPid::Level0;
                let topic = if aliased && properties.topic_alias.is_some() {
                    ByteStr::new()
                } else {
                    topic
                };
                Packet::Publish(Publish {
                    dup,
                    qos_pid,
                    retain,
                    topic,
                    properties: properties.into(),
                    payload,
                })
            },
        )
}

fn ack(v5: bool, kind: ack::Kind) -> impl Strategy<Value = Ack> {
    let body = if v5 {
        (reason(kind.allowed()), props(Context::Ack, true)).boxed()
    } else {
        Just((ReasonCode::Success, Properties::default())).boxed()
    };
    (pid(), body).prop_map(|(pid, (reason, properties))| Ack {
        pid,
        reason,
        properties: properties.into(),
    })
}

fn subscribe(v5: bool) -> impl Strategy<Value = Packet> {
    let options =
        (qos(), any::<bool>(), any::<bool>(), 0..3u8).prop_map(move |(qos, nl, rap, rh)| {
            let retain_handling = match rh {
                0 => RetainHandling::OnSubscribe,
                1 => RetainHandling::OnNewSubscribe,
                _ => RetainHandling::Never,
            };
            if v5 {
                SubscriptionOptions {
                    qos,
                    no_local: nl,
                    retain_as_published: rap,
                    retain_handling,
                }
            } else {
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                }
            }
        });
    (
        pid(),
        props(Context::Subscribe, v5),
        vec((filter(), options), 1..4),
    )
        .prop_map(|(pid, properties, filters)| {
            Packet::Subscribe(Subscribe {
                pid,
                properties: properties.into(),
                filters,
            })
        })
}

/// Any packet that `version` can carry.
pub(super) fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let v5 = version.is_v5();
    let (connack_codes, suback_codes) = if v5 {
        (connack::ALLOWED, suback::ALLOWED)
    } else {
        (CONNACK_V3, SUBACK_V3)
    };
    let connack = (
        any::<bool>(),
        reason(connack_codes),
        props(Context::ConnAck, v5),
    )
        .prop_map(|(session_present, reason, properties)| {
            Packet::ConnAck(ConnAck {
                session_present,
                reason,
                properties: properties.into(),
            })
        });
    let suback = (
        pid(),
        props(Context::SubAck, v5),
        vec(reason(suback_codes), 0..4),
    )
        .prop_map(|(pid, properties, reasons)| {
            Packet::SubAck(SubAck {
                pid,
                properties: properties.into(),
                reasons,
            })
        });
    let unsubscribe = (pid(), props(Context::Unsubscribe, v5), vec(filter(), 1..4)).prop_map(
        |(pid, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                pid,
                properties: properties.into(),
                filters,
            })
        },
    );
    let unsuback_reasons = if v5 {
        vec(reason(unsuback::ALLOWED), 0..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    let unsuback = (pid(), props(Context::UnsubAck, v5), unsuback_reasons).prop_map(
        |(pid, properties, reasons)| {
            Packet::UnsubAck(UnsubAck {
                pid,
                properties: properties.into(),
                reasons,
            })
        },
    );
    let disconnect = if v5 {
        (
            reason(disconnect::ALLOWED),
            props(Context::Disconnect, true),
        )
            .prop_map(|(reason, properties)| {
                Packet::Disconnect(Disconnect {
                    reason,
                    properties: properties.into(),
                })
            })
            .boxed()
    } else {
        Just(Packet::Disconnect(Disconnect::new(ReasonCode::Success))).boxed()
    };
    let common = prop_oneof![
        connect(),
        connack,
        publish(v5),
        ack(v5, ack::Kind::Ack).prop_map(Packet::PubAck),
        ack(v5, ack::Kind::Rec).prop_map(Packet::PubRec),
        ack(v5, ack::Kind::Rel).prop_map(Packet::PubRel),
        ack(v5, ack::Kind::Comp).prop_map(Packet::PubComp),
        subscribe(v5),
        suback,
        unsubscribe,
        unsuback,
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect,
    ];
    if v5 {
        let auth =
            (reason(auth::ALLOWED), props(Context::Auth, true)).prop_map(|(reason, properties)| {
                Packet::Auth(Auth {
                    reason,
                    properties: properties.into(),
                })
            });
        prop_oneof![14 => common, 1 => auth].boxed()
    } else {
        common.boxed()
    }
}
