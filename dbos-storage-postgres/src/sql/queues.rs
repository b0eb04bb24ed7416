//! Statements of the queue operations: batch enqueue, claims, partitions, delays, debounce,
//! deadlines, recovery, dead-letter and the queue registry.
//!
//! `{schema}` is replaced once, with the quoted schema name, when the store is built. Lists of
//! ids are bound as one `text[]` parameter and matched with `= ANY($n)`. "Now" is the database
//! clock at transaction start, in epoch milliseconds. The predicates are written so that the
//! partial indexes of the v125 schema serve them: `idx_workflow_status_in_flight_v2` (queue
//! selection and `PENDING` counts), `idx_workflow_status_partition_dequeue_v3` (partition scans
//! and heads), `idx_workflow_status_rate_limited` (rate-limit windows),
//! `idx_workflow_status_delayed` (delay release) and `idx_workflow_status_deadline` (timeouts).

use super::workflows::now_ms;

/// The application scope of a set-oriented query: the rows of application `$p` plus unclaimed
/// rows; every row when `$p` is NULL.
macro_rules! app_scope {
    ($alias:literal, $p:literal) => {
        concat!(
            "(",
            $p,
            "::text IS NULL OR ",
            $alias,
            ".application_name = ",
            $p,
            " OR ",
            $alias,
            ".application_name IS NULL)"
        )
    };
}

/// Whether executor version `$v` is the latest registered version of application `$a` (own
/// plus unclaimed rows), ordered as `latest_application_version` orders them (timestamp, then
/// creation time, then name). With no version registered at all, every executor counts as the
/// latest. An uncorrelated subquery: it runs once per statement, and only when a version-less
/// row is met.
macro_rules! is_latest_version {
    ($v:literal, $a:literal) => {
        concat!(
            "COALESCE((SELECT lv.version_name = ",
            $v,
            " FROM {schema}.application_versions lv WHERE ",
            app_scope!("lv", $a),
            " ORDER BY lv.version_timestamp DESC, lv.created_at DESC, lv.version_name DESC \
             LIMIT 1), TRUE)"
        )
    };
}

/// The rows an executor may claim: its own version, or no version while it runs the latest
/// one; and its own application or unclaimed rows. `$2` version, `$3` application.
macro_rules! claimable {
    ($alias:literal) => {
        concat!(
            "(",
            $alias,
            ".application_version = $2 OR (",
            $alias,
            ".application_version IS NULL AND ",
            is_latest_version!("$2", "$3"),
            ")) AND ",
            app_scope!($alias, "$3")
        )
    };
}

