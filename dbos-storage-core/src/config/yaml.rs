//! Reading a `dbos-config.yaml` into a [`DbosConfig`]: this crate's keys, and DBOS Python 3.4's
//! whole file format (its `database` section read, its runtime sections accepted and ignored).
//! Messages name keys, never values, which may hold a substituted password.

use std::path::Path;
use std::time::Duration;

use serde_norway::{Mapping, Value};

use super::variables::{self, Substituted};
use super::{DbosConfig, UnsetVariables};
use crate::error::{Error, Result};

/// This crate's top-level keys, each a [`DbosConfig`] field of the same name
/// (`sys_db_polling_concurrency` and `sys_db_idle_transaction_timeout` are set only through
/// DBOS's `database` section).
const OUR_KEYS: &[&str] = &[
    "name",
    "system_database_url",
    "application_database_url",
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "pool_pre_ping",
    "connect_timeout",
    "application_name",
    "options",
    "echo",
    "sys_db_pool_size",
    "dbos_system_schema",
    "use_listen_notify",
    "run_migrations",
    "executor_id",
    "application_version",
];

/// DBOS's top-level keys that are not also ours: `database_url` (the application database) and
/// `database` are read, the others configure the DBOS runtime and are ignored.
const DBOS_KEYS: &[(&str, Dbos)] = &[
    ("database_url", Dbos::Read),
    ("database", Dbos::Read),
    ("language", Dbos::Ignored),
    ("runtimeConfig", Dbos::Section(RUNTIME_CONFIG)),
    ("telemetry", Dbos::Section(TELEMETRY)),
    ("env", Dbos::Ignored),
    ("sharding", Dbos::Ignored),
];

/// The keys of `database`. The pool settings are read; `migrate` lists the application's own
/// migration commands (run by DBOS Cloud and `dbos migrate`), `sys_db_engine_kwargs` is derived
/// by DBOS itself, and `app_db_name` is deprecated.
const DATABASE: &[(&str, Dbos)] = &[
    ("sys_db_pool_size", Dbos::Read),
    ("sys_db_polling_concurrency", Dbos::Read),
    ("sys_db_idle_transaction_timeout_sec", Dbos::Read),
    ("db_engine_kwargs", Dbos::Read),
    ("migrate", Dbos::Ignored),
    ("sys_db_engine_kwargs", Dbos::Ignored),
    ("app_db_name", Dbos::Ignored),
];

/// The keys of `runtimeConfig`: how DBOS Cloud starts the application, and runtime tuning.
const RUNTIME_CONFIG: &[(&str, Dbos)] = &[
    ("start", Dbos::Ignored),
    ("setup", Dbos::Ignored),
    ("admin_port", Dbos::Ignored),
    ("run_admin_server", Dbos::Ignored),
    ("max_executor_threads", Dbos::Ignored),
    ("notification_listener_polling_interval_sec", Dbos::Ignored),
    ("notification_coalesce_sec", Dbos::Ignored),
    ("scheduler_polling_interval_sec", Dbos::Ignored),
    ("kafka_queue_polling_interval_sec", Dbos::Ignored),
];

/// The keys of `telemetry`.
const TELEMETRY: &[(&str, Dbos)] = &[
    ("logs", Dbos::Section(TELEMETRY_LOGS)),
    ("OTLPExporter", Dbos::Section(TELEMETRY_OTLP)),
    ("otlp_attributes", Dbos::Ignored),
    ("disable_otlp", Dbos::Ignored),
    ("otel_attribute_format", Dbos::Ignored),
];

/// The keys of `telemetry.logs`.
const TELEMETRY_LOGS: &[(&str, Dbos)] = &[
    ("logLevel", Dbos::Ignored),
    ("consoleLogLevel", Dbos::Ignored),
    ("otlpLogLevel", Dbos::Ignored),
];

/// The keys of `telemetry.OTLPExporter`.
const TELEMETRY_OTLP: &[(&str, Dbos)] = &[
    ("logsEndpoint", Dbos::Ignored),
    ("tracesEndpoint", Dbos::Ignored),
];

/// What this crate does with a key of DBOS's file format.
#[derive(Debug, Clone, Copy)]
enum Dbos {
    /// Read into the configuration.
    Read,
    /// Accepted with any value (a whole subtree for open mappings such as `env`), and ignored.
    Ignored,
    /// A mapping whose keys are listed; each one is ignored.
    Section(&'static [(&'static str, Dbos)]),
}

