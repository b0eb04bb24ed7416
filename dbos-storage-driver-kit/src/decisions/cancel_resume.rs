//! The preconditions of cancel and resume
//! ([`ManagementStore`](dbos_storage_core::ManagementStore)).

use std::collections::HashSet;

use super::store_errors;
use dbos_storage_core::{Result, ResumeOptions, INTERNAL_QUEUE};

/// The distinct ids of `ids`, in first-seen order.
pub fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// The ids of `ids` that are in `changed`, in the order of `ids`, each once.
pub fn in_order_of(ids: &[String], mut changed: HashSet<String>) -> Vec<String> {
    ids.iter()
        .filter(|id| changed.remove(id.as_str()))
        .cloned()
        .collect()
}

/// The queue resumed workflows are enqueued on: the requested one, or the internal queue.
///
/// # Errors
/// [`InvalidInput`](dbos_storage_core::ErrorKind::InvalidInput) for an invalid queue name
/// ([`ResumeOptions::validate`]).
pub fn resume_queue(options: ResumeOptions) -> Result<String> {
    options.validate()?;
    Ok(options
        .queue_name
        .unwrap_or_else(|| INTERNAL_QUEUE.to_owned()))
}

/// Checks that every workflow to resume exists, so that a resume changes all of them or none.
///
/// # Errors
/// [`NotFound`](dbos_storage_core::ErrorKind::NotFound) naming the first id `exists` denies.
pub fn ensure_all_exist(ids: &[String], exists: impl Fn(&str) -> bool) -> Result<()> {
    match ids.iter().find(|id| !exists(id)) {
        Some(missing) => Err(store_errors::resume_missing(missing)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::ErrorKind;

    #[test]
    fn ids_are_deduplicated_in_order() {
        let ids: Vec<String> = ["b", "a", "b", "c", "a"].map(String::from).into();
        assert_eq!(distinct(&ids), ["b", "a", "c"]);
    }

    #[test]
    fn changed_ids_keep_the_requested_order() {
        let ids: Vec<String> = ["c", "a", "b", "a"].map(String::from).into();
        let changed: HashSet<String> = ["a", "c"].map(String::from).into();
        assert_eq!(in_order_of(&ids, changed), ["c", "a"]);
    }

    #[test]
    fn resumes_default_to_the_internal_queue() {
        assert_eq!(
            resume_queue(ResumeOptions::default()).unwrap(),
            INTERNAL_QUEUE
        );
        assert_eq!(
            resume_queue(ResumeOptions::default().queue_name("q")).unwrap(),
            "q"
        );
        let e = resume_queue(ResumeOptions::default().queue_name("a\0b")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let long = "q".repeat(dbos_storage_core::validate::MAX_NAME_BYTES + 1);
        let e = resume_queue(ResumeOptions::default().queue_name(long)).unwrap_err();
        assert!(e.message().contains("queue name"), "{e}");
    }

    #[test]
    fn every_id_must_exist() {
        let ids: Vec<String> = ["c", "ghost"].map(String::from).into();
        let e = ensure_all_exist(&ids, |id| id == "c").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("ghost"), "{e}");
        ensure_all_exist(&ids, |_| true).unwrap();
    }
}