/// The `SET` list of a claim, given the placeholders of the owner token, executor, version,
/// application (NULL keeps the row's) and whether a rate limiter counts the claim. The deadline
/// is kept, or set to now + timeout clamped to the bigint range (a `CASE`, because `LEAST` and
/// `GREATEST` would skip a NULL timeout instead of propagating it).
macro_rules! claim_set {
    ($owner:literal, $executor:literal, $version:literal, $app:literal, $limited:literal) => {
        concat!(
            "status = 'PENDING', owner_xid = ",
            $owner,
            ", executor_id = ",
            $executor,
            ", application_version = ",
            $version,
            ",
    application_name = COALESCE(",
            $app,
            "::text, ws.application_name),
    started_at_epoch_ms = ",
            now_ms!(),
            ", updated_at = ",
            now_ms!(),
            ", rate_limited = ",
            $limited,
            "::boolean, recovery_attempts = ws.recovery_attempts + 1,
    workflow_deadline_epoch_ms = CASE
        WHEN ws.workflow_deadline_epoch_ms IS NOT NULL THEN ws.workflow_deadline_epoch_ms
        WHEN ws.workflow_timeout_ms IS NULL THEN NULL
        ELSE GREATEST(LEAST(",
            now_ms!(),
            "::numeric + ws.workflow_timeout_ms, 9223372036854775807),
                      -9223372036854775808)::bigint
    END"
        )
    };
}

/// The limit of a claim's selection as the claim statements are written: a scalar subquery
/// (see `claimable_rows!`, which spells it out: `concat!` takes literals only).
pub(crate) const HIDDEN_CLAIM_LIMIT: &str = "LIMIT (SELECT $4::bigint)";

/// The same limit as a plain placeholder, for a dialect whose optimizer needs it to bound its
/// locking scan ([`Dialect::hides_claim_limit`](crate::Dialect::hides_claim_limit)).
pub(crate) const PLAIN_CLAIM_LIMIT: &str = "LIMIT $4";

/// The claimable rows of queue `$1` in dequeue order, at most `$4` (`$2` version, `$3`
/// application; `partition` adds a filter and `order` is the dequeue order the index serves).
///
/// The limit is a scalar subquery so that no plan knows its value: a custom plan (which would
/// see `LIMIT 8`) then costs what the generic plan (which assumes a tenth of the queue) costs,
/// and the plan cache keeps the generic plan instead of planning the statement again on every
/// claim. With `LIMIT $4`, an analyzed queue made every claim plan anew (a custom plan looked far
/// cheaper than the generic one), which cost a third of the claim rate.
macro_rules! claimable_rows {
    ($partition:literal, $order:literal) => {
        concat!(
            "SELECT ws.workflow_uuid FROM {schema}.workflow_status ws
    WHERE ws.queue_name = $1 AND ws.status = 'ENQUEUED' AND ",
            claimable!("ws"),
            $partition,
            "
    ORDER BY ",
            $order,
            "
    LIMIT (SELECT $4::bigint)"
        )
    };
}

/// The flip of a claim: the rows of CTE `selected` still `ENQUEUED` become `PENDING` (`$5`
/// owner token, `$6` executor, `$2` version, `$3` application, `$7` whether a rate limiter
/// counts the claim). The rows are found by primary key through an array: joined to the CTE, a
/// generic plan (which guesses the CTE's size from a tenth of the queue) hashed a sequential
/// scan of the whole table. Returns id, priority and creation time of each row claimed (an
/// `UPDATE … RETURNING` has no order: the caller sorts).
macro_rules! claim_flip {
    () => {
        concat!(
            "
UPDATE {schema}.workflow_status ws
SET ",
            claim_set!("$5", "$6", "$2", "$3", "$7"),
            "
WHERE ws.workflow_uuid = ANY (ARRAY(SELECT selected.workflow_uuid FROM selected))
  AND (ws.status = 'ENQUEUED') IS TRUE AND ",
            app_scope!("ws", "$3"),
            "
RETURNING ws.workflow_uuid, ws.priority, ws.created_at"
        )
    };
}

/// A claim without a shared budget, in one statement: the first claimable rows that no other
/// session holds, locked `FOR UPDATE SKIP LOCKED` as they are read in index order, then
/// flipped. Parameters as [`claimable_rows!`] and [`claim_flip!`].
macro_rules! claim_skip_locked {
    ($partition:literal, $order:literal) => {
        concat!(
            "WITH selected AS MATERIALIZED (
    ",
            claimable_rows!($partition, $order),
            "
    FOR UPDATE SKIP LOCKED
)",
            claim_flip!()
        )
    };
}

/// A claim with a shared budget, in one statement: the budget's window at the head of the
/// queue (the first `$4` claimable rows of the snapshot, read without locks), of which the rows
/// no other session holds are locked `FOR UPDATE SKIP LOCKED` (each found by primary key) and
/// flipped. A row another session holds is neither waited for nor skipped past: it keeps its
/// place in the window, so it counts against the budget until it is released. Two claimers
/// therefore never take more than the budget between them, and a session left idle holding one
/// row costs the queue one slot instead of stopping it.
macro_rules! claim_head_window {
    ($partition:literal, $order:literal) => {
        concat!(
            "WITH head AS MATERIALIZED (
    ",
            claimable_rows!($partition, $order),
            "
), selected AS MATERIALIZED (
    SELECT ws.workflow_uuid FROM {schema}.workflow_status ws
    WHERE ws.workflow_uuid = ANY (ARRAY(SELECT head.workflow_uuid FROM head))
      AND (ws.status = 'ENQUEUED') IS TRUE
    FOR UPDATE SKIP LOCKED
)",
            claim_flip!()
        )
    };
}

