//! The data contracts that travel between pipeline stages and into evidence files.
//!
//! Field names, enum values and field order follow the Python reference (OperationsCenter),
//! because the JSON written from these types is the evidence a reviewer reads. Serde writes
//! fields in declaration order, `Option::None` as `null`, and enums as their string values.

mod common;
mod enums;
mod execution;
mod observability;
mod policy;
mod proposal;
mod routing;
mod time;

pub use common::*;
pub use enums::*;
pub use execution::*;
pub use observability::*;
pub use policy::*;
pub use proposal::*;
pub use routing::*;
pub use time::Timestamp;

/// A fresh random id, as `str(uuid.uuid4())` writes it: lowercase, hyphenated, 36 characters.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The first `n` characters (not bytes) of `s`; ids and summaries are cut this way.
pub fn prefix_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// Serialize a contract as an evidence file: 2-space indent, declared key order, raw UTF-8,
/// one trailing newline.
pub fn to_evidence_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("contract types always serialize");
    out.push(b'\n');
    out
}
