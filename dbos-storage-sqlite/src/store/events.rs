//! [`EventStore`] on SQLite: events set in one write transaction with their history row, read
//! through the shared wait of [`dbos_storage_driver_kit::wait::messaging`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use dbos_storage_core::{events::SET_EVENT_STEP, messages::validate_key};
use dbos_storage_core::{
    validate, AwaitOptions, Caller, EventStore, GetEventRequest, Payload, Result, SetEventOutcome,
    StepRecord,
};
use dbos_storage_driver_kit::wait::messaging::{self as waits, wake_after_commit};
use dbos_storage_driver_kit::wait::{EventWaits, WakeChannel};
use rusqlite::{params, OptionalExtension, Transaction};

use super::steps::{check_caller, insert_call_step, CallerState};
use super::Cached;
use super::{now_ms, read_payload, SqliteStore};
use crate::error::classify;
use crate::sql::messaging as q;

/// The body of `set_event`, in one write transaction; returns whether it was a replay.
fn set_event_tx(tx: &Transaction<'_>, caller: &Caller, key: &str, value: &Payload) -> Result<bool> {
    let what = format!("set event {key:?} at step {}", caller.function_id);
    let application_name = match check_caller(tx, caller, SET_EVENT_STEP, &what)? {
        CallerState::Replay(_) => return Ok(true),
        CallerState::Fresh { application_name } => application_name,
    };
    let label = value.label();
    tx.execute_cached(
        q::UPSERT_EVENT,
        params![caller.workflow_id, key, value.text, label],
    )
    .map_err(classify)?;
    tx.execute_cached(
        q::UPSERT_EVENT_HISTORY,
        params![
            caller.workflow_id,
            caller.function_id,
            key,
            value.text,
            label
        ],
    )
    .map_err(classify)?;
    if caller.records_step() {
        let now = now_ms(tx)?;
        let step = StepRecord::with_outcome(
            &caller.workflow_id,
            caller.function_id,
            SET_EVENT_STEP,
            None,
        )
        .with_times(Some(now), now);
        insert_call_step(tx, &step, application_name.as_deref(), now)?;
    }
    Ok(false)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn set_event(
        &self,
        caller: Caller,
        key: &str,
        value: Payload,
    ) -> Result<SetEventOutcome> {
        caller.validate()?;
        validate_key("event key", key)?;
        value.validate("event value")?;
        let workflow_id = caller.workflow_id.clone();
        let key = key.to_owned();
        let written_key = key.clone();
        let replayed = self
            .conns()
            .write(move |tx| set_event_tx(tx, &caller, &key, &value))
            .await?;
        if !replayed {
            wake_after_commit(
                self.waiters(),
                WakeChannel::Events,
                &workflow_id,
                &written_key,
            );
        }
        Ok(SetEventOutcome::new(replayed))
    }

    async fn get_event(
        &self,
        request: GetEventRequest,
        options: AwaitOptions,
    ) -> Result<Option<Payload>> {
        waits::get_event(self, self.wait_context(), request, &options).await
    }

    async fn get_all_events(&self, workflow_id: &str) -> Result<BTreeMap<String, Payload>> {
        validate::workflow_id(workflow_id)?;
        let id = workflow_id.to_owned();
        self.conns()
            .read(move |tx| {
                let mut stmt = tx.prepare_cached(q::SELECT_ALL_EVENTS).map_err(classify)?;
                let rows = stmt
                    .query_map([id], |r| {
                        Ok((r.get::<_, String>(0)?, read_payload(r, 1, 2)?))
                    })
                    .map_err(classify)?;
                rows.map(|r| r.map_err(classify)).collect()
            })
            .await
    }
}

#[async_trait]
impl EventWaits for SqliteStore {
    async fn read_event(&self, workflow_id: &str, key: &str) -> Result<Option<Payload>> {
        let id = workflow_id.to_owned();
        let key = key.to_owned();
        self.conns()
            .read(move |tx| {
                tx.query_row_cached(q::SELECT_EVENT, params![id, key], |r| read_payload(r, 0, 1))
                    .optional()
                    .map_err(classify)
            })
            .await
    }
}
