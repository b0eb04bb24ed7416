//! The schedules area: [`ScheduleStore`] and the plain data of named cron schedules
//! (`workflow_schedules`).
//!
//! The store keeps schedules; firing them (cron parsing, backfill, enqueueing
//! `sched-{name}-{iso time}`) is the runtime's job.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::{validate, Error, Result};

/// Whether a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ScheduleStatus {
    /// `ACTIVE`: fires.
    Active,
    /// `PAUSED`: kept but does not fire.
    Paused,
    /// A status written by a newer peer, kept verbatim.
    Other(String),
}

impl ScheduleStatus {
    /// The stored text.
    pub fn as_str(&self) -> &str {
        match self {
            ScheduleStatus::Active => "ACTIVE",
            ScheduleStatus::Paused => "PAUSED",
            ScheduleStatus::Other(s) => s,
        }
    }

    /// Parses the stored text (unknown values are kept).
    pub fn parse(text: &str) -> Self {
        match text {
            "ACTIVE" => ScheduleStatus::Active,
            "PAUSED" => ScheduleStatus::Paused,
            other => ScheduleStatus::Other(other.to_owned()),
        }
    }
}

/// A row of `workflow_schedules`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Schedule {
    /// The id (primary key), supplied by the writer.
    pub schedule_id: String,
    /// The unique name.
    pub schedule_name: String,
    /// The workflow function it starts.
    pub workflow_name: String,
    /// The workflow's class.
    pub workflow_class_name: Option<String>,
    /// The cron expression.
    pub schedule: String,
    /// Whether it fires.
    pub status: ScheduleStatus,
    /// The context passed to each run, serialized by the application.
    pub context: String,
    /// When it last fired: ISO-8601 text in the writer's spelling.
    pub last_fired_at: Option<String>,
    /// Whether missed firings are backfilled.
    pub automatic_backfill: bool,
    /// The IANA time zone of the cron expression.
    pub cron_timezone: Option<String>,
    /// The queue its runs go to (`None`: the internal queue).
    pub queue_name: Option<String>,
    /// The owning application (`None`: unclaimed).
    pub application_name: Option<String>,
}

impl Schedule {
    /// An active schedule with a generated id and no class, zone, queue, owner or history.
    pub fn new(
        schedule_name: impl Into<String>,
        workflow_name: impl Into<String>,
        schedule: impl Into<String>,
        context: impl Into<String>,
    ) -> Self {
        Schedule {
            schedule_id: uuid::Uuid::new_v4().to_string(),
            schedule_name: schedule_name.into(),
            workflow_name: workflow_name.into(),
            workflow_class_name: None,
            schedule: schedule.into(),
            status: ScheduleStatus::Active,
            context: context.into(),
            last_fired_at: None,
            automatic_backfill: false,
            cron_timezone: None,
            queue_name: None,
            application_name: None,
        }
    }

    /// Sets the owner.
    #[must_use]
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Sets the queue.
    #[must_use]
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue_name = Some(queue.into());
        self
    }

    /// Sets the time zone.
    #[must_use]
    pub fn with_timezone(mut self, zone: impl Into<String>) -> Self {
        self.cron_timezone = Some(zone.into());
        self
    }

    /// Sets the class.
    #[must_use]
    pub fn with_class(mut self, class: impl Into<String>) -> Self {
        self.workflow_class_name = Some(class.into());
        self
    }

    /// Sets backfill.
    #[must_use]
    pub fn with_backfill(mut self, yes: bool) -> Self {
        self.automatic_backfill = yes;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the field: an empty id, name,
    /// workflow name or cron expression, a cron expression DBOS would refuse (5 fields, or 6
    /// with seconds first, each in its range: see [`crate::cron`]), a time zone that is not in
    /// the IANA time zone database, or a NUL byte anywhere.
    pub fn validate(&self) -> Result<()> {
        validate::name("schedule id", &self.schedule_id)?;
        validate_schedule_name(&self.schedule_name)?;
        validate::name("workflow name", &self.workflow_name)?;
        validate::name("cron expression", &self.schedule)?;
        crate::cron::validate_cron_expression(&self.schedule)?;
        crate::payload::validate_text("schedule context", &self.context)?;
        for (what, value) in [
            ("workflow class name", &self.workflow_class_name),
            ("schedule last_fired_at", &self.last_fired_at),
            ("cron time zone", &self.cron_timezone),
            ("queue name", &self.queue_name),
            ("application name", &self.application_name),
        ] {
            if let Some(v) = value {
                validate::name(what, v)?;
            }
        }
        if let Some(zone) = &self.cron_timezone {
            crate::cron::validate_time_zone(zone)?;
        }
        if let ScheduleStatus::Other(s) = &self.status {
            validate::name("schedule status", s)?;
        }
        Ok(())
    }
}

