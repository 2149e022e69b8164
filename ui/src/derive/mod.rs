//! Pure derivations from the model, tested without a terminal: rates from counters,
//! the bounded topic tree, bounded rings, payload rendering decisions, the sorted and
//! filtered connections table, topic filter matching and the slow-consumer ranking.

pub mod connections;
pub mod matching;
pub mod payload;
pub mod rates;
pub mod ring;
pub mod slow;
pub mod topics;
