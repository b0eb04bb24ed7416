#!/bin/sh
# The PostgreSQL server's own cost of the owner-fenced step checkpoint, without any Rust client:
# pgbench runs, with one client and prepared statements, the store's checkpoint statement
# (INSERT … SELECT … FROM workflow_status … FOR NO KEY UPDATE, as the driver's RECORD_STEP) and
# the bench's raw baseline (a single-row INSERT into a copy of operation_outputs), alternating
# for ROUNDS rounds of SECONDS each, and prints each side's median rate and their ratio.
#
# Usage: bench/pgbench-checkpoint/run.sh URL [ROUNDS] [SECONDS]
#   URL: a database the script may create two schemas in (pgbench_ckpt, pgbench_ckpt_raw);
#        it drops them at the end. Needs psql, pgbench and a release build of the command
#        (cargo build --release -p dbos-storage-cli) for the migration.
set -eu
url=$1
rounds=${2:-4}
seconds=${3:-15}
here=$(cd "$(dirname "$0")" && pwd)
command="$here/../../target/release/dbos-storage"
work=$(mktemp -d)
trap 'rm -rf "$work"; psql -q "$url" -c "DROP SCHEMA IF EXISTS pgbench_ckpt CASCADE; DROP SCHEMA IF EXISTS pgbench_ckpt_raw CASCADE" >/dev/null 2>&1 || true' EXIT

"$command" --quiet --url "$url" --schema pgbench_ckpt migrate >/dev/null
psql -q -v ON_ERROR_STOP=1 "$url" >/dev/null <<'SQL'
CREATE SCHEMA pgbench_ckpt_raw;
CREATE TABLE pgbench_ckpt_raw.operation_outputs (LIKE pgbench_ckpt.operation_outputs INCLUDING ALL);
CREATE SEQUENCE pgbench_ckpt_raw.step;
INSERT INTO pgbench_ckpt.workflow_status (workflow_uuid, status, name, executor_id,
    application_version, created_at, updated_at, recovery_attempts, owner_xid)
VALUES ('w1', 'PENDING', 'bench_workflow', 'bench', 'bench', 1, 1, 1, 'token');
SQL

# The raw baseline: the bench's single-row step insert.
cat >"$work/raw.sql" <<'SQL'
INSERT INTO pgbench_ckpt_raw.operation_outputs (workflow_uuid, function_id, function_name, output, started_at_epoch_ms, completed_at_epoch_ms) VALUES ('w1', nextval('pgbench_ckpt_raw.step')::int, 'bench_step', '"ok"', 1, 1);
SQL
# The store's checkpoint: the owner check and the insert in one statement, the row locked.
cat >"$work/fenced.sql" <<'SQL'
INSERT INTO pgbench_ckpt.operation_outputs (workflow_uuid, function_id, function_name, output, error, child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, serialization, application_name, retention_timestamp) SELECT ws.workflow_uuid, nextval('pgbench_ckpt_raw.step')::int, 'bench_step', '"ok"', NULL, NULL, 1, 1, 'json', ws.application_name, (EXTRACT(epoch FROM now()) * 1000)::bigint FROM pgbench_ckpt.workflow_status ws WHERE ws.workflow_uuid = 'w1' AND ws.owner_xid = 'token' FOR NO KEY UPDATE;
SQL

for round in $(seq 1 "$rounds"); do
    for side in raw fenced; do
        tps=$(pgbench -n -M prepared -c 1 -T "$seconds" -f "$work/$side.sql" "$url" 2>/dev/null |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        echo "$side $tps" >>"$work/rates"
        echo "round $round: $side $tps statements/s"
    done
done
median() { grep "^$1 " "$work/rates" | cut -d' ' -f2 | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
raw=$(median raw)
fenced=$(median fenced)
echo "median: raw $raw, fenced $fenced statements/s; fenced / raw = $(echo "$fenced $raw" | awk '{printf "%.2f", $1/$2}')"