/// Checks a schedule name.
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an empty, oversized or NUL-containing
/// name.
pub fn validate_schedule_name(name: &str) -> Result<()> {
    validate::name("schedule name", name)
}

/// Checks the name a schedule is looked up by (get, pause, resume, fire, delete): no NUL byte.
/// No length limit: a schedule another build or SDK stored under a longer name can still be
/// found and managed.
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a name holding a NUL byte.
pub fn validate_schedule_lookup(name: &str) -> Result<()> {
    validate::filter("schedule name", name)
}

/// Filters of [`crate::ScheduleStore::list_schedules`]; every filter is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ScheduleFilter {
    /// Only this status.
    pub status: Option<ScheduleStatus>,
    /// Only schedules of this workflow.
    pub workflow_name: Option<String>,
    /// Names starting with this prefix (`%` and `_` match literally).
    pub name_prefix: Option<String>,
    /// This application's schedules plus unclaimed ones.
    pub application_name: Option<String>,
}

impl ScheduleFilter {
    /// Checks the filters: no NUL byte in any text (no stored value holds one), so that every
    /// backend gives the same answer.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the offending filter.
    pub fn validate(&self) -> Result<()> {
        for (what, value) in [
            ("schedule workflow name filter", &self.workflow_name),
            ("schedule name prefix", &self.name_prefix),
            ("schedule application filter", &self.application_name),
        ] {
            if let Some(value) = value {
                validate::filter(what, value)?;
            }
        }
        Ok(())
    }

    /// No filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only this status.
    #[must_use]
    pub fn status(mut self, status: ScheduleStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only this workflow.
    #[must_use]
    pub fn workflow_name(mut self, name: impl Into<String>) -> Self {
        self.workflow_name = Some(name.into());
        self
    }

    /// Names with this prefix.
    #[must_use]
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = Some(prefix.into());
        self
    }

    /// Scoped to an application.
    #[must_use]
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Whether `schedule` passes the filter (the reference semantics every backend keeps).
    pub fn matches(&self, schedule: &Schedule) -> bool {
        self.status.as_ref().is_none_or(|s| *s == schedule.status)
            && self
                .workflow_name
                .as_ref()
                .is_none_or(|w| *w == schedule.workflow_name)
            && self
                .name_prefix
                .as_ref()
                .is_none_or(|p| schedule.schedule_name.starts_with(p.as_str()))
            && self.application_name.as_ref().is_none_or(|a| {
                schedule.application_name.is_none()
                    || schedule.application_name.as_deref() == Some(a.as_str())
            })
    }
}

/// The error for a schedule name owned by another application.
pub fn owned_by_another_application(name: &str, owner: &str) -> Error {
    Error::conflict(format!(
        "schedule {name} belongs to application {owner}; schedule names are global"
    ))
}

