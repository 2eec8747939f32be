//! The store's conformance suite: every case runs against SQLite and against PostgreSQL.
//!
//! PostgreSQL runs when `STORE_TEST_POSTGRES_URL` is set (each test gets a schema of its own in
//! that database); `.ci/run` sets it to a fresh database. Without it the PostgreSQL tests say, once,
//! that they were skipped, and pass.

mod cases;
mod support;

macro_rules! suite {
    ($backend:ident, $factory:path) => {
        suite!(@module $backend, $factory, [
            migrations_apply_once_and_then_change_nothing,
            links_connect_refresh_disconnect_and_relink,
            links_refuse_a_second_account_on_either_side,
            links_list_page_and_find_expiring_tokens,
            links_token_swap_only_replaces_the_expected_value,
            sealed_tokens_round_trip_through_the_database,
            oauth_states_are_single_use_and_expire,
            login_mappings_set_replace_list_and_remove,
            preferences_set_overwrite_list_and_delete,
            subscriptions_record_renew_expire_and_delete,
            inbox_stores_atomically_and_deduplicates,
            inbox_claims_in_order_and_completes,
            inbox_expired_lease_is_reclaimed_and_fences_the_old_worker,
            inbox_retry_waits_and_dead_letters_are_kept,
            inbox_concurrent_workers_never_share_an_item,
            inbox_failures_are_counted_apart_from_claims_and_reset_on_requeue,
            links_of_chat_members_come_with_their_preference,
            inbox_listeners_hear_new_items_on_postgres,
            deliveries_reserve_deliver_and_never_twice,
            deliveries_expired_reservation_is_taken_over,
            deliveries_recorded_twice_count_once_even_concurrently,
            cursors_only_move_forward,
            job_lease_has_one_holder_and_changes_hands_on_expiry,
            job_lease_concurrent_acquirers_get_one_holder,
            schedules_due_runs_are_claimed_oldest_first_and_limited,
            schedules_claim_is_held_until_its_lease_passes,
            schedules_set_during_a_live_claim_keeps_it_and_is_run_after_it,
            schedules_set_after_the_lease_passed_replaces_the_schedule_and_the_claim,
            schedules_a_request_during_a_claim_is_run_exactly_once,
            schedules_a_request_racing_the_holders_finish_is_never_lost,
            schedules_release_makes_a_run_due_again_at_retry_at,
            schedules_none_deletes_and_a_disconnect_removes_all_jobs,
            schedules_concurrent_claimers_split_due_runs,
        ]);
    };
    (@module $backend:ident, $factory:path, [$($case:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    if let Some(test_store) = $factory().await {
                        crate::cases::$case(&test_store.store).await;
                    }
                }
            )*
        }
    };
}

suite!(sqlite, crate::support::sqlite);
suite!(postgres, crate::support::postgres);
