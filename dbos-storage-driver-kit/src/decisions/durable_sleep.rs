//! Durable sleeps: how the wake time is recorded as the output of step
//! [`SLEEP_STEP`], and read back on a replay.

use super::step_checkpoints::ensure_same_step;
use dbos_storage_core::{EpochMs, Error, Payload, Result, SLEEP_STEP};

/// The output a sleep records: its wake time in epoch seconds as a JSON number with a decimal
/// point, under `portable_json`, as DBOS Python writes it (`1795459448.222`). The digits are
/// written from the integer milliseconds, so every wake time, however far away, reads back
/// exactly.
pub fn encode_wake_time(wake_at_epoch_ms: EpochMs) -> Payload {
    let sign = if wake_at_epoch_ms < 0 { "-" } else { "" };
    let ms = wake_at_epoch_ms.unsigned_abs();
    let fraction = format!("{:03}", ms % 1000);
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() { "0" } else { fraction };
    Payload::portable_json(format!("{sign}{}.{fraction}", ms / 1000))
}

/// The wake time (epoch ms) a sleep recorded as its output: a JSON number (or numeric string).
/// A number written with a decimal point or an exponent is epoch seconds (DBOS Python writes a
/// float); an integer is epoch milliseconds when it is at least 1e11 (other SDKs write
/// `Date.now()`-style integers; 1e11 seconds is the year 5138), else epoch seconds. Times beyond
/// the range of [`EpochMs`] saturate. `None` when the text holds no finite number.
pub fn decode_wake_time(output: &str) -> Option<EpochMs> {
    let text = output.trim();
    let number = match serde_json::from_str::<serde_json::Value>(text).ok()? {
        serde_json::Value::Number(_) => text.to_owned(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    if number.contains(['e', 'E']) {
        let seconds = number.parse::<f64>().ok().filter(|f| f.is_finite())?;
        return Some(saturating_ms((seconds * 1000.0).round()));
    }
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(&number)),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole)
        || !fraction.is_none_or(all_digits)
        || (whole.is_empty() && fraction.is_none_or(str::is_empty))
    {
        return None;
    }
    let whole_value = if whole.is_empty() {
        0
    } else {
        whole.parse::<u128>().unwrap_or(u128::MAX)
    };
    let ms = match fraction {
        None if whole_value >= 100_000_000_000 => whole_value,
        None => whole_value * 1000,
        Some(fraction) => {
            let mut first_four = fraction.bytes().chain(std::iter::repeat(b'0')).take(4);
            let mut milli = 0u128;
            for digit in first_four.by_ref().take(3) {
                milli = milli * 10 + u128::from(digit - b'0');
            }
            let round_up = first_four.next().is_some_and(|d| d >= b'5');
            whole_value
                .saturating_mul(1000)
                .saturating_add(milli + u128::from(round_up))
        }
    };
    let signed = if negative {
        -(ms.min(i128::MAX as u128) as i128)
    } else {
        ms.min(i128::MAX as u128) as i128
    };
    Some(EpochMs::try_from(signed).unwrap_or(if negative { EpochMs::MIN } else { EpochMs::MAX }))
}

/// `ms` (a finite float of milliseconds) as an [`EpochMs`], saturating at the type's range.
fn saturating_ms(ms: f64) -> EpochMs {
    // A float-to-integer `as` cast saturates at the bounds.
    ms as EpochMs
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
        assert_eq!(encode_wake_time(1_795_459_448_220).text, "1795459448.22");
        assert_eq!(encode_wake_time(-1_500).text, "-1.5");
        assert_eq!(
            decode_wake_time("1795459448.2220385"),
            Some(1_795_459_448_222)
        );
    }

    #[test]
    fn wake_times_past_the_year_5138_round_trip() {
        for ms in [
            100_000_000_000_452,
            126_230_400_000_001,
            EpochMs::MAX,
            EpochMs::MIN,
            -1_500,
            0,
        ] {
            assert_eq!(
                decode_wake_time(&encode_wake_time(ms).text),
                Some(ms),
                "{}",
                encode_wake_time(ms).text
            );
        }
        assert_eq!(
            decode_wake_time("1.2623040000000001e14"),
            Some(126_230_400_000_000_016)
        );
        assert_eq!(decode_wake_time("1e300"), Some(EpochMs::MAX));
        assert_eq!(
            decode_wake_time("99999999999999999999999.5"),
            Some(EpochMs::MAX)
        );
        assert_eq!(decode_wake_time("\"12.\""), Some(12_000));
        assert_eq!(decode_wake_time("\".\""), None);
        assert_eq!(decode_wake_time("\"1.2.3\""), None);
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
