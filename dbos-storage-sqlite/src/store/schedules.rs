//! [`ScheduleStore`] on SQLite: `workflow_schedules`, every column stored as given.

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::schedules::{owned_by_another_application, validate_schedule_lookup};
use dbos_storage_core::{
    validate, Error, Result, Schedule, ScheduleFilter, ScheduleStatus, ScheduleStore,
};
use rusqlite::{named_params, params, OptionalExtension, Row, Transaction};

use super::{get_bool, Cached, SqliteStore};
use crate::error::{classify, with_backend};
use crate::sql::schedules as q;

/// Reads a `Schedule` from a row of `schedule_columns!()`.
fn read_schedule(r: &Row<'_>) -> rusqlite::Result<Schedule> {
    let mut s = Schedule::new(
        r.get::<_, String>(1)?,
        r.get::<_, String>(2)?,
        r.get::<_, String>(4)?,
        r.get::<_, String>(6)?,
    );
    s.schedule_id = r.get(0)?;
    s.workflow_class_name = r.get(3)?;
    s.status = ScheduleStatus::parse(&r.get::<_, String>(5)?);
    s.last_fired_at = r.get(7)?;
    s.automatic_backfill = get_bool(r, 8)?;
    s.cron_timezone = r.get(9)?;
    s.queue_name = r.get(10)?;
    s.application_name = r.get(11)?;
    Ok(s)
}

/// Reads a schedule by name.
fn select_schedule(tx: &Transaction<'_>, name: &str) -> Result<Option<Schedule>> {
    tx.query_row_cached(q::SELECT_SCHEDULE, [name], read_schedule)
        .optional()
        .map_err(classify)
}

/// Fails when a schedule id is taken by another schedule.
fn ensure_id_free(tx: &Transaction<'_>, schedule: &Schedule) -> Result<()> {
    let taken: bool = tx
        .query_row_cached(q::SCHEDULE_ID_EXISTS, [&schedule.schedule_id], |r| r.get(0))
        .map_err(classify)?;
    if taken {
        return Err(with_backend(Error::conflict(format!(
            "schedule id {} is already used by another schedule; choose another id for \
             schedule {}",
            schedule.schedule_id, schedule.schedule_name
        ))));
    }
    Ok(())
}

/// Inserts a schedule with every column as given.
fn insert_schedule(tx: &Transaction<'_>, s: &Schedule) -> Result<()> {
    tx.execute_cached(
        q::INSERT_SCHEDULE,
        params![
            s.schedule_id,
            s.schedule_name,
            s.workflow_name,
            s.workflow_class_name,
            s.schedule,
            s.status.as_str(),
            s.context,
            s.last_fired_at,
            s.automatic_backfill,
            s.cron_timezone,
            s.queue_name,
            s.application_name,
        ],
    )
    .map_err(classify)?;
    Ok(())
}

/// Creates or updates one schedule inside the batch's transaction.
fn upsert_one(tx: &Transaction<'_>, s: &Schedule) -> Result<()> {
    let Some(existing) = select_schedule(tx, &s.schedule_name)? else {
        ensure_id_free(tx, s)?;
        return insert_schedule(tx, s);
    };
    if let (Some(owner), Some(caller)) = (&existing.application_name, &s.application_name) {
        if owner != caller {
            return Err(with_backend(owned_by_another_application(
                &s.schedule_name,
                owner,
            )));
        }
    }
    tx.execute_cached(
        q::UPDATE_SCHEDULE_DEFINITION,
        params![
            s.schedule_name,
            s.workflow_name,
            s.workflow_class_name,
            s.schedule,
            s.context,
            s.automatic_backfill,
            s.cron_timezone,
            s.queue_name,
            s.application_name,
        ],
    )
    .map_err(classify)?;
    Ok(())
}

impl SqliteStore {
    /// Runs a one-statement write on a schedule name; returns whether a row changed.
    async fn schedule_write(
        &self,
        statement: &'static str,
        name: &str,
        value: &str,
    ) -> Result<bool> {
        validate_schedule_lookup(name)?;
        let (name, value) = (name.to_owned(), value.to_owned());
        self.conns()
            .write(move |tx| set_schedule_column_tx(tx, statement, &name, &value))
            .await
    }
}

