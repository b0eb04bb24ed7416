//! The comparison of two schema descriptions, for the drivers' schema tests: each driver
//! flattens its description (read from the catalog, or the reference kept in its tests) into
//! `object path → value` and [`differences`] lists what differs, one line per object.

use std::collections::BTreeMap;

/// Every difference between `expected` and `actual` (each `object path → value`), one line
/// each, naming the object and both values; empty when they match.
pub fn differences(
    expected: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => out.push(format!("missing {path}: {want}")),
            Some(got) if got != want => {
                out.push(format!(
                    "{path}:\n      expected {want}\n      found    {got}"
                ));
            }
            Some(_) => {}
        }
    }
    for (path, got) in actual {
        if !expected.contains_key(path) {
            out.push(format!("extra {path}: {got}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_changed_and_extra_objects_are_named() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let expected = map(&[("index a", "1"), ("index b", "2")]);
        let actual = map(&[("index b", "3"), ("index c", "4")]);
        assert_eq!(
            differences(&expected, &actual),
            [
                "missing index a: 1",
                "index b:\n      expected 2\n      found    3",
                "extra index c: 4",
            ]
        );
        assert!(differences(&expected, &expected).is_empty());
    }
}