// language=SQL
/// Claims rows of a queue without a shared budget: the first claimable rows no other worker
/// holds. Parameters as [`claimable_rows!`] and [`claim_flip!`].
///
/// The dequeue order of a queue without partitions stops at the creation time:
/// `idx_workflow_status_in_flight_v2` ends there, so the index alone yields the order and the
/// scan stops after the rows claimed (a tie-break on the id would make the planner sort the
/// queue's whole backlog whenever its statistics under-count it). Rows created in the same
/// millisecond are taken in index order, as DBOS takes them.
pub(crate) const CLAIM_SKIP_LOCKED: &str = claim_skip_locked!("", "ws.priority, ws.created_at");

// language=SQL
/// Claims rows of a queue with a shared budget from the head window only; see
/// [`claim_head_window!`].
pub(crate) const CLAIM_HEAD_WINDOW: &str = claim_head_window!("", "ws.priority, ws.created_at");

// language=SQL
/// As [`CLAIM_SKIP_LOCKED`], in partition `$8` only. `idx_workflow_status_partition_dequeue_v3`
/// ends at the id, so the order within a partition is total.
pub(crate) const CLAIM_PARTITION_SKIP_LOCKED: &str = claim_skip_locked!(
    " AND ws.queue_partition_key = $8",
    "ws.priority, ws.created_at, ws.workflow_uuid"
);

// language=SQL
/// As [`CLAIM_HEAD_WINDOW`], in partition `$8` only.
pub(crate) const CLAIM_PARTITION_HEAD_WINDOW: &str = claim_head_window!(
    " AND ws.queue_partition_key = $8",
    "ws.priority, ws.created_at, ws.workflow_uuid"
);