/// Where Docker mounts secrets, which `${DOCKER_SECRET:NAME}` reads, as in DBOS.
const DOCKER_SECRETS_DIR: &str = "/run/secrets";

/// Loads a configuration from YAML text, looking `${VAR}` up with `lookup` and
/// `${DOCKER_SECRET:NAME}` in `/run/secrets`.
pub(super) fn load(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<DbosConfig> {
    load_with_secrets(text, lookup, Path::new(DOCKER_SECRETS_DIR))
}

/// As [`load`], reading Docker secrets in `secrets_dir`.
fn load_with_secrets(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    secrets_dir: &Path,
) -> Result<DbosConfig> {
    let lookup = |var: &str| match var.strip_prefix(variables::DOCKER_SECRET) {
        // As in DBOS: the file's content without surrounding whitespace; a missing file reads
        // as empty.
        Some(name) => std::fs::read_to_string(secrets_dir.join(name))
            .ok()
            .map(|secret| secret.trim().to_owned()),
        None => env(var),
    };
    let lookup: &dyn Fn(&str) -> Option<String> = &lookup;
    let Substituted {
        text: substituted,
        empty,
    } = variables::substitute(text, lookup)?;
    let document = parse(&substituted)?;
    for var in &empty {
        tracing::warn!(
            variable = %var,
            "the config file uses ${{{var}}}, which is not set or empty: it reads as an empty \
             value, as in DBOS"
        );
    }
    let mut reader = Reader {
        config: DbosConfig::new(String::new()),
        set_by: Vec::new(),
        uses_empty: if empty.is_empty() {
            Vec::new()
        } else {
            keys_using_empty_variables(text, lookup)
        },
    };
    reader.top(document)?;
    Ok(reader.config)
}

/// Parses YAML, reporting a syntax error by line and column only.
fn parse(text: &str) -> Result<Value> {
    serde_norway::from_str(text).map_err(|e| {
        let at = match e.location() {
            Some(loc) => format!(" at line {}, column {}", loc.line(), loc.column()),
            None => String::new(),
        };
        Error::invalid_config(format!("the config file is not valid YAML{at}"))
    })
}

/// Each key path whose value used unset or empty variables, with those variables.
fn keys_using_empty_variables(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, Vec<String>)> {
    let Ok(document) = variables::mark_empty(text, lookup).and_then(|t| parse(&t)) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    collect_marked(&document, "", &mut found);
    found
}

fn collect_marked(value: &Value, path: &str, found: &mut Vec<(String, Vec<String>)>) {
    match value {
        Value::String(s) => {
            let vars = variables::variables_in(s);
            if !vars.is_empty() {
                found.push((path.to_owned(), vars));
            }
        }
        Value::Mapping(map) => {
            for (key, value) in map {
                if let Value::String(key) = key {
                    collect_marked(value, &join(path, key), found);
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                collect_marked(item, path, found);
            }
        }
        _ => {}
    }
}

/// The state of one load.
struct Reader {
    config: DbosConfig,
    /// Which key set each field, to refuse a field set twice under different keys.
    set_by: Vec<(&'static str, String)>,
    /// Key paths whose values used unset or empty variables.
    uses_empty: Vec<(String, Vec<String>)>,
}

impl Reader {
    fn top(&mut self, document: Value) -> Result<()> {
        let map = match document {
            Value::Mapping(map) => map,
            Value::Null => {
                return Err(Error::invalid_config(
                    "the config file is empty: it must at least set name",
                ));
            }
            _ => {
                return Err(Error::invalid_config(
                    "the config file must be a mapping of keys to values (name: my-app, …)",
                ));
            }
        };
        for (key, value) in entries(map, "")? {
            let known = OUR_KEYS.contains(&key.as_str()) || find(DBOS_KEYS, &key).is_some();
            if known && is_unset(&value) {
                continue;
            }
            match key.as_str() {
                "name" => self.name(&key, value)?,
                "system_database_url" => {
                    self.claim("system_database_url", &key)?;
                    let url = optional_string(&key, value)?;
                    self.remember_empty_variables("system_database_url", &key, url.as_deref());
                    self.config.system_database_url = url;
                }
                "application_database_url" | "database_url" => {
                    self.claim("application_database_url", &key)?;
                    let url = optional_string(&key, value)?;
                    self.remember_empty_variables("application_database_url", &key, url.as_deref());
                    self.config.application_database_url = url;
                }
                "pool_size" | "max_overflow" | "pool_timeout" | "pool_pre_ping" | "echo"
                | "connect_timeout" | "application_name" | "options" => {
                    self.engine_setting(&key, &key, value)?;
                }
                "sys_db_pool_size" => self.sys_db_pool_size(&key, &value)?,
                "dbos_system_schema" => {
                    self.claim("dbos_system_schema", &key)?;
                    if let Some(schema) = optional_string(&key, value)? {
                        self.config.dbos_system_schema = schema;
                    }
                }
                "use_listen_notify" => {
                    self.claim("use_listen_notify", &key)?;
                    self.config.use_listen_notify = boolean(&key, &value)?;
                }
                "run_migrations" => {
                    self.claim("run_migrations", &key)?;
                    self.config.run_migrations = boolean(&key, &value)?;
                }
                "executor_id" => {
                    self.claim("executor_id", &key)?;
                    if let Some(id) = optional_string(&key, value)? {
                        self.config.executor_id = id;
                    }
                }
                "application_version" => {
                    self.claim("application_version", &key)?;
                    self.config.application_version = optional_string(&key, value)?;
                }
                "database" => self.database(value)?,
                _ => match find(DBOS_KEYS, &key) {
                    Some(rule) => ignore(rule, &key, &value)?,
                    None => {
                        let dbos: Vec<&str> = DBOS_KEYS.iter().map(|(k, _)| *k).collect();
                        return Err(Error::invalid_config(format!(
                            "unknown key {key:?} in the config file; the keys are {}, and DBOS's \
                             {}",
                            OUR_KEYS.join(", "),
                            dbos.join(", ")
                        )));
                    }
                },
            }
        }
        if self.config.name.is_empty() {
            let message = match self.empty_variables_of("name") {
                Some(vars) => format!(
                    "the config file's name is empty: it is set from {}",
                    describe_variables(vars)
                ),
                None => "the config file must set name (the application name)".to_owned(),
            };
            return Err(Error::invalid_config(message));
        }
        Ok(())
    }

    fn name(&mut self, key: &str, value: Value) -> Result<()> {
        self.claim("name", key)?;
        self.config.name = string(key, value)?;
        self.remember_empty_variables("name", key, Some(&self.config.name.clone()));
        Ok(())
    }

    /// The `database` section.
    fn database(&mut self, value: Value) -> Result<()> {
        let Some(map) = mapping("database", value)? else {
            return Ok(());
        };
        for (key, value) in entries(map, "database")? {
            let path = join("database", &key);
            match key.as_str() {
                _ if is_unset(&value) && find(DATABASE, &key).is_some() => {}
                "sys_db_pool_size" => self.sys_db_pool_size(&path, &value)?,
                "sys_db_polling_concurrency" => {
                    // As in DBOS, zero or less lifts the limit.
                    let reads = value.as_i64().ok_or_else(|| {
                        Error::invalid_config(format!("config key {path} must be a whole number"))
                    })?;
                    self.config.sys_db_polling_concurrency =
                        Some(u32::try_from(reads.max(0)).unwrap_or(u32::MAX));
                }
                "sys_db_idle_transaction_timeout_sec" => {
                    // As in DBOS, zero or less sets no limit.
                    let secs = value.as_f64().filter(|s| s.is_finite()).ok_or_else(|| {
                        Error::invalid_config(format!(
                            "config key {path} must be a finite number of seconds (0 or less: \
                             no limit)"
                        ))
                    })?;
                    self.config.sys_db_idle_transaction_timeout =
                        Some(Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX));
                }
                "db_engine_kwargs" => self.engine_kwargs(&path, value)?,
                _ => match find(DATABASE, &key) {
                    Some(rule) => ignore(rule, &path, &value)?,
                    None => return Err(unknown_key(&path, "database", DATABASE)),
                },
            }
        }
        Ok(())
    }

    /// `database.db_engine_kwargs`, SQLAlchemy's `create_engine` arguments: the pool settings,
    /// `echo` and `connect_args` are read; SQLAlchemy's many other arguments are ignored.
    fn engine_kwargs(&mut self, path: &str, value: Value) -> Result<()> {
        let Some(map) = mapping(path, value)? else {
            return Ok(());
        };
        for (key, value) in entries(map, path)? {
            let key_path = join(path, &key);
            match key.as_str() {
                _ if is_unset(&value) => {}
                "pool_size" | "max_overflow" | "pool_timeout" | "pool_pre_ping" | "echo" => {
                    self.engine_setting(&key, &key_path, value)?;
                }
                "connect_args" => self.connect_args(&key_path, value)?,
                _ => ignore(Dbos::Ignored, &key_path, &value)?,
            }
        }
        Ok(())
    }

    /// `database.db_engine_kwargs.connect_args`, the database driver's connection arguments:
    /// `connect_timeout`, `application_name` and `options` are read, the others ignored.
    fn connect_args(&mut self, path: &str, value: Value) -> Result<()> {
        let Some(map) = mapping(path, value)? else {
            return Ok(());
        };
        for (key, value) in entries(map, path)? {
            let key_path = join(path, &key);
            match key.as_str() {
                _ if is_unset(&value) => {}
                "connect_timeout" | "application_name" | "options" => {
                    self.engine_setting(&key, &key_path, value)?;
                }
                _ => ignore(Dbos::Ignored, &key_path, &value)?,
            }
        }
        Ok(())
    }

    /// A pool or connection setting, named `field`, found at `path`.
    fn engine_setting(&mut self, field: &str, path: &str, value: Value) -> Result<()> {
        let c = &mut self.config;
        let field = match field {
            "pool_size" => {
                c.pool_size = whole_number(path, &value)?;
                "pool_size"
            }
            "max_overflow" => {
                c.max_overflow = whole_number(path, &value)?;
                "max_overflow"
            }
            "pool_timeout" => {
                c.pool_timeout = seconds(path, &value)?;
                "pool_timeout"
            }
            "pool_pre_ping" => {
                c.pool_pre_ping = boolean(path, &value)?;
                "pool_pre_ping"
            }
            "echo" => {
                c.echo = boolean(path, &value)?;
                "echo"
            }
            "connect_timeout" => {
                c.connect_timeout = seconds(path, &value)?;
                "connect_timeout"
            }
            "application_name" => {
                if let Some(name) = optional_string(path, value)? {
                    c.application_name = name;
                }
                "application_name"
            }
            _ => {
                c.options = optional_string(path, value)?;
                "options"
            }
        };
        self.claim(field, path)
    }

    fn sys_db_pool_size(&mut self, path: &str, value: &Value) -> Result<()> {
        self.claim("sys_db_pool_size", path)?;
        self.config.sys_db_pool_size = Some(whole_number(path, value)?);
        Ok(())
    }

    /// Records that `path` sets `field`, refusing a second key for the same field.
    fn claim(&mut self, field: &'static str, path: &str) -> Result<()> {
        if let Some((_, earlier)) = self.set_by.iter().find(|(f, _)| *f == field) {
            return Err(Error::invalid_config(format!(
                "the config file sets {field} twice, with {earlier} and {path}: keep one"
            )));
        }
        self.set_by.push((field, path.to_owned()));
        Ok(())
    }

    fn empty_variables_of(&self, path: &str) -> Option<&[String]> {
        self.uses_empty
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, vars)| vars.as_slice())
    }

    /// Keeps, for messages about `field`, the unset variables its value at `path` used.
    fn remember_empty_variables(&mut self, field: &'static str, path: &str, value: Option<&str>) {
        if let Some(vars) = self.empty_variables_of(path) {
            let record = UnsetVariables {
                field,
                key: path.to_owned(),
                variables: vars.to_vec(),
                value: value.unwrap_or_default().to_owned(),
            };
            self.config.unset_variables.push(record);
        }
    }
}

