-- Migration 23 (online): the forked_from index covers forks only.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflow_status_forked_from
    ON {schema}.workflow_status (forked_from) WHERE forked_from IS NOT NULL;