/// Creates `schedule` in `tx`; its name and id must be free.
pub(super) fn create_schedule_tx(tx: &Transaction<'_>, schedule: &Schedule) -> Result<()> {
    if let Some(existing) = select_schedule(tx, &schedule.schedule_name)? {
        if let Some(owner) = &existing.application_name {
            if schedule.application_name.as_ref() != Some(owner) {
                return Err(with_backend(owned_by_another_application(
                    &schedule.schedule_name,
                    owner,
                )));
            }
        }
        return Err(with_backend(Error::conflict(format!(
            "schedule {} already exists",
            schedule.schedule_name
        ))));
    }
    ensure_id_free(tx, schedule)?;
    insert_schedule(tx, schedule)
}

/// Sets one column of schedule `name` with `statement` in `tx`; returns whether it exists.
pub(super) fn set_schedule_column_tx(
    tx: &Transaction<'_>,
    statement: &'static str,
    name: &str,
    value: &str,
) -> Result<bool> {
    let changed = tx
        .execute_cached(statement, params![name, value])
        .map_err(classify)?;
    Ok(changed > 0)
}

/// Deletes schedule `name` in `tx`; returns whether it existed.
pub(super) fn delete_schedule_tx(tx: &Transaction<'_>, name: &str) -> Result<bool> {
    let deleted = tx
        .execute_cached(q::DELETE_SCHEDULE, [name])
        .map_err(classify)?;
    Ok(deleted > 0)
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn create_schedule(&self, schedule: Schedule) -> Result<()> {
        schedule.validate()?;
        self.conns()
            .write(move |tx| create_schedule_tx(tx, &schedule))
            .await
    }

    async fn upsert_schedules(&self, schedules: Vec<Schedule>) -> Result<()> {
        let mut names = HashSet::new();
        for s in &schedules {
            s.validate()?;
            if !names.insert(s.schedule_name.as_str()) {
                return Err(with_backend(Error::invalid_input(format!(
                    "schedule {} appears twice in one batch",
                    s.schedule_name
                ))));
            }
        }
        if schedules.is_empty() {
            return Ok(());
        }
        self.conns()
            .write(move |tx| schedules.iter().try_for_each(|s| upsert_one(tx, s)))
            .await
    }

    async fn list_schedules(&self, filter: ScheduleFilter) -> Result<Vec<Schedule>> {
        filter.validate()?;
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(q::LIST_SCHEDULES).map_err(classify)?;
                let rows = stmt
                    .query_map(
                        named_params! {
                            ":status": filter.status.as_ref().map(ScheduleStatus::as_str),
                            ":workflow_name": filter.workflow_name,
                            ":name_prefix": filter.name_prefix,
                            ":application_name": filter.application_name,
                        },
                        read_schedule,
                    )
                    .map_err(classify)?;
                let mut schedules = Vec::new();
                for s in rows {
                    let s = s.map_err(classify)?;
                    // The statement is the filter; this keeps the reference semantics exact
                    // should SQLite's text comparison ever differ from Rust's.
                    if filter.matches(&s) {
                        schedules.push(s);
                    }
                }
                Ok(schedules)
            })
            .await
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>> {
        validate_schedule_lookup(name)?;
        let name = name.to_owned();
        self.conns()
            .read(move |tx| select_schedule(tx, &name))
            .await
    }

    async fn pause_schedule(&self, name: &str) -> Result<bool> {
        self.schedule_write(
            q::SET_SCHEDULE_STATUS,
            name,
            ScheduleStatus::Paused.as_str(),
        )
        .await
    }

    async fn resume_schedule(&self, name: &str) -> Result<bool> {
        self.schedule_write(
            q::SET_SCHEDULE_STATUS,
            name,
            ScheduleStatus::Active.as_str(),
        )
        .await
    }

    async fn record_schedule_fired(&self, name: &str, fired_at: &str) -> Result<bool> {
        validate::name("schedule last_fired_at", fired_at)?;
        self.schedule_write(q::SET_LAST_FIRED_AT, name, fired_at)
            .await
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        let name = name.to_owned();
        self.conns()
            .write(move |tx| delete_schedule_tx(tx, &name))
            .await
    }
}