/// `${A}` or `${A} and ${B}`, "which is not set or empty" / "which are not set or empty".
pub(super) fn describe_variables(vars: &[String]) -> String {
    let names: Vec<String> = vars.iter().map(|v| format!("${{{v}}}")).collect();
    let verb = if names.len() == 1 { "is" } else { "are" };
    format!("{}, which {verb} not set or empty", names.join(" and "))
}

/// Accepts a key DBOS defines and this crate ignores, checking the keys of a section.
fn ignore(rule: Dbos, path: &str, value: &Value) -> Result<()> {
    match rule {
        Dbos::Read | Dbos::Ignored => {
            tracing::debug!(key = %path, "config key of DBOS's runtime accepted and ignored");
            Ok(())
        }
        Dbos::Section(keys) => {
            let Some(map) = mapping(path, value.clone())? else {
                return Ok(());
            };
            for (key, value) in entries(map, path)? {
                let key_path = join(path, &key);
                match find(keys, &key) {
                    Some(rule) => ignore(rule, &key_path, &value)?,
                    None => return Err(unknown_key(&key_path, path, keys)),
                }
            }
            Ok(())
        }
    }
}

fn find(keys: &[(&str, Dbos)], key: &str) -> Option<Dbos> {
    keys.iter().find(|(k, _)| *k == key).map(|(_, rule)| *rule)
}