// language=SQL
/// What a claim's budget is made of, each counted only when asked for (an uncorrelated
/// subquery in an untaken `CASE` branch is never run): `$1` queue, `$2` partition key, `$3`
/// rate-limit period in ms (NULL = no rate limit), `$4` partition rate-limit period in ms, `$5`
/// count the queue's `PENDING` rows, `$6` count the partition's, `$7` application. Returns the
/// queue's and the partition's recent starts and their `PENDING` counts (NULL when not asked).
pub(crate) const SELECT_CLAIM_BUDGET: &str = concat!(
    "SELECT
    CASE WHEN $3::bigint IS NOT NULL THEN (
        SELECT count(*) FROM {schema}.workflow_status rl
        WHERE rl.queue_name = $1 AND rl.rate_limited = true
          AND rl.started_at_epoch_ms > ",
    now_ms!(),
    " - $3::bigint
          AND rl.status NOT IN ('ENQUEUED', 'DELAYED') AND ",
    app_scope!("rl", "$7"),
    ") END,
    CASE WHEN $4::bigint IS NOT NULL THEN (
        SELECT count(*) FROM {schema}.workflow_status rl
        WHERE rl.queue_name = $1 AND rl.rate_limited = true
          AND rl.started_at_epoch_ms > ",
    now_ms!(),
    " - $4::bigint
          AND rl.queue_partition_key = $2::text
          AND rl.status NOT IN ('ENQUEUED', 'DELAYED') AND ",
    app_scope!("rl", "$7"),
    ") END,
    CASE WHEN $5::boolean THEN (
        SELECT count(*) FROM {schema}.workflow_status p
        WHERE p.queue_name = $1 AND p.status = 'PENDING'
    ) END,
    CASE WHEN $6::boolean THEN (
        SELECT count(*) FROM {schema}.workflow_status p
        WHERE p.queue_name = $1 AND p.status = 'PENDING' AND p.queue_partition_key = $2::text
    ) END"
);

/// A loose index scan over the distinct partition keys of queue `$1` that have `ENQUEUED` rows
/// (matching `extra`, a predicate on alias `e`), in key order: each step jumps to the next key
/// through `idx_workflow_status_partition_dequeue_v3` instead of reading every row.
macro_rules! partition_keys_cte {
    ($($extra:tt)*) => {
        concat!(
            "WITH RECURSIVE parts(k) AS (
    (SELECT e.queue_partition_key FROM {schema}.workflow_status e
     WHERE e.queue_name = $1 AND e.status = 'ENQUEUED' AND e.queue_partition_key IS NOT NULL
       AND ",
            $($extra)*,
            "
     ORDER BY e.queue_partition_key LIMIT 1)
    UNION ALL
    SELECT (SELECT e.queue_partition_key FROM {schema}.workflow_status e
            WHERE e.queue_name = $1 AND e.status = 'ENQUEUED' AND e.queue_partition_key > parts.k
              AND ",
            $($extra)*,
            "
            ORDER BY e.queue_partition_key LIMIT 1)
    FROM parts WHERE parts.k IS NOT NULL
)"
        )
    };
}

// language=SQL
/// The partition keys with `ENQUEUED` rows in queue `$1`, of application `$2` or unclaimed.
pub(crate) const SELECT_QUEUE_PARTITIONS: &str = concat!(
    partition_keys_cte!(app_scope!("e", "$2")),
    "
SELECT k FROM parts WHERE k IS NOT NULL"
);

// language=SQL
/// The partitioned fast path's candidates: among the first `$5` partitions of queue `$1`, in
/// key order, with `ENQUEUED` rows and no `PENDING` row (whatever its application: the probe is
/// a mutual exclusion), the head of each by (priority, creation time, id) among the rows the
/// executor may claim (`$2` version, `$3` application); of those heads, the first `$4` in the
/// same order, so that a claim that cannot take every partition takes those whose head waited
/// longest and rotates over the partitions from poll to poll. Returns id, priority and creation
/// time.
pub(crate) const SELECT_PARTITION_HEADS: &str = concat!(
    partition_keys_cte!("TRUE"),
    ", free AS (
    SELECT parts.k FROM parts
    WHERE parts.k IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM {schema}.workflow_status p
        WHERE p.queue_name = $1 AND p.status = 'PENDING' AND p.queue_partition_key = parts.k)
    LIMIT $5
)
SELECT h.workflow_uuid, h.priority, h.created_at
FROM free
CROSS JOIN LATERAL (
    SELECT ws.workflow_uuid, ws.priority, ws.created_at FROM {schema}.workflow_status ws
    WHERE ws.queue_name = $1 AND ws.status = 'ENQUEUED' AND ws.queue_partition_key = free.k
      AND ",
    claimable!("ws"),
    "
    ORDER BY ws.priority, ws.created_at, ws.workflow_uuid
    LIMIT 1
) h
ORDER BY h.priority, h.created_at, h.workflow_uuid
LIMIT $4"
);

// language=SQL
/// Claims partition heads (`$1` text[]) of queue `$6`: locks those still `ENQUEUED` whose
/// partition still has no `PENDING` row `FOR UPDATE SKIP LOCKED` (a head another worker is
/// claiming is passed over), then flips them with `rate_limited = false`. `$2` owner token, `$3`
/// executor, `$4` version, `$5` application. Returns the ids claimed.
pub(crate) const CLAIM_PARTITION_HEADS: &str = concat!(
    "WITH locked AS (
    SELECT c.workflow_uuid FROM {schema}.workflow_status c
    WHERE c.workflow_uuid = ANY($1) AND c.queue_name = $6 AND c.status = 'ENQUEUED'
      AND NOT EXISTS (
        SELECT 1 FROM {schema}.workflow_status p
        WHERE p.queue_name = $6 AND p.status = 'PENDING'
          AND p.queue_partition_key = c.queue_partition_key)
    FOR UPDATE OF c SKIP LOCKED
)
UPDATE {schema}.workflow_status ws
SET ",
    claim_set!("$2", "$3", "$4", "$5", "FALSE"),
    "
FROM locked
WHERE ws.workflow_uuid = locked.workflow_uuid AND (ws.status = 'ENQUEUED') IS TRUE
RETURNING ws.workflow_uuid"
);

