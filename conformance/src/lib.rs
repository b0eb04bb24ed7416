#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod app_factory;
pub mod app_properties;
mod checks;
pub mod factory;
pub mod faulty;
pub mod model;
pub mod normalize;
mod operator_fixtures;
pub mod properties;
pub mod runner;

pub use app_factory::AppFactory;
pub use factory::{Factory, MemoryFactory};
pub use faulty::{Fault, FaultyStore};
pub use model::MemoryStore;

/// Re-exported for implementing [`Factory`].
pub use async_trait::async_trait;

/// Re-exported for file-based factories: a temporary directory per store, removed on drop.
pub use tempfile;

/// Generates one `#[test]` per property of the suite for a backend.
///
/// ```
/// dbos_storage_conformance::suite!(dbos_storage_conformance::MemoryFactory::new());
/// # fn main() {}
/// ```
///
/// The argument is an expression building a [`Factory`]; each generated test evaluates it
/// once, builds a multi-threaded tokio runtime (two workers) with
/// [`runner::runtime`], and runs one property on it. The tests are grouped in modules named
/// after the modules of [`properties`] (`lifecycle`, `workflows`, `steps`, `management`,
/// `forks`, `deletes`, `attributes`, `retention`, `collection_windows`, `transfer`, `metrics`, `renames`, `schedules`,
/// `queues`, `versions`, `messages`, `events`, `streams`, `queue_concurrency`, `queue_fairness`, `state_machine`,
/// `machines`,
/// `concurrency`, `histories`, `retry`), so
/// `cargo test` reports e.g. `workflows::list_prefix_is_literal`. Put the invocation at the
/// root of a test file (or in a module of its own).
///
/// Capabilities come from [`Factory::capabilities`]. A property that needs one (listed with it
/// in parentheses in the macro's list, e.g. `attribute_updates_are_listed(attribute_filter)`)
/// passes without running on a backend that does not declare it, and says so on the test's
/// standard error ([`runner::declared`]), which `cargo test` shows even for passing tests:
/// `skipped attributes::attribute_updates_are_listed: the backend does not declare the
/// attribute_filter capability`. [`skipped_properties`] lists them for a set of capabilities.
/// Properties whose expected answer depends on a capability (such as
/// `workflows::attribute_filter_follows_capability`, which checks the declared
/// `attribute_filter` against the store's behaviour) run everywhere and branch on it.
#[macro_export]
macro_rules! suite {
    ($factory:expr $(,)?) => {
        #[doc(hidden)]
        fn __dbos_conformance_factory() -> impl $crate::Factory {
            $factory
        }
        $crate::__properties!(tests);
    };
}

