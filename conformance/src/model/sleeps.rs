//! Durable sleeps of [`MemoryStore`](super::MemoryStore): the wake time a `DBOS.sleep` step
//! records, written as the trait docs say (epoch seconds as a `portable_json` float, as DBOS
//! Python writes it) and read back from what the model wrote or what an SDK wrote.
//!
//! The model does its own decimal arithmetic on the text, so that a wake time in any year (up
//! to the end of [`EpochMs`]) reads back to the millisecond, whichever float a writer chose.

use dbos_storage_core::{EpochMs, Payload};

/// The output of a sleep that wakes at `wake_ms`: epoch seconds with three decimals.
pub(super) fn wake_time_output(wake_ms: EpochMs) -> Payload {
    let sign = if wake_ms < 0 { "-" } else { "" };
    let magnitude = wake_ms.unsigned_abs();
    Payload::portable_json(format!(
        "{sign}{}.{:03}",
        magnitude / 1000,
        magnitude % 1000
    ))
}

/// The wake time (epoch ms) a sleep's `output` holds, if it holds one: a JSON number, or a
/// string of one. The trait docs write epoch seconds (what this model writes, always with a
/// decimal point, and what DBOS Python writes); the design notes add that the Rust SDK writes
/// epoch milliseconds as an integer. JSON cannot tell `5.0` from `5`, so an integer is read
/// the one way both SDKs agree on: milliseconds from `1e11` up (no Python float reaches the
/// year 5138 as a bare integer; no Rust SDK time lies before March 1973), seconds below.
/// Times beyond [`EpochMs`] saturate.
pub(super) fn wake_time_of(output: &str) -> Option<EpochMs> {
    let number = match serde_json::from_str::<serde_json::Value>(output).ok()? {
        // The text itself: a float would round wake times past 2^53 ms.
        serde_json::Value::Number(_) => output.trim().to_owned(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    if number.contains(['e', 'E']) {
        let seconds: f64 = number.parse().ok()?;
        // A float-to-integer cast saturates; NaN is refused by `is_finite`.
        return seconds
            .is_finite()
            .then(|| (seconds * 1000.0).round() as EpochMs);
    }
    let (negative, unsigned) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(&number)),
    };
    let ms = match unsigned.split_once('.') {
        None => match digits(unsigned)? {
            milliseconds @ 100_000_000_000.. => milliseconds,
            seconds => seconds * 1000,
        },
        Some((seconds, fraction)) => {
            if seconds.is_empty() && fraction.is_empty() {
                return None;
            }
            let seconds = if seconds.is_empty() {
                0
            } else {
                digits(seconds)?
            };
            digits(fraction).or(fraction.is_empty().then_some(0))?;
            let padded: Vec<u8> = fraction
                .bytes()
                .chain(std::iter::repeat(b'0'))
                .take(4)
                .collect();
            let millis = padded[..3]
                .iter()
                .fold(0u128, |acc, d| acc * 10 + u128::from(d - b'0'));
            let round_up = u128::from(padded[3] >= b'5');
            seconds
                .saturating_mul(1000)
                .saturating_add(millis + round_up)
        }
    };
    let ms = i128::try_from(ms).unwrap_or(i128::MAX);
    let signed = if negative { -ms } else { ms };
    Some(EpochMs::try_from(signed).unwrap_or(if negative { EpochMs::MIN } else { EpochMs::MAX }))
}

/// The value of a non-empty string of ASCII digits (saturating), else `None`.
fn digits(text: &str) -> Option<u128> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u128::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wake_time_reads_back_to_the_millisecond() {
        for ms in [
            0,
            1,
            -1_500,
            1_795_459_448_222,
            100_000_000_000_452,
            EpochMs::MAX,
            EpochMs::MIN,
        ] {
            let output = wake_time_output(ms);
            assert_eq!(wake_time_of(&output.text), Some(ms), "{}", output.text);
        }
    }

    #[test]
    fn what_sdks_write_reads_as_the_design_notes_say() {
        assert_eq!(wake_time_of("1795459448.2220385"), Some(1_795_459_448_222));
        assert_eq!(wake_time_of("1795459448.2225"), Some(1_795_459_448_223));
        assert_eq!(wake_time_of("1795459448222"), Some(1_795_459_448_222));
        assert_eq!(wake_time_of("1795459448"), Some(1_795_459_448_000));
        assert_eq!(wake_time_of("\"12.5\""), Some(12_500));
        assert_eq!(wake_time_of("1.5e3"), Some(1_500_000));
        assert_eq!(wake_time_of("1e300"), Some(EpochMs::MAX));
        for unreadable in ["\"soon\"", "null", "\".\"", "\"1.2.3\"", "[1]", "not json"] {
            assert_eq!(wake_time_of(unreadable), None, "{unreadable}");
        }
    }
}