/// The newest `created_at` among the rows of queue `g.queue_name` with status `$status`, in any
/// partition. `idx_workflow_status_in_flight_v2` orders a queue's rows by priority before
/// creation time, so a loose index scan walks the distinct priorities and reads the newest row
/// of each backwards: a few index probes, where `max(created_at)` would read every row of the
/// queue, and a backward scan of `created_at` every newer row of the table.
macro_rules! newest_created {
    ($status:literal) => {
        concat!(
            "(WITH RECURSIVE prios(p) AS (
                (SELECT s.priority FROM {schema}.workflow_status s
                 WHERE s.queue_name = g.queue_name AND s.status = '",
            $status,
            "'
                 ORDER BY s.priority LIMIT 1)
                UNION ALL
                SELECT (SELECT s.priority FROM {schema}.workflow_status s
                        WHERE s.queue_name = g.queue_name AND s.status = '",
            $status,
            "'
                          AND s.priority > prios.p
                        ORDER BY s.priority LIMIT 1)
                FROM prios WHERE prios.p IS NOT NULL
            )
            SELECT max(newest.created_at) FROM prios CROSS JOIN LATERAL (
                SELECT s.created_at FROM {schema}.workflow_status s
                WHERE s.queue_name = g.queue_name AND s.status = '",
            $status,
            "'
                  AND s.priority = prios.p
                ORDER BY s.created_at DESC LIMIT 1) newest)"
        )
    };
}

