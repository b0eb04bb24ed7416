//! The windows of
//! [`ManagementStore::collectable_workflows`](dbos_storage_core::ManagementStore::collectable_workflows):
//! how the rows a store walked become a window and the position of the next one.

use dbos_storage_core::{CollectableWindow, CreationPosition};

/// The window of a walk that read `walked`: the workflows from the window's start in creation
/// order, each with whether retention may delete it, at most `limit + 1` of them. The first
/// `limit` are the window, whose collectable ids it lists in order; the one after them, if the
/// walk read it, is where the next window starts (`None`: the window reached the end).
pub fn window_of(walked: Vec<(CreationPosition, bool)>, limit: u32) -> CollectableWindow {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut walked = walked.into_iter();
    let workflow_ids = walked
        .by_ref()
        .take(limit)
        .filter_map(|(position, collectable)| collectable.then_some(position.workflow_id))
        .collect();
    let next_from = walked.next().map(|(position, _)| position);
    CollectableWindow::new(workflow_ids, next_from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(rows: &[(i64, &str, bool)]) -> Vec<(CreationPosition, bool)> {
        rows.iter()
            .map(|(at, id, collectable)| (CreationPosition::new(*at, *id), *collectable))
            .collect()
    }

    #[test]
    fn the_row_past_the_limit_starts_the_next_window() {
        let window = window_of(
            walked(&[(1, "a", true), (1, "b", false), (2, "c", true)]),
            2,
        );
        assert_eq!(
            window,
            CollectableWindow::new(vec!["a".to_owned()], Some(CreationPosition::new(2, "c")))
        );
    }

    #[test]
    fn a_short_walk_reached_the_end() {
        let window = window_of(walked(&[(1, "a", true), (3, "b", true)]), 2);
        assert_eq!(
            window,
            CollectableWindow::new(vec!["a".to_owned(), "b".to_owned()], None)
        );
        assert_eq!(window_of(Vec::new(), 5), CollectableWindow::default());
    }

    #[test]
    fn a_window_may_list_nothing_and_go_on() {
        let window = window_of(walked(&[(1, "a", false), (5, "z", false)]), 1);
        assert_eq!(
            window,
            CollectableWindow::new(Vec::new(), Some(CreationPosition::new(5, "z")))
        );
    }
}