fn unknown_key(path: &str, section: &str, keys: &[(&str, Dbos)]) -> Error {
    let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    Error::invalid_config(format!(
        "unknown key {path:?} in the config file; the keys of {section} are {}",
        names.join(", ")
    ))
}

/// `section.key`, or `key` at the top.
fn join(section: &str, key: &str) -> String {
    if section.is_empty() {
        key.to_owned()
    } else {
        format!("{section}.{key}")
    }
}

/// The entries of a mapping, whose keys must be strings.
fn entries(map: Mapping, section: &str) -> Result<Vec<(String, Value)>> {
    map.into_iter()
        .map(|(key, value)| match key {
            Value::String(key) => Ok((key, value)),
            _ if section.is_empty() => Err(Error::invalid_config(
                "the config file has a key that is not a string",
            )),
            _ => Err(Error::invalid_config(format!(
                "the config file has a key in {section} that is not a string"
            ))),
        })
        .collect()
}

/// A value left empty (null, as an unset `${VAR}` reads), which keeps the default.
fn is_unset(value: &Value) -> bool {
    matches!(value, Value::Null)
}

/// A section's mapping; `None` for an empty section.
fn mapping(path: &str, value: Value) -> Result<Option<Mapping>> {
    match value {
        Value::Mapping(map) => Ok(Some(map)),
        Value::Null => Ok(None),
        _ => Err(Error::invalid_config(format!(
            "config key {path} must be a mapping of keys to values"
        ))),
    }
}