// language=SQL
/// Batch enqueue of one chunk, bound as parallel arrays (one element per workflow, in input
/// order): `$1` id, `$2` status, `$3` name, `$4` class, `$5` config, `$6` queue, `$7` dedup id,
/// `$8` priority (int4), `$9` partition key, `$10` user, `$11` assumed role, `$12` roles (JSON
/// text), `$13` executor, `$14` app version, `$15` app id, `$16` app name, `$17` timeout ms,
/// `$18` deadline, `$19` delay until, `$20` parent, `$21` serialization, `$22` attributes (JSON
/// text), `$23` creator token, `$24` inputs, `$25` is debounced, `$26` debounce deadline, `$27` forked
/// from, `$28` schedule name.
///
/// `created_at` is strictly increasing per queue (across its partitions) in input order,
/// starting after the newest `ENQUEUED`/`PENDING` row of that queue, whatever its partition
/// (looked up once per queue: `seeds` is materialized), and no earlier than now. Existing ids are skipped (`ON CONFLICT (workflow_uuid) DO NOTHING`); a held
/// deduplication id still fails the statement. Inputs are written for the inserted rows only.
/// Returns the ids inserted.
pub(crate) const ENQUEUE_WORKFLOWS: &str = concat!(
    "WITH batch AS (
    SELECT * FROM UNNEST(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::int4[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
        $15::text[], $16::text[], $17::int8[], $18::int8[], $19::int8[], $20::text[],
        $21::text[], $22::text[], $23::text[], $24::text[], $25::boolean[], $26::int8[],
        $27::text[], $28::text[]
    ) WITH ORDINALITY AS b(
        workflow_uuid, status, name, class_name, config_name, queue_name, deduplication_id,
        priority, queue_partition_key, authenticated_user, assumed_role, authenticated_roles,
        executor_id, application_version, application_id, application_name,
        workflow_timeout_ms, workflow_deadline_epoch_ms, delay_until_epoch_ms,
        parent_workflow_id, serialization, attributes, creator_xid, inputs, is_debounced,
        debounce_deadline_epoch_ms, forked_from, schedule_name, ord)
), queues AS (
    SELECT DISTINCT b.queue_name FROM batch b
), seeds AS MATERIALIZED (
    SELECT g.queue_name,
        GREATEST(",
    now_ms!(),
    ", 1 + GREATEST(",
    newest_created!("ENQUEUED"),
    ", ",
    newest_created!("PENDING"),
    ")) AS first_created_at
    FROM queues g
), numbered AS (
    SELECT b.*, s.first_created_at - 1
        + row_number() OVER (PARTITION BY b.queue_name ORDER BY b.ord) AS created_at
    FROM batch b
    JOIN seeds s ON s.queue_name = b.queue_name
), inserted AS (
    INSERT INTO {schema}.workflow_status (
        workflow_uuid, status, name, class_name, config_name, queue_name, deduplication_id,
        priority, queue_partition_key, authenticated_user, assumed_role, authenticated_roles,
        executor_id, application_version, application_id, application_name, created_at,
        updated_at, recovery_attempts, workflow_timeout_ms, workflow_deadline_epoch_ms,
        delay_until_epoch_ms, parent_workflow_id, serialization, attributes, creator_xid,
        is_debounced, debounce_deadline_epoch_ms, forked_from, schedule_name)
    SELECT n.workflow_uuid, n.status, n.name, n.class_name, n.config_name, n.queue_name,
        n.deduplication_id, n.priority, n.queue_partition_key, n.authenticated_user,
        n.assumed_role, n.authenticated_roles, n.executor_id, n.application_version,
        n.application_id, n.application_name, n.created_at, ",
    now_ms!(),
    ", 0, n.workflow_timeout_ms, n.workflow_deadline_epoch_ms, n.delay_until_epoch_ms,
        n.parent_workflow_id, n.serialization, n.attributes::jsonb, n.creator_xid,
        n.is_debounced, n.debounce_deadline_epoch_ms, n.forked_from, n.schedule_name
    FROM numbered n
    ORDER BY n.ord
    ON CONFLICT (workflow_uuid) DO NOTHING
    RETURNING workflow_uuid
), written AS (
    INSERT INTO {schema}.workflow_input (workflow_uuid, inputs, retention_timestamp)
    SELECT b.workflow_uuid, b.inputs, ",
    now_ms!(),
    "
    FROM batch b JOIN inserted i ON i.workflow_uuid = b.workflow_uuid
    ON CONFLICT (workflow_uuid) DO NOTHING
)
SELECT workflow_uuid FROM inserted"
);

// language=SQL
/// Releases every `DELAYED` workflow whose release time has passed, of application `$1` or
/// unclaimed (NULL = every application): `ENQUEUED`, and a debounced one gives up its
/// deduplication id (so a new debounce can start). `updated_at` is left alone, as DBOS does.
/// Returns the ids released.
///
/// Safe when several sweeps run at once: the due rows are locked `FOR UPDATE SKIP LOCKED`, so a
/// sweep never waits for another's rows (nor deadlocks with it, as two plain `UPDATE`s locking
/// rows in different orders could) and each row is released by exactly one sweep; a row
/// another transaction holds is left for the next sweep.
pub(crate) const RELEASE_DELAYED: &str = concat!(
    "WITH due AS (
    SELECT d.workflow_uuid FROM {schema}.workflow_status d
    WHERE d.status = 'DELAYED' AND d.delay_until_epoch_ms <= ",
    now_ms!(),
    "
      AND ",
    app_scope!("d", "$1"),
    "
    FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.workflow_status ws
SET status = 'ENQUEUED',
    deduplication_id = CASE WHEN ws.is_debounced THEN NULL ELSE ws.deduplication_id END
FROM due
WHERE ws.workflow_uuid = due.workflow_uuid AND (ws.status = 'DELAYED') IS TRUE
RETURNING ws.workflow_uuid"
);

// language=SQL
/// Sets the release time (`$2`) of a `DELAYED` workflow (`$1`); returns a row when it was
/// `DELAYED`.
pub(crate) const SET_WORKFLOW_DELAY: &str = concat!(
    "UPDATE {schema}.workflow_status SET delay_until_epoch_ms = $2, updated_at = ",
    now_ms!(),
    "
WHERE workflow_uuid = $1 AND status = 'DELAYED'
RETURNING workflow_uuid"
);

// language=SQL
/// Pushes back a debounced workflow: the `DELAYED`, debounced row of function `$1` on queue
/// `$2` holding deduplication id `$3`, of application `$6` or unclaimed. Its release time
/// becomes `$4` capped at its debounce deadline, its serialization label `$5`, its inputs `$7`,
/// and it is claimed for `$6` (an owned row keeps its owner). `$8` class and `$9` config name,
/// when not NULL, must match the row's. Returns the id, or no row.
pub(crate) const DEBOUNCE_WORKFLOW: &str = concat!(
    "WITH updated AS (
    UPDATE {schema}.workflow_status ws
    SET delay_until_epoch_ms = CASE
            WHEN ws.debounce_deadline_epoch_ms IS NULL THEN $4::bigint
            ELSE LEAST($4::bigint, ws.debounce_deadline_epoch_ms)
        END,
        serialization = $5::text,
        updated_at = ",
    now_ms!(),
    ",
        application_name = COALESCE(ws.application_name, $6::text)
    WHERE ws.name = $1 AND ws.queue_name = $2 AND ws.deduplication_id = $3
      AND ws.status = 'DELAYED' AND ws.is_debounced
      AND ($8::text IS NULL OR ws.class_name = $8::text)
      AND ($9::text IS NULL OR ws.config_name = $9::text) AND ",
    app_scope!("ws", "$6"),
    "
    RETURNING ws.workflow_uuid
), written AS (
    INSERT INTO {schema}.workflow_input (workflow_uuid, inputs, retention_timestamp)
    SELECT workflow_uuid, $7::text, ",
    now_ms!(),
    " FROM updated
    ON CONFLICT (workflow_uuid) DO UPDATE
    SET inputs = EXCLUDED.inputs, retention_timestamp = EXCLUDED.retention_timestamp
)
SELECT workflow_uuid FROM updated"
);

