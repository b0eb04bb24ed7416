//! Rendering operations as the Rust calls that reproduce them: string and list literals, and
//! times relative to the case's start (`now`).

use std::fmt;

use dbos_storage_core::EpochMs;
use proptest::prelude::*;

/// An hour, in milliseconds: generated times lie about an hour before or after the case's
/// start, far beyond any clock skew between the store and the test.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// A time relative to the case's start: `now + offset` milliseconds. Renders as Rust
/// (`now - 3600007`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct At(pub(crate) i64);

impl At {
    /// The absolute time, for a case that started at `now`.
    pub(crate) fn at(self, now: EpochMs) -> EpochMs {
        now + self.0
    }
}

impl fmt::Debug for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => write!(f, "now"),
            o if o < 0 => write!(f, "now - {}", -o),
            o => write!(f, "now + {o}"),
        }
    }
}

/// An hour in the past or the future, plus `distinct` milliseconds (so that times generated for
/// different rows never tie), in the past with probability one half.
pub(crate) fn past_or_future(distinct: i64) -> impl Strategy<Value = At> {
    any::<bool>().prop_map(move |past| At(if past { -HOUR_MS } else { HOUR_MS } + distinct))
}

/// A string literal.
pub(crate) fn lit(text: &str) -> String {
    format!("{text:?}")
}

/// An `Option<&str>` literal.
pub(crate) fn opt(text: Option<&str>) -> String {
    match text {
        Some(t) => format!("Some({t:?})"),
        None => "None".to_owned(),
    }
}

/// An `Option<String>` literal.
pub(crate) fn opt_owned(text: Option<&str>) -> String {
    match text {
        Some(t) => format!("Some({t:?}.to_owned())"),
        None => "None".to_owned(),
    }
}

/// A `&[String]` literal of `list`.
pub(crate) fn id_slice(list: &[&str]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}.to_owned()")).collect();
    format!("&[{}]", items.join(", "))
}

/// The strings of `world` at `indexes`.
pub(crate) fn pick<'a>(world: &[&'a str], indexes: &[usize]) -> Vec<&'a str> {
    indexes.iter().map(|i| world[*i]).collect()
}

/// Owned strings of `world` at `indexes`.
pub(crate) fn owned(world: &[&str], indexes: &[usize]) -> Vec<String> {
    indexes.iter().map(|i| world[*i].to_owned()).collect()
}
