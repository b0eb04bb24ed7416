//! [`ScheduleStore`] on PostgreSQL: named cron schedules in `workflow_schedules`.

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::{
    schedules::{owned_by_another_application, validate_schedule_lookup},
    Schedule, ScheduleFilter, ScheduleStatus,
};
use dbos_storage_core::{validate, Error, Result, ScheduleStore};
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Transaction};

use super::{col, PostgresStore, Queries};
use crate::error::{classify, with_backend};

/// Reads a `Schedule` from a row of `schedule_columns!`.
fn read_schedule(row: &Row) -> Result<Schedule> {
    let mut s = Schedule::new(
        col::<String>(row, 1)?,
        col::<String>(row, 2)?,
        col::<String>(row, 4)?,
        col::<String>(row, 6)?,
    );
    s.schedule_id = col(row, 0)?;
    s.workflow_class_name = col(row, 3)?;
    s.status = ScheduleStatus::parse(&col::<String>(row, 5)?);
    s.last_fired_at = col(row, 7)?;
    s.automatic_backfill = col(row, 8)?;
    s.cron_timezone = col(row, 9)?;
    s.queue_name = col(row, 10)?;
    s.application_name = col(row, 11)?;
    Ok(s)
}

/// Runs `statement` with the columns of `s` as `$1`…`$12`; returns the rows it returned.
async fn write_schedule(tx: &Transaction<'_>, statement: &str, s: &Schedule) -> Result<Vec<Row>> {
    let status = s.status.as_str();
    let params: [&(dyn ToSql + Sync); 12] = [
        &s.schedule_id,
        &s.schedule_name,
        &s.workflow_name,
        &s.workflow_class_name,
        &s.schedule,
        &status,
        &s.context,
        &s.last_fired_at,
        &s.automatic_backfill,
        &s.cron_timezone,
        &s.queue_name,
        &s.application_name,
    ];
    tx.query(statement, &params).await.map_err(classify)
}

/// The owner of the schedule named like `s` (`Some(None)`: unclaimed), its row locked.
async fn existing_owner(
    tx: &Transaction<'_>,
    q: &Queries,
    name: &str,
) -> Result<Option<Option<String>>> {
    let row = tx
        .query_opt(q.lock_schedule_owner.as_str(), &[&name])
        .await
        .map_err(classify)?;
    row.map(|r| col(&r, 0)).transpose()
}

/// Fails when a schedule id is used by another schedule.
async fn ensure_id_free(tx: &Transaction<'_>, q: &Queries, s: &Schedule) -> Result<()> {
    let used = tx
        .query_opt(q.schedule_id_exists.as_str(), &[&s.schedule_id])
        .await
        .map_err(classify)?;
    match used {
        Some(_) => Err(with_backend(Error::conflict(format!(
            "schedule id {} already exists",
            s.schedule_id
        )))),
        None => Ok(()),
    }
}

/// The error of a schedule name that exists: it names the owner when another application has
/// it.
fn name_taken(name: &str, existing: Option<String>, new: Option<&str>) -> Error {
    with_backend(match existing {
        Some(owner) if Some(owner.as_str()) != new => owned_by_another_application(name, &owner),
        _ => Error::conflict(format!("schedule {name} already exists")),
    })
}

/// Creates `schedule` in `tx`; its name and id must be free.
pub(super) async fn create_schedule_tx(
    tx: &Transaction<'_>,
    q: &Queries,
    schedule: &Schedule,
) -> Result<()> {
    let name = schedule.schedule_name.as_str();
    if let Some(owner) = existing_owner(tx, q, name).await? {
        return Err(name_taken(
            name,
            owner,
            schedule.application_name.as_deref(),
        ));
    }
    ensure_id_free(tx, q, schedule).await?;
    let created = write_schedule(tx, &q.insert_schedule, schedule).await?;
    if created.is_empty() {
        // Created concurrently after the checks above.
        return Err(with_backend(Error::conflict(format!(
            "schedule {name} already exists"
        ))));
    }
    Ok(())
}