/// The one list of properties, expanded by [`suite!`] (one test each) and by [`run_all`].
#[doc(hidden)]
#[macro_export]
macro_rules! __properties {
    ($mode:ident $($arg:ident)?) => {
        $crate::__expand! { $mode ($($arg)?)
            [lifecycle:
                migrate_is_idempotent
                check_connection_succeeds
                capabilities_match_declared
                closed_store_refuses_calls
            ]
            [workflows:
                insert_reconciles_by_creator
                insert_reject_policy_refuses_foreign_ids
                insert_conflicting_function_fails
                insert_initial_columns
                deduplication_is_per_queue_while_set
                get_workflows_in_request_order
                list_filters_match_columns
                list_prefix_is_literal
                list_prefix_finds_ids_past_ascii
                list_filters_take_several_values
                list_times_order_and_paging
                list_scoping_and_shape
                attribute_filter_follows_capability
                record_outcome_requires_pending_and_owner
                workflow_result_for_each_status
                await_result_wakes_on_outcome
                await_result_timeout_and_missing
                first_finished_and_await
                children_include_grandchildren
                invalid_input_is_rejected
                payload_labels_round_trip
            ]
            [columns:
                schedule_name_is_written_and_read_back
                row_flags_are_read_back
                queue_flags_are_written_and_read_back
                attributes_clear_back_to_unset
                debounce_matches_class_and_config
                steps_without_times_read_back_without_times
                void_outputs_round_trip
                caller_identity_is_written_and_read_back
            ]
            [limits:
                texts_at_their_limit_are_kept_everywhere
                a_nul_byte_in_any_text_is_refused_everywhere
            ]
            [steps:
                check_step_returns_recorded
                check_step_errors
                record_step_is_idempotent_and_detects_rivals
                record_step_checks_owner
                list_steps_by_position
                start_child_records_parent_step
                start_child_inherits_deadline
                start_child_deduplicated_records_error
                record_sleep_keeps_wake_time
                sleeps_of_any_length_replay_their_wake_time
                sleeps_written_by_sdks_replay_their_wake_time
                error_outcomes_round_trip
            ]
            [management:
                cancel_sets_cancelled_and_clears
                cancel_never_overwrites_finished
                cancel_children_level_by_level
                resume_enqueues
                resume_unknown_id_changes_nothing
                resume_checks_its_queue_name
                resumed_workflow_waits_for_a_claim
            ]
            [forks:
                fork_replays_steps_below_the_start
                fork_owner_and_generated_ids
                fork_is_all_or_nothing
                fork_is_idempotent
                fork_start_resolves_by_failure_and_name
                rewind_restarts_a_finished_workflow
                rewind_refuses_an_active_workflow
            ]
            [deletes:
                delete_leaves_no_rows
                delete_children_removes_descendants
            ]
            [attributes:
                attributes_replace_and_merge
                attribute_updates_are_listed(attribute_filter)
            ]
            [workflow_steps:
                replays_return_the_first_result_and_act_once
                replayed_resume_does_not_enqueue_again
                recorded_errors_replay_and_forks_are_made_once
                rewinds_and_schedule_changes_replay
                debounces_replay_without_extending_again
                callers_are_checked_and_not_recorded
                a_workflow_cannot_delete_itself_as_a_step
            ]
            [retention:
                leases_are_exclusive_and_expire
                fenced_writes_need_the_lease
                orphan_sweep_windows_cover_the_tables
                gc_deletes_only_finished_workflows
                gc_follows_the_policy
                gc_resumes_after_an_interruption
            ]
            [collection_windows:
                collectable_windows_cover_the_collectable_set
                keeping_more_than_the_table_holds_collects_nothing
            ]
            [transfer:
                export_import_round_trips
                import_is_all_or_nothing
            ]
            [metrics:
                metrics_count_per_bucket
            ]
            [renames:
                rename_moves_every_row
            ]
            [schedules:
                schedules_are_created_listed_and_managed
                schedule_upserts_keep_identity
            ]
            [queues:
                enqueue_initial_columns
                enqueue_deduplication_policies
                batch_enqueue_inserts_new_ids_in_order
                claim_order_is_priority_then_fifo
                claim_stamps_the_claimed_rows
                claim_follows_version_rules
                claim_is_scoped_by_application
                worker_concurrency_limits_a_claim
                concurrency_limits_pending
                rate_limit_counts_recent_starts
                stop_reason_follows_dbos_order
                partition_limits_apply_per_partition
                partitioned_fast_path_takes_one_per_partition
                delayed_workflows_release_when_due
                delayed_release_is_scoped_by_application
                debounce_extends_up_to_deadline
                debounce_claims_only_unclaimed_rows
                timed_out_workflows_are_cancelled
                pending_workflows_of_an_executor
                recovery_reenqueues_for_one_claim
                dead_letter_at_the_limit
                queue_registry
                queue_writes_survive_ambiguous_commits
                ambiguous_claim_is_not_replayed
                a_retried_enqueue_does_not_execute_a_claimed_workflow
            ]
            [versions:
                versions_are_created_and_claimed
                versions_latest_and_order
                version_lookups_check_their_text
            ]
            [messages:
                recv_takes_each_message_once_in_send_order
                idempotency_keys_deliver_once
                send_from_a_workflow_is_one_step
                send_to_a_missing_destination_fails
                send_inside_a_step_checks_owner
                send_to_forks_reaches_every_fork
                recv_replays_what_it_received
                recv_keeps_its_deadline_after_an_interruption
                a_message_sent_during_a_wait_arrives
                every_wait_ends_when_cancelled
                retried_writes_apply_once
                missing_workflows_are_not_found
                invalid_input_is_rejected
                list_notifications_shows_every_message
                sends_over_steps_no_send_records_are_corrupt
            ]
            [events:
                set_event_from_a_workflow_is_one_step
                set_event_inside_a_step_checks_owner
                get_event_from_a_workflow_is_recorded
                an_event_set_during_a_wait_arrives
                get_all_events_returns_the_current_map
                invalid_input_is_rejected
            ]
            [streams:
                reads_return_values_in_order_then_closed
                writes_replay_and_respect_the_close
                offsets_are_dense_under_concurrent_writers
                reads_of_missing_streams_are_empty
                await_stream_settles_or_times_out
                a_value_written_during_a_wait_arrives
                invalid_input_is_rejected
            ]
            [recovery:
                direct_recovery_takes_over_the_workflow
                recovery_refuses_what_is_not_eligible
                direct_recovery_dead_letters_past_the_limit
                one_recoverer_wins
                return_to_queue_is_fenced_by_the_claim
                recovery_input_is_checked
                recovery_writes_survive_ambiguous_commits
            ]
            [stream_steps:
                stream_reads_from_a_workflow_are_steps
                a_finished_writer_ends_the_read
                a_timed_out_read_is_recorded_as_an_error
                a_value_written_during_the_read_arrives
                stream_read_errors_record_nothing
            ]
            [queue_concurrency:
                claims_never_overlap
                concurrency_holds_under_racing_claims
                concurrency_holds_across_partitions
                worker_concurrency_holds_per_claimer
                rate_limit_holds_in_every_window
                fast_path_keeps_one_per_partition
                recovery_runs_each_workflow_once
            ]
            [queue_fairness:
                claims_are_fair_across_queues
            ]
            [state_machine:
                matches_reference_model
            ]
            [machines:
                queues_match_the_model
                messaging_matches_the_model
                mixed_matches_the_model
                registry_matches_the_model
            ]
            [concurrency:
                one_step_record_wins
                one_insert_executes
                one_outcome_applies
            ]
            [histories:
                concurrent_histories_have_a_serial_explanation
            ]
            [retry:
                faults_leave_the_same_state
                ambiguous_commits_apply_operator_writes_once
            ]
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __expand {
    (tests () $([$module:ident : $($property:ident $(($needs:ident))?)*])*) => {
        $(
            mod $module {
                $(
                    #[test]
                    fn $property() {
                        let factory = super::__dbos_conformance_factory();
                        $(
                            if !$crate::runner::declared(
                                $crate::Factory::capabilities(&factory).$needs,
                                concat!(stringify!($module), "::", stringify!($property)),
                                stringify!($needs),
                            ) {
                                return;
                            }
                        )?
                        $crate::runner::runtime()
                            .block_on($crate::properties::$module::$property(&factory));
                    }
                )*
            }
        )*
    };
    (run_all ($factory:ident) $([$module:ident : $($property:ident $(($needs:ident))?)*])*) => {
        $( $(
            if true $( && $crate::runner::declared(
                $crate::Factory::capabilities($factory).$needs,
                concat!(stringify!($module), "::", stringify!($property)),
                stringify!($needs),
            ) )? {
                $crate::properties::$module::$property($factory).await;
            }
        )* )*
    };
    (skipped ($caps:ident) $([$module:ident : $($property:ident $(($needs:ident))?)*])*) => {{
        let mut skipped: Vec<(&'static str, &'static str)> = Vec::new();
        $( $( $(
            if !$caps.$needs {
                skipped.push((
                    concat!(stringify!($module), "::", stringify!($property)),
                    stringify!($needs),
                ));
            }
        )? )* )*
        skipped
    }};
    (names () $([$module:ident : $($property:ident $(($needs:ident))?)*])*) => {
        &[ $( $( concat!(stringify!($module), "::", stringify!($property)), )* )* ]
    };
}

/// Runs every property of the suite against `factory`, one after the other, panicking at the
/// first failure. Prefer [`suite!`], which reports each property as its own test.
///
/// Needs a multi-threaded tokio runtime (`#[tokio::test(flavor = "multi_thread")]`, or
/// [`runner::runtime`]): model-based properties block in place while proptest runs.
pub async fn run_all<F: Factory>(factory: &F) {
    __properties!(run_all factory);
}

/// The name of every property, as `area::property` (the test names [`suite!`] generates).
pub const PROPERTIES: &[&str] = __properties!(names);

/// The properties [`suite!`] and [`run_all`] skip for a backend with `capabilities`, each with
/// the capability it needs (a field name of [`Capabilities`](dbos_storage_core::Capabilities)),
/// in suite order.
pub fn skipped_properties(
    capabilities: &dbos_storage_core::Capabilities,
) -> Vec<(&'static str, &'static str)> {
    __properties!(skipped capabilities)
}

/// Generates one `#[test]` per property of the application-store half of the suite
/// ([`app_properties`]), for an [`AppFactory`].
///
/// ```ignore
/// use dbos_storage_conformance::{async_trait, AppFactory};
///
/// struct MyAppFactory;
///
/// #[async_trait]
/// impl AppFactory for MyAppFactory {
///     type Store = MyAppStore; // your AppStore
///
///     async fn create(&self) -> MyAppStore {
///         let store = MyAppStore::open_fresh().await; // a fresh, empty database
///         store.migrate().await.expect("migrate the fresh database");
///         store
///     }
///
///     async fn destroy(&self, store: MyAppStore) {
///         store.close().await.expect("close the store");
///         // …then remove the file or database that create() made
///     }
/// }
///
/// dbos_storage_conformance::app_suite!(MyAppFactory);
/// ```
///
/// Like [`suite!`], each generated test evaluates the factory expression once and runs one
/// property on a [`runner::runtime`]. The tests are grouped in modules named after the modules
/// of [`app_properties`] (`transactions`, `rollbacks`, `read_only`, `migrations`, `values`,
/// `retries`, `outputs_model`), none of which [`suite!`] uses, so both macros may share a file.
#[macro_export]
macro_rules! app_suite {
    ($factory:expr $(,)?) => {
        #[doc(hidden)]
        fn __dbos_conformance_app_factory() -> impl $crate::AppFactory {
            $factory
        }
        $crate::__app_properties!(tests);
    };
}

/// The one list of application-store properties, expanded by [`app_suite!`] and
/// [`run_all_app`].
#[doc(hidden)]
#[macro_export]
macro_rules! __app_properties {
    ($mode:ident $($arg:ident)?) => {
        $crate::__app_expand! { $mode ($($arg)?)
            [transactions:
                an_output_commits_with_the_writes
                a_replay_returns_the_recorded_result
                a_concurrent_duplicate_records_once
                bad_arguments_are_invalid_input
                bodies_cannot_end_the_transaction
                a_closed_store_refuses_work
                recorded_outputs_are_deleted_and_listed
            ]
            [rollbacks:
                an_error_outcome_rolls_back_and_is_recorded
                a_database_error_records_nothing
                a_panicking_body_leaves_nothing_behind
                a_void_outcome_is_refused_and_rolls_back
            ]
            [read_only:
                read_only_transactions_cannot_write
            ]
            [migrations:
                migrations_apply_once_in_order
                bad_migration_folders_are_invalid_input
                a_failing_migration_is_named
            ]
            [values:
                values_round_trip
                named_parameters_bind_by_name
            ]
            [retries:
                retryable_errors_re_run_the_body
                concurrent_increments_lose_no_update
            ]
            [outputs_model:
                matches_the_recorded_outputs_model
            ]
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __app_expand {
    (tests () $([$module:ident : $($property:ident)*])*) => {
        $(
            mod $module {
                $(
                    #[test]
                    fn $property() {
                        let factory = super::__dbos_conformance_app_factory();
                        $crate::runner::runtime()
                            .block_on($crate::app_properties::$module::$property(&factory));
                    }
                )*
            }
        )*
    };
    (run_all ($factory:ident) $([$module:ident : $($property:ident)*])*) => {
        $( $( $crate::app_properties::$module::$property($factory).await; )* )*
    };
    (names () $([$module:ident : $($property:ident)*])*) => {
        &[ $( $( concat!(stringify!($module), "::", stringify!($property)), )* )* ]
    };
}

/// Runs every application-store property against `factory`, one after the other, panicking at
/// the first failure. Prefer [`app_suite!`], which reports each property as its own test.
///
/// Needs a multi-threaded tokio runtime, as [`run_all`] does.
pub async fn run_all_app<F: AppFactory>(factory: &F) {
    __app_properties!(run_all factory);
}

/// The name of every application-store property, as `area::property` (the test names
/// [`app_suite!`] generates).
pub const APP_PROPERTIES: &[&str] = __app_properties!(names);

#[cfg(test)]
mod tests {
    #[test]
    fn property_names_are_unique_and_qualified() {
        let mut names = super::PROPERTIES.to_vec();
        assert!(names.iter().all(|n| n.contains("::")), "{names:?}");
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            super::PROPERTIES.len(),
            "a property is listed twice"
        );
        let mut app = super::APP_PROPERTIES.to_vec();
        app.sort_unstable();
        app.dedup();
        assert_eq!(
            app.len(),
            super::APP_PROPERTIES.len(),
            "an app property twice"
        );
        assert!(
            super::APP_PROPERTIES.iter().all(|a| !super::PROPERTIES
                .iter()
                .any(|p| p.split("::").next() == a.split("::").next())),
            "an app module shares a name with a system module"
        );
    }

    #[test]
    fn only_properties_needing_a_missing_capability_are_skipped() {
        use dbos_storage_core::Capabilities;
        let mut all = Capabilities::default();
        all.listen_notify = true;
        all.skip_locked = true;
        all.schemas = true;
        all.attribute_filter = true;
        all.multi_process = true;
        all.durable = true;
        assert!(super::skipped_properties(&all).is_empty());
        let mut without = all;
        without.attribute_filter = false;
        assert_eq!(
            super::skipped_properties(&without),
            [(
                "attributes::attribute_updates_are_listed",
                "attribute_filter"
            )]
        );
        assert!(super::skipped_properties(&without)
            .iter()
            .all(|(name, _)| super::PROPERTIES.contains(name)));
    }
}
