//! [`ScheduleStore`] of [`MemoryStore`]: the `workflow_schedules` table, keyed by its unique
//! `schedule_name` (its primary key `schedule_id` is unique too).

use std::collections::HashSet;

use async_trait::async_trait;
use dbos_storage_core::schedules::validate_schedule_lookup;
use dbos_storage_core::ScheduleStore;
use dbos_storage_core::{validate, Error, Result, Schedule, ScheduleFilter, ScheduleStatus};

use super::{ours, MemoryStore, State};

/// Schedule names are global: `name` belongs to application `owner`, and no other may take or
/// change it.
fn owned_by_another_application(name: &str, owner: &str) -> Error {
    Error::conflict(format!(
        "schedule {name} is application {owner}'s; another application cannot take its name"
    ))
}

/// Whether `schedule` passes every filter of `filter` that is set: its status, its workflow,
/// a literal name prefix, and an application (whose schedules, and unclaimed ones, pass).
fn passes(filter: &ScheduleFilter, schedule: &Schedule) -> bool {
    let status = filter.status.as_ref().is_none_or(|s| *s == schedule.status);
    let workflow = filter
        .workflow_name
        .as_ref()
        .is_none_or(|w| *w == schedule.workflow_name);
    let prefix = filter
        .name_prefix
        .as_ref()
        .is_none_or(|p| schedule.schedule_name.starts_with(p.as_str()));
    let application = match (&filter.application_name, &schedule.application_name) {
        (Some(wanted), Some(owner)) => wanted == owner,
        _ => true,
    };
    status && workflow && prefix && application
}

impl State {
    /// Deletes the schedule `name`; returns whether it existed.
    pub(super) fn delete_schedule(&mut self, name: &str) -> bool {
        self.schedules.remove(name).is_some()
    }

    /// Creates `schedule`, whose name and id must be free.
    pub(super) fn create_schedule(&mut self, schedule: Schedule) -> Result<()> {
        let name = &schedule.schedule_name;
        if let Some(existing) = self.schedules.get(name) {
            return Err(ours(match &existing.application_name {
                Some(owner) if schedule.application_name.as_ref() != Some(owner) => {
                    owned_by_another_application(name, owner)
                }
                _ => Error::conflict(format!("schedule {name} already exists")),
            }));
        }
        if let Some(e) = self.schedule_conflict(&schedule) {
            return Err(ours(e));
        }
        self.schedules.insert(name.clone(), schedule);
        Ok(())
    }

    /// The conflict of writing `schedule` over the stored schedules, if any: its name owned by
    /// another application, or (for a new name) its id taken.
    fn schedule_conflict(&self, schedule: &Schedule) -> Option<Error> {
        let name = &schedule.schedule_name;
        if let Some(existing) = self.schedules.get(name) {
            return match (&existing.application_name, &schedule.application_name) {
                (Some(owner), Some(new)) if owner != new => {
                    Some(owned_by_another_application(name, owner))
                }
                _ => None,
            };
        }
        self.schedules
            .values()
            .any(|s| s.schedule_id == schedule.schedule_id)
            .then(|| {
                Error::conflict(format!(
                    "schedule id {} is already used by another schedule",
                    schedule.schedule_id
                ))
            })
    }

    /// Sets a schedule's status; returns whether it exists.
    pub(super) fn set_schedule_status(&mut self, name: &str, status: ScheduleStatus) -> bool {
        match self.schedules.get_mut(name) {
            Some(s) => {
                s.status = status;
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl ScheduleStore for MemoryStore {
    async fn create_schedule(&self, schedule: Schedule) -> Result<()> {
        schedule.validate()?;
        self.write(|state| state.create_schedule(schedule))
    }

    async fn upsert_schedules(&self, schedules: Vec<Schedule>) -> Result<()> {
        let mut names = HashSet::new();
        for s in &schedules {
            s.validate()?;
            if !names.insert(s.schedule_name.as_str()) {
                return Err(Error::invalid_input(format!(
                    "schedule {} appears twice in one upsert",
                    s.schedule_name
                )));
            }
        }
        self.write(|state| {
            if let Some(e) = schedules.iter().find_map(|s| state.schedule_conflict(s)) {
                return Err(ours(e));
            }
            for new in schedules {
                let Some(existing) = state.schedules.get_mut(&new.schedule_name) else {
                    state.schedules.insert(new.schedule_name.clone(), new);
                    continue;
                };
                // The definition changes; id, status and last firing stay.
                existing.workflow_name = new.workflow_name;
                existing.workflow_class_name = new.workflow_class_name;
                existing.schedule = new.schedule;
                existing.context = new.context;
                existing.automatic_backfill = new.automatic_backfill;
                existing.cron_timezone = new.cron_timezone;
                existing.queue_name = new.queue_name;
                if existing.application_name.is_none() {
                    existing.application_name = new.application_name;
                }
            }
            Ok(())
        })
    }

    async fn list_schedules(&self, filter: ScheduleFilter) -> Result<Vec<Schedule>> {
        filter.validate()?;
        let state = self.open()?;
        Ok(state
            .schedules
            .values()
            .filter(|s| passes(&filter, s))
            .cloned()
            .collect())
    }

    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>> {
        validate_schedule_lookup(name)?;
        Ok(self.open()?.schedules.get(name).cloned())
    }

    async fn pause_schedule(&self, name: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        self.write(|state| Ok(state.set_schedule_status(name, ScheduleStatus::Paused)))
    }

    async fn resume_schedule(&self, name: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        self.write(|state| Ok(state.set_schedule_status(name, ScheduleStatus::Active)))
    }

    async fn record_schedule_fired(&self, name: &str, fired_at: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        validate::name("schedule last_fired_at", fired_at)?;
        self.write(|state| match state.schedules.get_mut(name) {
            Some(s) => {
                s.last_fired_at = Some(fired_at.to_owned());
                Ok(true)
            }
            None => Ok(false),
        })
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        validate_schedule_lookup(name)?;
        self.write(|state| Ok(state.delete_schedule(name)))
    }
}
