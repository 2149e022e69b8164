//! The connections table: its columns (each the [`midge_model::SortKey`] a paging source
//! sorts by), and which sessions it shows in which order when the dashboard sorts them.

use std::cmp::Ordering;

use midge_model::ConnectionInfo;

use super::rates::ClientRates;

/// A column of the connections table: each is the [`midge_model::SortKey`] a paging
/// source sorts by.
pub use midge_model::SortKey as Column;

/// What the table needs of a column besides its sort key.
pub trait ColumnExt: Sized {
    /// Every column, in display order.
    const ALL: [Column; 13];
    /// Which columns are dropped first on a narrow terminal (lowest first).
    fn priority(self) -> u8;
    fn title(self) -> &'static str;
    /// Preferred width in cells.
    fn width(self) -> u16;
    /// Numbers read best largest first.
    fn default_descending(self) -> bool;
    /// The next column in display order (wrapping).
    fn next(self) -> Self;
    fn prev(self) -> Self;
}

impl ColumnExt for Column {
    const ALL: [Column; 13] = [
        Column::ClientId,
        Column::Address,
        Column::Protocol,
        Column::Username,
        Column::Tls,
        Column::KeepAlive,
        Column::Since,
        Column::Subs,
        Column::MsgsIn,
        Column::MsgsOut,
        Column::Rate,
        Column::Inflight,
        Column::Queued,
    ];

    fn priority(self) -> u8 {
        match self {
            Column::ClientId => 13,
            Column::Protocol | Column::Queued => 12,
            Column::Rate => 11,
            Column::MsgsIn | Column::MsgsOut => 10,
            Column::Address => 9,
            Column::Inflight => 8,
            Column::Subs => 7,
            Column::Tls => 6,
            Column::Username => 5,
            Column::Since => 4,
            Column::KeepAlive => 3,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Column::ClientId => "client id",
            Column::Address => "address",
            Column::Protocol => "proto",
            Column::Username => "user",
            Column::Tls => "tls",
            Column::KeepAlive => "ka",
            Column::Since => "since",
            Column::Subs => "subs",
            Column::MsgsIn => "in",
            Column::MsgsOut => "out",
            Column::Rate => "msg/s",
            Column::Inflight => "infl o/i",
            Column::Queued => "queued",
        }
    }

    fn width(self) -> u16 {
        match self {
            Column::ClientId => 18,
            Column::Address => 21,
            Column::Protocol => 5,
            Column::Username => 10,
            Column::Tls | Column::KeepAlive | Column::Subs => 4,
            Column::Since => 9,
            Column::MsgsIn | Column::MsgsOut => 8,
            Column::Rate | Column::Queued => 7,
            Column::Inflight => 8,
        }
    }

    fn default_descending(self) -> bool {
        !matches!(
            self,
            Column::ClientId | Column::Address | Column::Username | Column::Protocol
        )
    }

    fn next(self) -> Self {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    fn prev(self) -> Self {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

fn cmp_f(a: Option<f64>, b: Option<f64>) -> Ordering {
    a.unwrap_or(-1.0).total_cmp(&b.unwrap_or(-1.0))
}

fn compare(a: &ConnectionInfo, b: &ConnectionInfo, col: Column, rates: &ClientRates) -> Ordering {
    match col {
        Column::ClientId => a.client_id.cmp(&b.client_id),
        Column::Address => a.address.cmp(&b.address),
        Column::Protocol => a.protocol.cmp(&b.protocol),
        Column::Username => a.username.cmp(&b.username),
        Column::Tls => a.tls.cmp(&b.tls),
        Column::KeepAlive => a.keep_alive_secs.cmp(&b.keep_alive_secs),
        // By age: ascending is the newest connection first.
        Column::Since => b.connected_since_ms.cmp(&a.connected_since_ms),
        Column::Subs => a.subscriptions.len().cmp(&b.subscriptions.len()),
        Column::MsgsIn => a.messages_in.cmp(&b.messages_in),
        Column::MsgsOut => a.messages_out.cmp(&b.messages_out),
        Column::Rate => cmp_f(rates.rate(&a.client_id), rates.rate(&b.client_id)),
        Column::Inflight => (a.inflight_out + a.inflight_in).cmp(&(b.inflight_out + b.inflight_in)),
        Column::Queued => a.queued.cmp(&b.queued),
    }
}

/// Whether a session matches a typed filter (case-insensitive substring of client id,
/// address, username or transport; exactly a protocol label or an MQTT-SN state).
#[must_use]
pub fn matches_filter(c: &ConnectionInfo, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let f = filter.to_lowercase();
    c.client_id.to_lowercase().contains(&f)
        || c.address
            .as_deref()
            .is_some_and(|a| a.to_lowercase().contains(&f))
        || c.username
            .as_deref()
            .is_some_and(|u| u.to_lowercase().contains(&f))
        || c.protocol.label() == f
        || c.transport
            .as_deref()
            .is_some_and(|t| t.to_lowercase().contains(&f))
        || c.sn.as_ref().is_some_and(|sn| sn.state.label() == f)
}

/// The protocol column: `SN` for a client behind the MQTT-SN gateway, else the MQTT
/// version.
#[must_use]
pub fn protocol_label(c: &ConnectionInfo) -> &'static str {
    match c.transport.as_deref() {
        Some(t) if t.starts_with("mqtt-sn") => "SN",
        _ => c.protocol.label(),
    }
}

/// Indices into `conns` of the rows shown, in order; ties break on client id.
#[must_use]
pub fn rows(
    conns: &[ConnectionInfo],
    rates: &ClientRates,
    sort: Column,
    descending: bool,
    filter: &str,
) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..conns.len())
        .filter(|&i| matches_filter(&conns[i], filter))
        .collect();
    idx.sort_by(|&i, &j| {
        let (a, b) = (&conns[i], &conns[j]);
        let o = compare(a, b, sort, rates);
        let o = if descending { o.reverse() } else { o };
        o.then_with(|| a.client_id.cmp(&b.client_id))
    });
    idx
}
