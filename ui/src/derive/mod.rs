//! Pure derivations from the model, tested without a terminal: rates from counters,
//! traffic over sliding windows (Top talkers),
//! the bounded topic tree, bounded rings, payload rendering decisions, the sorted and
//! filtered connections table and the slow-consumer ranking, bridge rates (topic matching is the
//! shared `midge-topic` crate).

pub mod connections;
pub mod links;
pub mod payload;
pub mod rates;
pub mod ring;
pub mod slow;
pub mod topics;
pub mod traffic;
