//! The user's application migrations, as [`AppStore::run_migrations`](super::AppStore) reads
//! them: a folder of refinery files named `V{version}__{name}.sql` (or `U…` for undo files).
//!
//! Drivers apply the files with refinery; what does not depend on refinery or the database lives
//! here: checking the folder and its file names, and the errors a run reports. The errors name no
//! backend, so drivers add theirs.

use std::any::Any;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// Checks that `folder` is a readable directory and that every `.sql` file in it (refinery also
/// looks in subfolders) is named `V{version}__{name}.sql` or `U{version}__{name}.sql`, which
/// refinery would otherwise skip with only a log line. Returns the migration files, sorted.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] for an unreadable folder, or naming the first badly named file
/// and the expected pattern.
pub fn check_folder(folder: &Path) -> Result<Vec<PathBuf>> {
    let unreadable = |e: std::io::Error| {
        Error::invalid_input(format!(
            "cannot read the migrations folder {}: {e}",
            folder.display()
        ))
    };
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(stem) = name.strip_suffix(".sql") {
                if !is_migration_stem(stem) {
                    return Err(Error::invalid_input(format!(
                        "migration file {name:?} in folder {} is not named \
                         V{{version}}__{{name}}.sql (for example V1__create_accounts.sql)",
                        folder.display()
                    )));
                }
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `stem` (a file name without `.sql`) names a migration: `V12__name` or `U3__name`, a
/// prefix, a version that fits refinery's `i32`, two underscores and a name of word characters.
pub fn is_migration_stem(stem: &str) -> bool {
    let Some(rest) = stem.strip_prefix(['V', 'U']) else {
        return false;
    };
    let Some((version, name)) = rest.split_once("__") else {
        return false;
    };
    !version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit())
        && version.parse::<i32>().is_ok()
        && !name.is_empty()
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The error of a folder whose files refinery cannot load.
pub fn unloadable(folder: &Path, cause: impl Display) -> Error {
    Error::invalid_input(format!(
        "cannot load migrations from folder {}: {cause}",
        folder.display()
    ))
}

/// Logs the names of the migrations a run applied (when there are any) and returns them.
pub fn applied(folder: &Path, names: Vec<String>) -> Vec<String> {
    if !names.is_empty() {
        let folder = folder.display();
        tracing::info!(applied = ?names, %folder, "applied application migrations");
    }
    names
}

/// The error of a migration that failed in the database: `kind` classifies `cause`, and
/// `failing` names the migration when the driver could tell which one failed.
pub fn failed(kind: ErrorKind, folder: &Path, failing: Option<&str>, cause: impl Display) -> Error {
    let folder = folder.display();
    let message = match failing {
        Some(name) => format!("application migration {name} from {folder} failed: {cause}"),
        None => format!("application migrations from {folder} failed: {cause}"),
    };
    Error::new(kind, message)
}

/// The error of a folder that no longer matches the migrations applied to the database (a
/// changed or missing file).
pub fn diverged(folder: &Path, cause: impl Display) -> Error {
    Error::new(
        ErrorKind::SchemaMismatch,
        format!(
            "the application migrations in {} do not match the ones applied to the database: \
             {cause}",
            folder.display()
        ),
    )
}

/// The error of any other refusal of a run.
pub fn refused(folder: &Path, cause: impl Display) -> Error {
    Error::invalid_input(format!(
        "application migrations from {}: {cause}",
        folder.display()
    ))
}

/// The error of a run that panicked (refinery unwraps in places, e.g. on a history row it cannot
/// parse).
pub fn panicked(folder: &Path, panic: &(dyn Any + Send)) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!(
            "refinery failed on the migrations in {}: {}",
            folder.display(),
            panic_message(panic)
        ),
    )
}

/// The text of a panic payload.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_file_names() {
        assert!(is_migration_stem("V1__accounts"));
        assert!(is_migration_stem("U12__more_tables_2"));
        assert!(!is_migration_stem("V1_accounts"));
        assert!(!is_migration_stem("1__accounts"));
        assert!(!is_migration_stem("V__accounts"));
        assert!(!is_migration_stem("V1.5__accounts"));
        assert!(!is_migration_stem("V1__"));
        assert!(!is_migration_stem("V1__with-dash"));
        assert!(!is_migration_stem("V99999999999__too_big"));
    }

    #[test]
    fn folders_are_listed_and_checked() {
        let dir = std::env::temp_dir().join(format!("dbos-migrations-{}", crate::new_token()));
        std::fs::create_dir_all(dir.join("more")).unwrap();
        std::fs::write(dir.join("V2__b.sql"), "").unwrap();
        std::fs::write(dir.join("more/V1__a.sql"), "").unwrap();
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        let files = check_folder(&dir).unwrap();
        assert_eq!(
            files,
            vec![dir.join("V2__b.sql"), dir.join("more/V1__a.sql")]
        );

        std::fs::write(dir.join("V3_c.sql"), "").unwrap();
        let e = check_folder(&dir).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("\"V3_c.sql\""), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();

        let e = check_folder(&dir).unwrap_err();
        assert!(
            e.message().contains("cannot read the migrations folder"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_folder_and_the_migration() {
        let folder = Path::new("/app/migrations");
        let e = failed(
            ErrorKind::Backend,
            folder,
            Some("V2__broken"),
            "syntax error",
        );
        assert_eq!(
            e.message(),
            "application migration V2__broken from /app/migrations failed: syntax error"
        );
        let e = failed(ErrorKind::Contention, folder, None, "busy");
        assert_eq!(e.kind(), ErrorKind::Contention);
        assert_eq!(
            e.message(),
            "application migrations from /app/migrations failed: busy"
        );
        assert_eq!(diverged(folder, "x").kind(), ErrorKind::SchemaMismatch);
        let e = panicked(folder, &"boom");
        assert!(e.message().ends_with(": boom"), "{e}");
        let e = panicked(folder, &String::from("bang"));
        assert!(e.message().ends_with(": bang"), "{e}");
        let e = panicked(folder, &7_u8);
        assert!(e.message().ends_with("a panic without a message"), "{e}");
    }
}
