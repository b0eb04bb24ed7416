//! [`EventStore`] on PostgreSQL: events with their per-step history, and waits for them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use dbos_storage_core::{events::SET_EVENT_STEP, messages::validate_key};
use dbos_storage_core::{
    validate, AwaitOptions, Caller, EventStore, GetEventRequest, Payload, Result, SetEventOutcome,
};
use dbos_storage_driver_kit::wait::messaging::{self as waits, EventWaits};
use dbos_storage_driver_kit::wait::WakeChannel;

use super::calls::{begin_call, record_call, Call};
use super::{col, now_ms, payload, PostgresStore};
use crate::error::classify;

#[async_trait]
impl EventStore for PostgresStore {
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
        let event_key = key.to_owned();
        let outcome = self
            .write(move |tx, q| {
                Box::pin(async move {
                    let what = format!("set event {event_key:?} at step {}", caller.function_id);
                    let application_name =
                        match begin_call(tx, &q, &caller, SET_EVENT_STEP, &what).await? {
                            Call::Replay(_) => return Ok(SetEventOutcome::new(true)),
                            Call::Run { application_name } => application_name,
                        };
                    tx.execute(
                        q.upsert_event.as_str(),
                        &[
                            &caller.workflow_id,
                            &caller.function_id,
                            &event_key,
                            &value.text,
                            &value.label(),
                        ],
                    )
                    .await
                    .map_err(classify)?;
                    let now = now_ms(tx, &q).await?;
                    record_call(
                        tx,
                        &q,
                        &caller,
                        SET_EVENT_STEP,
                        None,
                        now,
                        application_name.as_deref(),
                    )
                    .await?;
                    Ok(SetEventOutcome::new(false))
                })
            })
            .await?;
        if !outcome.replayed {
            self.signal(WakeChannel::Events, &workflow_id, key);
        }
        Ok(outcome)
    }

    async fn get_event(
        &self,
        request: GetEventRequest,
        options: AwaitOptions,
    ) -> Result<Option<Payload>> {
        self.ensure_open()?;
        let options = self.signalled_wait(&options);
        waits::get_event(self, self.wait_context(), request, &options).await
    }

    async fn get_all_events(&self, workflow_id: &str) -> Result<BTreeMap<String, Payload>> {
        validate::workflow_id(workflow_id)?;
        let client = self.client().await?;
        let rows = client
            .query(self.queries().select_all_events.as_str(), &[&workflow_id])
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|r| Ok((col(r, 0)?, payload(col(r, 1)?, col(r, 2)?))))
            .collect()
    }
}

#[async_trait]
impl EventWaits for PostgresStore {
    async fn read_event(&self, workflow_id: &str, key: &str) -> Result<Option<Payload>> {
        let client = self.client().await?;
        let row = client
            .query_opt(self.queries().select_event.as_str(), &[&workflow_id, &key])
            .await
            .map_err(classify)?;
        row.map(|r| Ok(payload(col(&r, 0)?, col(&r, 1)?)))
            .transpose()
    }
}