/// Sets one column of schedule `name` with `statement` on `client` (a connection or a
/// transaction); returns whether it exists.
pub(super) async fn set_schedule_column_on<C: GenericClient + Sync>(
    client: &C,
    statement: &str,
    name: &str,
    value: &str,
) -> Result<bool> {
    let row = client
        .query_opt(statement, &[&name, &value])
        .await
        .map_err(classify)?;
    Ok(row.is_some())
}

/// Deletes schedule `name` on `client`; returns whether it existed.
pub(super) async fn delete_schedule_on<C: GenericClient + Sync>(
    client: &C,
    q: &Queries,
    name: &str,
) -> Result<bool> {
    let row = client
        .query_opt(q.delete_schedule.as_str(), &[&name])
        .await
        .map_err(classify)?;
    Ok(row.is_some())
}

impl PostgresStore {
    /// Runs one-row update `statement` of schedule `name` with `value` as `$2`; returns whether
    /// the schedule exists.
    async fn update_schedule(&self, statement: &str, name: &str, value: &str) -> Result<bool> {
        let client = self.client().await?;
        set_schedule_column_on(&**client, statement, name, value).await
    }
}

#[async_trait]
impl ScheduleStore for PostgresStore {
    async fn create_schedule(&self, schedule: Schedule) -> Result<()> {
        schedule.validate()?;
        self.write(move |tx, q| {
            Box::pin(async move { create_schedule_tx(tx, &q, &schedule).await })
        })
        .await
    }

    async fn upsert_schedules(&self, schedules: Vec<Schedule>) -> Result<()> {
        let mut names = HashSet::new();
        for s in &schedules {
            s.validate()?;
            if !names.insert(s.schedule_name.as_str()) {
                return Err(Error::invalid_input(format!(
                    "schedule {} appears twice in one batch",
                    s.schedule_name
                )));
            }
        }
        if schedules.is_empty() {
            return self.ensure_open();
        }
        self.write(move |tx, q| {
            Box::pin(async move {
                for s in &schedules {
                    let name = s.schedule_name.as_str();
                    match existing_owner(tx, &q, name).await? {
                        Some(Some(owner)) => {
                            if let Some(new) = &s.application_name {
                                if *new != owner {
                                    return Err(with_backend(owned_by_another_application(
                                        name, &owner,
                                    )));
                                }
                            }
                        }
                        Some(None) => {}
                        None => ensure_id_free(tx, &q, s).await?,
                    }
                    write_schedule(tx, &q.upsert_schedule, s).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn list_schedules(&self, filter: ScheduleFilter) -> Result<Vec<Schedule>> {
        filter.validate()?;
        let status = filter.status.as_ref().map(ScheduleStatus::as_str);
        let client = self.client().await?;
        let rows = client
            .query(
                self.queries().list_schedules.as_str(),
                &[
                    &status,
                    &filter.workflow_name,
                    &filter.name_prefix,
                    &filter.application_name,
                ],
            )
            .await
            .map_err(classify)?;
        rows.iter().map(read_schedule).collect()
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>> {
        validate_schedule_lookup(name)?;
        let client = self.client().await?;
        let row = client
            .query_opt(self.queries().select_schedule.as_str(), &[&name])
            .await
            .map_err(classify)?;
        row.as_ref().map(read_schedule).transpose()
    }

    async fn pause_schedule(&self, name: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        let statement = self.queries().set_schedule_status.as_str();
        self.update_schedule(statement, name, ScheduleStatus::Paused.as_str())
            .await
    }

    async fn resume_schedule(&self, name: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        let statement = self.queries().set_schedule_status.as_str();
        self.update_schedule(statement, name, ScheduleStatus::Active.as_str())
            .await
    }

    async fn record_schedule_fired(&self, name: &str, fired_at: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        validate::name("schedule last_fired_at", fired_at)?;
        let statement = self.queries().set_schedule_fired.as_str();
        self.update_schedule(statement, name, fired_at).await
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        let client = self.client().await?;
        delete_schedule_on(&**client, self.queries(), name).await
    }
}
