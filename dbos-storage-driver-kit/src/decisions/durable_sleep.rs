//! Durable sleeps: how the wake time is recorded as the output of step
//! [`SLEEP_STEP`], and read back on a replay.

use super::step_checkpoints::ensure_same_step;
use dbos_storage_core::{EpochMs, Error, Payload, Result, SLEEP_STEP};

/// The output a sleep records: its wake time in epoch seconds as a JSON float, under
/// `portable_json`, as DBOS Python writes it (`1795459448.222`).
pub fn encode_wake_time(wake_at_epoch_ms: EpochMs) -> Payload {
    let seconds = wake_at_epoch_ms as f64 / 1000.0;
    let text = serde_json::Number::from_f64(seconds)
        .map_or_else(|| wake_at_epoch_ms.to_string(), |n| n.to_string());
    Payload::portable_json(text)
}

/// The wake time (epoch ms) a sleep recorded as its output: a JSON number (or numeric string) of
/// epoch seconds (DBOS Python) or epoch milliseconds (other SDKs). `None` when the text holds
/// no finite number.
pub fn decode_wake_time(output: &str) -> Option<EpochMs> {
    let value = serde_json::from_str::<serde_json::Value>(output).ok()?;
    let number = match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())?;
    // Anything above 1e11 is milliseconds (1e11 seconds is the year 5138).
    Some(if number.abs() >= 1e11 {
        number.round() as EpochMs
    } else {
        (number * 1000.0).round() as EpochMs
    })
}

/// The wake time of the sleep recorded at step `function_id` of `workflow_id`: the one its
/// `output` holds, else the step's completion time (which is the wake time for `DBOS.sleep`).
///
/// # Errors
/// [`Corrupt`](dbos_storage_core::ErrorKind::Corrupt) when neither holds a wake time.
pub fn recorded_wake_time(
    workflow_id: &str,
    function_id: i32,
    output: Option<&str>,
    completed_at_epoch_ms: Option<EpochMs>,
) -> Result<EpochMs> {
    output
        .and_then(decode_wake_time)
        .or(completed_at_epoch_ms)
        .ok_or_else(|| {
            Error::corrupt(format!(
                "the sleep recorded at step {function_id} of workflow {workflow_id} has no \
                 readable wake time"
            ))
        })
}

/// The wake time a replayed sleep keeps: that of the step recorded at `function_id` (named
/// `recorded_name`, with its `output` and completion time), which must be a sleep.
///
/// # Errors
/// [`UnexpectedStep`](dbos_storage_core::ErrorKind::UnexpectedStep) when another step is recorded there;
/// as [`recorded_wake_time`].
pub fn replayed_wake_time(
    workflow_id: &str,
    function_id: i32,
    recorded_name: &str,
    output: Option<&str>,
    completed_at_epoch_ms: Option<EpochMs>,
) -> Result<EpochMs> {
    ensure_same_step(workflow_id, function_id, SLEEP_STEP, recorded_name)?;
    recorded_wake_time(workflow_id, function_id, output, completed_at_epoch_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbos_storage_core::{ErrorKind, Serialization};

    #[test]
    fn wake_time_round_trips_as_epoch_seconds() {
        let payload = encode_wake_time(1_795_459_448_222);
        assert_eq!(payload.text, "1795459448.222");
        assert_eq!(payload.serialization, Some(Serialization::PortableJson));
        assert_eq!(decode_wake_time(&payload.text), Some(1_795_459_448_222));
        assert_eq!(encode_wake_time(1_795_459_448_000).text, "1795459448.0");
        assert_eq!(
            decode_wake_time("1795459448.2220385"),
            Some(1_795_459_448_222)
        );
    }

    #[test]
    fn wake_time_accepts_milliseconds_and_falls_back_to_completion() {
        assert_eq!(decode_wake_time("1795459448222"), Some(1_795_459_448_222));
        assert_eq!(
            decode_wake_time("\"1795459448.5\""),
            Some(1_795_459_448_500)
        );
        assert_eq!(decode_wake_time("\"soon\""), None);
        assert_eq!(
            recorded_wake_time("w", 1, Some("garbage"), Some(7)).unwrap(),
            7
        );
        let e = recorded_wake_time("w", 1, None, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.message().contains("step 1 of workflow w"), "{e}");
    }

    #[test]
    fn only_a_sleep_replays_as_one() {
        assert_eq!(
            replayed_wake_time("w", 1, SLEEP_STEP, Some("1795459448.222"), None).unwrap(),
            1_795_459_448_222
        );
        let e = replayed_wake_time("w", 1, "fetch", Some("1"), Some(7)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedStep);
        assert!(e.message().contains("\"fetch\""), "{e}");
    }
}