fn string(key: &str, value: Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(Error::invalid_config(format!(
            "config key {key} must be a string (quote the value if YAML reads it as a number or \
             boolean, e.g. {key}: \"1.0\")"
        ))),
    }
}

/// A string where empty means "not set", as in DBOS.
fn optional_string(key: &str, value: Value) -> Result<Option<String>> {
    let s = string(key, value)?;
    Ok(if s.trim().is_empty() { None } else { Some(s) })
}

fn whole_number(key: &str, value: &Value) -> Result<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            Error::invalid_config(format!(
                "config key {key} must be a whole number from 0 to {}",
                u32::MAX
            ))
        })
}

fn boolean(key: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| Error::invalid_config(format!("config key {key} must be true or false")))
}

fn seconds(key: &str, value: &Value) -> Result<Duration> {
    value
        .as_f64()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| {
            Error::invalid_config(format!(
                "config key {key} must be a number of seconds, zero or more (e.g. {key}: 30 or \
                 {key}: 2.5)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_secrets_are_read_from_their_directory() {
        let dir = std::env::temp_dir().join(format!("dbos-secrets-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("db_password"), "hunter2\n").unwrap_or_else(|e| panic!("{e}"));
        let text = "name: app\nsystem_database_url: \
                    postgresql://u:${DOCKER_SECRET:db_password}@h/${DOCKER_SECRET:db_name}\n";
        let c = load_with_secrets(text, &|_| None, &dir).unwrap_or_else(|e| panic!("{e}"));
        let e = match c.validate() {
            Ok(()) => panic!("a URL without a database validated"),
            Err(e) => e,
        };
        // The secret was read; the missing one reads as empty, and the error names it.
        assert!(
            e.message().ends_with(
                "(the config file's system_database_url uses ${DOCKER_SECRET:db_name}, which is \
                 not set or empty)"
            ),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let c = load_with_secrets(
            "name: app\nsystem_database_url: postgresql://u:${DOCKER_SECRET:db_password}@h/db\n",
            &|_| None,
            &dir,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let url = c.system_database_url().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.password(), Some("hunter2"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
