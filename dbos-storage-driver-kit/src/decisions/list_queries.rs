//! Filters, pages and order of the reading operations.

use std::collections::HashMap;

use dbos_storage_core::{WorkflowInfo, WorkflowStatus};

/// The partial index of DBOS's schema whose rows hold every status of a `list_workflows` status
/// filter: a statement that repeats the index's predicate word for word lets SQLite (which
/// matches partial-index predicates term by term) read the matching rows from it, newest first,
/// instead of walking every newer workflow of the creation-time index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusIndex {
    /// `idx_workflow_status_failed` (`status`, `created_at`): `ERROR`, `CANCELLED`,
    /// `MAX_RECOVERY_ATTEMPTS_EXCEEDED`.
    Failed,
    /// `idx_workflow_status_pending` (`created_at`): `PENDING`.
    Pending,
}

/// The partial index that holds every status of `statuses`, if one does.
pub fn status_index(statuses: &[WorkflowStatus]) -> Option<StatusIndex> {
    let failed = |s: &WorkflowStatus| {
        matches!(
            s,
            WorkflowStatus::Error
                | WorkflowStatus::Cancelled
                | WorkflowStatus::MaxRecoveryAttemptsExceeded
        )
    };
    if statuses.is_empty() {
        None
    } else if statuses.iter().all(failed) {
        Some(StatusIndex::Failed)
    } else if statuses.iter().all(|s| *s == WorkflowStatus::Pending) {
        Some(StatusIndex::Pending)
    } else {
        None
    }
}

/// The workflows of `rows` in the order of the `ids` they were read by (as
/// [`WorkflowStore::get_workflows`](dbos_storage_core::WorkflowStore::get_workflows) returns them); an id
/// no row has is left out, an id asked twice is returned twice.
pub fn in_request_order(ids: &[String], rows: Vec<WorkflowInfo>) -> Vec<WorkflowInfo> {
    let found: HashMap<String, WorkflowInfo> = rows
        .into_iter()
        .map(|w| (w.workflow_id.clone(), w))
        .collect();
    ids.iter().filter_map(|id| found.get(id).cloned()).collect()
}

/// The `LIKE` pattern (with `\` as the escape character) matching ids that start with `prefix`
/// literally.
pub fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The smallest string above every string that starts with `prefix`, in code point order:
/// `prefix` with its last character replaced by the next code point (dropping trailing
/// U+10FFFF, which has none). `None` when there is no such bound (an empty prefix, or one of
/// U+10FFFF only). Where ids sort by code point, the ids starting with `prefix` are exactly
/// those at or above `prefix` and below this bound, a range an index on the ids can read.
pub fn code_point_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A page's row limit as a SQL integer (saturating); `None` is no limit.
pub fn limit(limit: Option<u64>) -> Option<i64> {
    limit.map(saturating_i64)
}

/// A page's offset as a SQL integer (saturating); `None` is 0.
pub fn offset(offset: Option<u64>) -> i64 {
    offset.map_or(0, saturating_i64)
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_find_their_partial_index() {
        use WorkflowStatus::*;
        assert_eq!(status_index(&[Error]), Some(StatusIndex::Failed));
        assert_eq!(
            status_index(&[Cancelled, MaxRecoveryAttemptsExceeded]),
            Some(StatusIndex::Failed)
        );
        assert_eq!(status_index(&[Pending]), Some(StatusIndex::Pending));
        assert_eq!(status_index(&[Pending, Error]), None);
        assert_eq!(status_index(&[Success]), None);
        assert_eq!(status_index(&[]), None);
    }

    #[test]
    fn prefixes_match_literally() {
        assert_eq!(prefix_pattern("a%b_c\\"), "a\\%b\\_c\\\\%");
        assert_eq!(prefix_pattern(""), "%");
    }

    #[test]
    fn a_prefix_range_ends_at_the_next_code_point() {
        assert_eq!(code_point_successor("abc").as_deref(), Some("abd"));
        assert_eq!(
            code_point_successor("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(code_point_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(code_point_successor("\u{10FFFF}\u{10FFFF}"), None);
        assert_eq!(code_point_successor(""), None);
        // Every id with the prefix sorts below the bound, and the bound itself does not start
        // with the prefix.
        for id in ["ab", "ab\u{10FFFF}\u{10FFFF}", "ab\u{0}", "abz"] {
            assert!(("ab".."ac").contains(&id), "{id:?}");
        }
    }

    #[test]
    fn rows_come_back_in_request_order() {
        let row = |id: &str| WorkflowInfo::new(id, "w", dbos_storage_core::WorkflowStatus::Pending);
        let ids: Vec<String> = ["b", "x", "a", "b"].map(String::from).into();
        let ordered = in_request_order(&ids, vec![row("a"), row("b")]);
        let got: Vec<&str> = ordered.iter().map(|w| w.workflow_id.as_str()).collect();
        assert_eq!(got, ["b", "a", "b"]);
    }

    #[test]
    fn pages_saturate() {
        assert_eq!(limit(None), None);
        assert_eq!(limit(Some(u64::MAX)), Some(i64::MAX));
        assert_eq!(offset(None), 0);
        assert_eq!(offset(Some(5)), 5);
    }
}