/// Named cron schedules (`workflow_schedules`).
///
/// Schedule names are global: a name owned by another application cannot be created, upserted or
/// changed through a scoped call.
#[async_trait]
pub trait ScheduleStore: Debug + Send + Sync + 'static {
    /// Creates a schedule.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) when the name or id exists already (the message
    /// names the owner when another application has it);
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid schedule.
    ///
    /// # Idempotency
    /// Not idempotent: a re-run fails with `Conflict`.
    async fn create_schedule(&self, schedule: Schedule) -> Result<()>;

    /// Creates or updates schedules by name, all in one transaction. An existing schedule keeps
    /// its id, status and `last_fired_at` and takes the new workflow, class, cron expression,
    /// context, backfill flag, time zone and queue; its owner is kept unless it was unclaimed.
    ///
    /// # Errors
    /// [`Conflict`](crate::ErrorKind::Conflict) when a name belongs to another application;
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for an invalid schedule or a name given
    /// twice. Nothing is written on error.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn upsert_schedules(&self, schedules: Vec<Schedule>) -> Result<()>;

    /// Lists schedules passing `filter` (see [`ScheduleFilter::matches`]), by name.
    async fn list_schedules(&self, filter: ScheduleFilter) -> Result<Vec<Schedule>>;

    /// Reads one schedule by name.
    async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>>;

    /// Sets a schedule's status to `PAUSED`; returns whether the schedule exists.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn pause_schedule(&self, name: &str) -> Result<bool>;

    /// Sets a schedule's status to `ACTIVE`; returns whether the schedule exists.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn resume_schedule(&self, name: &str) -> Result<bool>;

    /// Records when a schedule last fired (ISO-8601 text, stored as given); returns whether the
    /// schedule exists.
    ///
    /// # Errors
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for empty or NUL-containing text.
    ///
    /// # Idempotency
    /// Idempotent.
    async fn record_schedule_fired(&self, name: &str, fired_at: &str) -> Result<bool>;

    /// Deletes a schedule; returns whether it existed.
    ///
    /// # Idempotency
    /// Idempotent (a re-run after an ambiguous commit returns `false`).
    async fn delete_schedule(&self, name: &str) -> Result<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_checked() {
        let s = Schedule::new("nightly", "report", "0 3 * * *", "null");
        assert!(s.validate().is_ok());
        let e = Schedule::new("n", "w", "every day", "null")
            .validate()
            .unwrap_err();
        assert!(e.message().contains("has 2 fields"), "{e}");
        let e = Schedule::new("", "w", "* * * * *", "null")
            .validate()
            .unwrap_err();
        assert!(e.message().contains("schedule name is empty"), "{e}");
        let e = Schedule::new("n", "w", "* * * * *", "a\0")
            .validate()
            .unwrap_err();
        assert!(e.message().contains("NUL"), "{e}");
        let e = Schedule::new("n", "w", "99 * * * *", "null")
            .validate()
            .unwrap_err();
        assert!(
            e.message().contains("minute field: 99 is out of range"),
            "{e}"
        );
        let e = Schedule::new("n", "w", "* * * * *", "null")
            .with_timezone("Mars/Olympus")
            .validate()
            .unwrap_err();
        assert!(
            e.message().contains("\"Mars/Olympus\" is not in the IANA"),
            "{e}"
        );
        assert_eq!(ScheduleStatus::parse("PAUSED"), ScheduleStatus::Paused);
        assert_eq!(ScheduleStatus::parse("X").as_str(), "X");
    }

    #[test]
    fn filters_scope_to_own_and_unclaimed() {
        let own = Schedule::new("a-1", "w", "* * * * *", "c").with_application_name("app");
        let other = Schedule::new("a-2", "w", "* * * * *", "c").with_application_name("x");
        let free = Schedule::new("b-1", "v", "* * * * *", "c");
        let f = ScheduleFilter::new().application_name("app");
        assert!(f.matches(&own) && f.matches(&free) && !f.matches(&other));
        let f = ScheduleFilter::new().name_prefix("a-").workflow_name("w");
        assert!(f.matches(&own) && f.matches(&other) && !f.matches(&free));
    }
}
