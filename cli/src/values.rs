//! Value parsers of the options clap checks itself, so a bad value is a usage error (exit code
//! 2) that names the option: durations, cron expressions and time zones.

use std::time::Duration;

/// A duration: a number with a unit, or several (`30d`, `12h`, `90m`, `500ms`, `1h 30m`,
/// `1.5h`, `2days`; units `ms`, `s`, `m`, `h`, `d`, `w` and their long spellings).
pub(crate) fn age(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e}; use a number with a unit, e.g. 30d, 12h, 90m, 500ms or 1h30m"))
}

/// A cron expression DBOS accepts (5 fields, or 6 with seconds first), kept as written.
pub(crate) fn cron_expression(text: &str) -> Result<String, String> {
    dbos_storage::validate_cron_expression(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.message().to_owned())
}

/// A time zone of the IANA database (`Europe/Paris`).
pub(crate) fn time_zone(text: &str) -> Result<String, String> {
    dbos_storage::validate_time_zone(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.message().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_units_and_refuse_the_rest() {
        assert_eq!(age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(age("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(age("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(age("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(age("2days"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(age("1.5h"), Ok(Duration::from_secs(5_400)));
        for bad in ["", "5", "d", "3 lightyears", "-1s", "99999999999999999999d"] {
            let e = age(bad).unwrap_err();
            assert!(e.contains("use a number with a unit"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn cron_and_zones_keep_the_text_or_say_what_is_wrong() {
        assert_eq!(cron_expression("0 3 * * *").as_deref(), Ok("0 3 * * *"));
        let e = cron_expression("99 * * * *").unwrap_err();
        assert!(e.contains("minute field: 99"), "{e}");
        assert_eq!(time_zone("Europe/Paris").as_deref(), Ok("Europe/Paris"));
        let e = time_zone("Mars/Olympus").unwrap_err();
        assert!(e.contains("not in the IANA time zone database"), "{e}");
    }
}