// language=SQL
/// The holder of deduplication id `$2` in queue `$1`: id, whether it is debounced, function
/// name, application, status, queue and serialization label.
pub(crate) const SELECT_DEDUP_HOLDER: &str = "\
SELECT workflow_uuid, is_debounced, name, application_name, status, queue_name, serialization
FROM {schema}.workflow_status
WHERE queue_name = $1 AND deduplication_id = $2";

// language=SQL
/// Cancels up to `$1` active workflows whose deadline has passed, oldest deadline first, of
/// application `$2` or unclaimed; rows another sweeper holds are skipped. Returns id and
/// deadline.
pub(crate) const CANCEL_TIMED_OUT: &str = concat!(
    "WITH due AS (
    SELECT d.workflow_uuid FROM {schema}.workflow_status d
    WHERE d.status IN ('ENQUEUED', 'PENDING', 'DELAYED')
      AND d.workflow_deadline_epoch_ms IS NOT NULL
      AND d.workflow_deadline_epoch_ms <= ",
    now_ms!(),
    "
      AND ",
    app_scope!("d", "$2"),
    "
    ORDER BY d.workflow_deadline_epoch_ms, d.workflow_uuid
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.workflow_status ws
SET status = 'CANCELLED', owner_xid = NULL, queue_name = NULL, deduplication_id = NULL,
    started_at_epoch_ms = NULL, updated_at = ",
    now_ms!(),
    ", completed_at = ",
    now_ms!(),
    "
FROM due
WHERE ws.workflow_uuid = due.workflow_uuid
  AND (ws.status IN ('ENQUEUED', 'PENDING', 'DELAYED')) IS TRUE
RETURNING ws.workflow_uuid, ws.workflow_deadline_epoch_ms"
);

// language=SQL
/// The `PENDING` workflows of executor `$1` at version `$2` (NULL = version-less rows), of
/// application `$3` or unclaimed, oldest first.
pub(crate) const SELECT_PENDING_WORKFLOWS: &str = concat!(
    "SELECT ws.workflow_uuid FROM {schema}.workflow_status ws
WHERE ws.status = 'PENDING' AND ws.executor_id = $1
  AND ws.application_version IS NOT DISTINCT FROM $2::text
  AND ",
    app_scope!("ws", "$3"),
    "
ORDER BY ws.created_at, ws.workflow_uuid"
);

// language=SQL
/// Re-enqueues `PENDING` workflows (`$1` text[]) of dead executors (`$2` text[]) on their queue
/// or the internal queue (`$3`). Returns the ids re-enqueued.
pub(crate) const REENQUEUE_FOR_RECOVERY: &str = concat!(
    "UPDATE {schema}.workflow_status
SET status = 'ENQUEUED', owner_xid = NULL, started_at_epoch_ms = NULL,
    queue_name = COALESCE(queue_name, $3::text), updated_at = ",
    now_ms!(),
    "
WHERE workflow_uuid = ANY($1) AND (status = 'PENDING') IS TRUE AND executor_id = ANY($2)
RETURNING workflow_uuid"
);

