//! `${VAR}` substitution in a config file, as DBOS does it: an unset variable reads as an empty
//! value, and the keys whose values referenced one are remembered for error messages.
//! `${DOCKER_SECRET:NAME}` reaches the caller's lookup as `DOCKER_SECRET:NAME`.

use crate::error::{Error, Result};

/// A config file after substitution.
pub(super) struct Substituted {
    /// The text with every `${VAR}` replaced.
    pub(super) text: String,
    /// The variables referenced but unset or empty, in order of first use, without repeats.
    pub(super) empty: Vec<String>,
}

/// Replaces `${VAR}` with the variable's value (an unset variable with the empty string, as
/// DBOS does) and `$${` with a literal `${`. Lines that are only a comment are copied as they
/// are.
///
/// # Errors
/// [`crate::error::ErrorKind::InvalidConfig`] for an unterminated `${` or a reference that is
/// not a variable name.
pub(super) fn substitute(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Substituted> {
    let mut empty = Vec::new();
    let text = replace(text, &mut |var| {
        let value = lookup(var).unwrap_or_default();
        if value.is_empty() && !empty.iter().any(|v| v == var) {
            empty.push(var.to_owned());
        }
        value
    })?;
    Ok(Substituted { text, empty })
}

/// The text with each unset or empty variable replaced by a marker that names it, so that the
/// parsed document shows which keys used which variables (see [`variables_in`]).
pub(super) fn mark_empty(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    replace(text, &mut |var| match lookup(var) {
        Some(value) if !value.is_empty() => value,
        _ => format!("{MARKER_START}{var}{MARKER_END}"),
    })
}

/// The variables whose markers (from [`mark_empty`]) appear in `value`.
pub(super) fn variables_in(value: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(MARKER_START) {
        let after = &rest[start + MARKER_START.len()..];
        let Some(end) = after.find(MARKER_END) else {
            break;
        };
        found.push(after[..end].to_owned());
        rest = &after[end + MARKER_END.len()..];
    }
    found
}

/// The text around a variable's name in [`mark_empty`]'s output: plain characters, so that the
/// marked text parses as the same YAML structure. The end is a character no reference can hold
/// (names are letters, digits, `_`, and for Docker secrets `:`, `-` and `.`), so a name with
/// `__` in it, or ending in `_`, is read back whole.
const MARKER_START: &str = "__dbos_storage_unset_";
const MARKER_END: &str = "~";

/// The prefix of a Docker secret reference, `${DOCKER_SECRET:NAME}`, as DBOS writes it.
pub(super) const DOCKER_SECRET: &str = "DOCKER_SECRET:";

/// Whether `var` is a variable name (letters, digits and `_`, not starting with a digit), or a
/// Docker secret reference whose name is letters, digits, `_`, `-` and `.`, not starting with
/// `.`.
fn is_reference(var: &str) -> bool {
    match var.strip_prefix(DOCKER_SECRET) {
        Some(name) => {
            !name.is_empty()
                && !name.starts_with('.')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        }
        None => {
            var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
    }
}

/// Replaces every `${VAR}` with `value(VAR)` and `$${` with `${`, line by line, leaving lines
/// that are only a comment alone.
fn replace(text: &str, value: &mut dyn FnMut(&str) -> String) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let line_no = index + 1;
        let mut rest = line;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${") {
                let Some(close) = after.find('}') else {
                    return Err(Error::invalid_config(format!(
                        "unterminated ${{ on line {line_no} of the config file: write ${{VAR}}, \
                         or $${{ for a literal ${{"
                    )));
                };
                let var = &after[..close];
                if !is_reference(var) {
                    return Err(Error::invalid_config(format!(
                        "invalid environment variable reference ${{{var}}} on line {line_no} of \
                         the config file: use letters, digits and _, or DOCKER_SECRET:name (or $${{ for a \
                         literal ${{)"
                    )));
                }
                out.push_str(&value(var));
                rest = &after[close + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(var: &str) -> Option<String> {
        match var {
            "SET" => Some("value".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn unset_and_empty_variables_read_as_empty() {
        let s = substitute(
            "a: ${SET}\nb: x${UNSET}y\nc: ${EMPTY}\nd: ${UNSET}\n",
            &lookup,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.text, "a: value\nb: xy\nc: \nd: \n");
        assert_eq!(s.empty, ["UNSET", "EMPTY"]);
    }

    #[test]
    fn marked_variables_are_read_back_whole() {
        let marked = mark_empty(
            "a: ${DB__HOST}:${DB_}/${SET}-${DOCKER_SECRET:x.y}\n",
            &lookup,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            variables_in(&marked),
            ["DB__HOST", "DB_", "DOCKER_SECRET:x.y"]
        );
        assert!(marked.contains("/value-"), "{marked}");
    }

    #[test]
    fn docker_secret_references_reach_the_lookup() {
        let s = substitute("a: ${DOCKER_SECRET:db-pass.txt}\n", &|var: &str| {
            Some(format!("<{var}>"))
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.text, "a: <DOCKER_SECRET:db-pass.txt>\n");
        for bad in [
            "${DOCKER_SECRET:}",
            "${DOCKER_SECRET:../x}",
            "${DOCKER_SECRET:.x}",
        ] {
            let e = match substitute(bad, &lookup) {
                Ok(_) => panic!("{bad} was accepted"),
                Err(e) => e,
            };
            assert!(
                e.message()
                    .contains("invalid environment variable reference"),
                "{e}"
            );
        }
    }

    #[test]
    fn markers_name_the_variables() {
        let marked = mark_empty("b: x${UNSET}y${EMPTY}\na: ${SET}\n", &lookup)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(marked.ends_with("a: value\n"), "{marked}");
        assert_eq!(variables_in(&marked), ["UNSET", "EMPTY"]);
        assert!(variables_in("plain text").is_empty());
    }
}
