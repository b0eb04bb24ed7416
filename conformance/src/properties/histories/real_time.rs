//! Real-time order: a call that returned before another call started took effect before it, so
//! no serial order that puts the later call first explains the history.
//!
//! Each call's span runs from just before its first attempt to just after its final answer, as
//! the client saw them: the store acted somewhere inside it. Spans that overlap allow either
//! order.
//!
//! This is linearizability's real-time rule, which PostgreSQL, SQLite and a single-node
//! CockroachDB keep. A multi-node CockroachDB cluster does not promise it across keys (a
//! transaction may be ordered before one that committed earlier on another node), so the
//! histories property assumes a single node there.

use std::time::Instant;

/// When a call was made and when its final answer came back, as its client saw them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    /// Just before the first attempt.
    pub(super) start: Instant,
    /// Just after the final answer.
    pub(super) end: Instant,
}

impl Span {
    /// Whether this call had returned before `later` started.
    fn precedes(&self, later: &Span) -> bool {
        self.end < later.start
    }

    /// Whether the two calls overlapped in time: either may have taken effect first, or they
    /// ran at once.
    pub(super) fn overlaps(&self, other: &Span) -> bool {
        !self.precedes(other) && !other.precedes(self)
    }
}

/// Whether the next call of `client` may come next in a serial order that has already placed
/// the first `placed[c]` calls of each client `c`: no call still unplaced returned before it
/// started. Each client's calls are in its own order, so the earliest unplaced call of each
/// other client is the one that returned first, and the only one to check.
pub(super) fn may_go_next(spans: &[Vec<Span>], placed: &[usize], client: usize) -> bool {
    let Some(next) = spans[client].get(placed[client]) else {
        return false;
    };
    spans
        .iter()
        .zip(placed)
        .enumerate()
        .filter(|(other, _)| *other != client)
        .all(|(_, (calls, &placed))| calls.get(placed).is_none_or(|first| !first.precedes(next)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn span(base: Instant, start: u64, end: u64) -> Span {
        Span {
            start: base + Duration::from_millis(start),
            end: base + Duration::from_millis(end),
        }
    }

    #[test]
    fn a_call_may_not_go_before_one_that_returned_before_it_started() {
        let t = Instant::now();
        // Client 0: [0, 10]; client 1: [20, 30] then [40, 50]; client 2: [5, 45].
        let spans = vec![
            vec![span(t, 0, 10)],
            vec![span(t, 20, 30), span(t, 40, 50)],
            vec![span(t, 5, 45)],
        ];
        assert!(may_go_next(&spans, &[0, 0, 0], 0));
        assert!(
            !may_go_next(&spans, &[0, 0, 0], 1),
            "client 0 returned first"
        );
        assert!(may_go_next(&spans, &[0, 0, 0], 2), "overlaps client 0");
        assert!(may_go_next(&spans, &[1, 0, 0], 1));
        assert!(
            may_go_next(&spans, &[1, 1, 0], 1),
            "client 2 overlaps client 1's second call"
        );
        assert!(
            !may_go_next(&spans, &[1, 2, 0], 1),
            "client 1 has no call left"
        );
    }
}