// language=SQL
/// Dead-letters `PENDING` workflows (`$1` text[]) with at least `$2` recovery attempts.
/// Returns the ids changed.
pub(crate) const DEAD_LETTER_WORKFLOWS: &str = concat!(
    "UPDATE {schema}.workflow_status
SET status = 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', owner_xid = NULL, deduplication_id = NULL,
    started_at_epoch_ms = NULL, queue_name = NULL, updated_at = ",
    now_ms!(),
    ", completed_at = ",
    now_ms!(),
    "
WHERE workflow_uuid = ANY($1) AND (status = 'PENDING') IS TRUE AND recovery_attempts >= $2
RETURNING workflow_uuid"
);

/// The `queues` columns read into a `QueueDefinition`, in the order `read_queue` expects.
macro_rules! queue_columns {
    () => {
        "name, concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec, \
         partition_concurrency, partition_worker_concurrency, partition_rate_limit_max, \
         partition_rate_limit_period_sec, polling_interval_sec, application_name, \
         priority_enabled, partition_queue"
    };
}

// language=SQL
/// The owner of queue `$1`, its row locked until the transaction ends.
pub(crate) const LOCK_QUEUE: &str = "\
SELECT application_name FROM {schema}.queues WHERE name = $1 FOR UPDATE";

// language=SQL
/// Registers a queue unless the name exists. `$1` name, `$2` concurrency, `$3` worker
/// concurrency, `$4` rate-limit max, `$5` rate-limit period (s), `$6` partition concurrency,
/// `$7` partition worker concurrency, `$8` partition rate-limit max, `$9` partition rate-limit
/// period (s), `$10` polling interval (s), `$11` partitioned, `$12` application. Returns a row
/// when it was created.
pub(crate) const INSERT_QUEUE: &str = concat!(
    "INSERT INTO {schema}.queues (
    name, concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec,
    partition_concurrency, partition_worker_concurrency, partition_rate_limit_max,
    partition_rate_limit_period_sec, polling_interval_sec, partition_queue, application_name,
    priority_enabled, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, TRUE, ",
    now_ms!(),
    ", ",
    now_ms!(),
    ")
ON CONFLICT (name) DO NOTHING
RETURNING name"
);

// language=SQL
/// Replaces the definition of queue `$1` (parameters as [`INSERT_QUEUE`]); the owner is kept,
/// or set to `$12` when the queue is unclaimed. Returns the new definition.
pub(crate) const UPDATE_QUEUE: &str = concat!(
    "UPDATE {schema}.queues
SET concurrency = $2, worker_concurrency = $3, rate_limit_max = $4, rate_limit_period_sec = $5,
    partition_concurrency = $6, partition_worker_concurrency = $7,
    partition_rate_limit_max = $8, partition_rate_limit_period_sec = $9,
    polling_interval_sec = $10, partition_queue = $11,
    application_name = COALESCE(application_name, $12::text), priority_enabled = TRUE,
    updated_at = ",
    now_ms!(),
    "
WHERE name = $1
RETURNING ",
    queue_columns!()
);

// language=SQL
/// A queue definition by name (`$1`).
pub(crate) const SELECT_QUEUE: &str = concat!(
    "SELECT ",
    queue_columns!(),
    " FROM {schema}.queues WHERE name = $1"
);

// language=SQL
/// A queue definition by name (`$1`), its row locked until the transaction ends.
pub(crate) const LOCK_QUEUE_DEFINITION: &str = concat!(
    "SELECT ",
    queue_columns!(),
    " FROM {schema}.queues WHERE name = $1 FOR UPDATE"
);

// language=SQL
/// The queue definitions of application `$1` or unclaimed, by name.
pub(crate) const LIST_QUEUES: &str = concat!(
    "SELECT ",
    queue_columns!(),
    " FROM {schema}.queues q WHERE ",
    app_scope!("q", "$1"),
    " ORDER BY name"
);

// language=SQL
/// Deletes queue `$1`; returns a row when it existed.
pub(crate) const DELETE_QUEUE: &str = "\
DELETE FROM {schema}.queues WHERE name = $1 RETURNING name";

pub(crate) use app_scope;
