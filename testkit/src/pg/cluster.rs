//! A throwaway PostgreSQL cluster started from the binaries on the machine: `initdb` into a
//! temporary directory, `pg_ctl start` on a free port, and a detached watchdog that stops the
//! server and removes the directory once the test process is gone (however it ended).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::certs;

/// How many ports [`start_server`] tries before giving up (another process may take a free
/// port between the probe and the server's bind).
const START_ATTEMPTS: u32 = 5;

/// Lines of the server log quoted when starting fails.
const LOG_TAIL_LINES: usize = 40;

/// The longest socket directory used; a Unix socket path (directory + `/.s.PGSQL.nnnnn`) must
/// fit in 107 bytes. Longer: the server listens on TCP only.
const MAX_SOCKET_DIR_LEN: usize = 90;

/// A running local cluster. Nothing stops it from Rust: the watchdog does, when the process
/// ends.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// The temporary directory holding everything: `data/`, `sock/`, `tls/`, `server.log`.
    pub(crate) dir: PathBuf,
    /// The TCP port on 127.0.0.1.
    pub(crate) port: u16,
    /// The directory of the Unix socket, unless its path was too long.
    pub(crate) socket_dir: Option<PathBuf>,
    /// The certificates, for a cluster started with TLS.
    pub(crate) tls: Option<TlsFiles>,
    /// The directory of `pg_ctl`.
    bindir: PathBuf,
    /// The account the server runs as (when the tests run as root).
    user: Option<OsUser>,
}

/// How [`start`] sets a cluster up.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// `ssl = on`, with fresh certificates.
    pub(crate) tls: bool,
    /// PostgreSQL's own durability settings (`fsync`, `synchronous_commit` and
    /// `full_page_writes` on) instead of the harness's fast ones: a commit the server
    /// acknowledged survives a crash of the server.
    pub(crate) durable: bool,
}

/// The certificate files of a TLS cluster (in `tls/` under the cluster directory).
#[derive(Debug)]
pub(crate) struct TlsFiles {
    pub(crate) ca_cert: PathBuf,
    pub(crate) other_ca_cert: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) ca_pem: String,
    pub(crate) other_ca_pem: String,
}

/// The unprivileged account that runs `initdb` and the server when the tests run as root
/// (both refuse to run as root).
#[derive(Debug, Clone, Copy)]
struct OsUser {
    uid: u32,
    gid: u32,
}

/// Starts a cluster as `options` say. The error is the complete message to panic with.
pub(crate) fn start(options: Options) -> Result<Cluster, String> {
    let tls = options.tls;
    let bindir = find_bindir(env::var_os("PATH"), &fallback_bindirs())?;
    let user = if effective_uid()? == 0 {
        Some(unprivileged_user()?)
    } else {
        None
    };
    // Under root, the account running the server must reach the directory: /tmp is
    // world-searchable, a root-only TMPDIR may not be.
    let base = if user.is_some() {
        PathBuf::from("/tmp")
    } else {
        env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("dbos-pg-")
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .map_err(|e| {
            format!(
                "cannot create a temporary directory in {}: {e}",
                base.display()
            )
        })?
        .keep();
    // First, so that whatever happens next the directory (and a server) goes away.
    spawn_watchdog(&dir)?;

    let mut socket_dir = Some(dir.join("sock"));
    if dir.join("sock").as_os_str().len() > MAX_SOCKET_DIR_LEN {
        socket_dir = None;
    }
    if let Some(sock) = &socket_dir {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(sock)
            .map_err(|e| format!("cannot create {}: {e}", sock.display()))?;
    }
    let tls = if tls { Some(write_certs(&dir)?) } else { None };
    if let Some(user) = user {
        chown_tree(&dir, user)?;
    }

    initdb(&bindir, &dir, user)?;
    configure(&dir, socket_dir.as_deref(), tls.as_ref(), options.durable)?;
    let port = start_server(&bindir, &dir, user)?;
    Ok(Cluster {
        dir,
        port,
        socket_dir,
        tls,
        bindir,
        user,
    })
}

impl Cluster {
    /// `pg_ctl stop -m immediate`: the postmaster and every backend quit at once, without a
    /// checkpoint, as in a crash; the next start replays the WAL. Returns once the server is
    /// gone.
    pub(crate) fn stop_immediate(&self) -> Result<(), String> {
        let mut command = prepared(
            Command::new(self.bindir.join("pg_ctl")),
            &self.dir,
            self.user,
        );
        command.arg("-D").arg(self.dir.join("data")).args([
            "-m",
            "immediate",
            "-w",
            "-t",
            "60",
            "stop",
        ]);
        let out = run(&mut command, "pg_ctl stop")?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "pg_ctl stop -m immediate failed, {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
        ))
    }

    /// `pg_ctl start` on the cluster's port again (after [`Cluster::stop_immediate`]); waits
    /// until the server accepts connections, crash recovery included.
    pub(crate) fn start_again(&self) -> Result<(), String> {
        let log = self.dir.join("server.log");
        let mut command = prepared(
            Command::new(self.bindir.join("pg_ctl")),
            &self.dir,
            self.user,
        );
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(&log)
            .args([
                "-o",
                &format!("-p {}", self.port),
                "-w",
                "-t",
                "60",
                "start",
            ]);
        let out = run(&mut command, "pg_ctl start")?;
        if out.status.success() {
            return Ok(());
        }
        let log_text = fs::read(&log).unwrap_or_default();
        Err(format!(
            "pg_ctl start on port {} failed, {}:\n{}{}\nlast lines of {}:\n{}",
            self.port,
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
            log.display(),
            tail(&String::from_utf8_lossy(&log_text), LOG_TAIL_LINES),
        ))
    }
}

/// The message when neither the variable nor binaries are there: what to do about it.
pub(crate) fn no_binaries_message(url_env: &str) -> String {
    format!(
        "the PostgreSQL tests need a server, and none is available: {url_env} is not set, and \
         no PostgreSQL server binaries (initdb and pg_ctl) were found on the PATH, in \
         `pg_config --bindir`, or in /usr/lib/postgresql/*/bin.\n\
         Fix it in one of two ways:\n  \
         * install the PostgreSQL server binaries and put their directory on the PATH, e.g. \
         `apt-get install postgresql` then `export PATH=/usr/lib/postgresql/<version>/bin:$PATH` \
         (Debian, Ubuntu), `dnf install postgresql-server` (Fedora, RHEL) or `brew install \
         postgresql` (macOS); the tests then start a throwaway cluster themselves;\n  \
         * or point the tests at a running server: \
         `export {url_env}=postgresql://user:pass@host:5432/postgres` (a user allowed to \
         CREATE DATABASE)."
    )
}

/// The directory holding both `initdb` and `pg_ctl`: the first on `path`, else the one
/// `pg_config --bindir` names, else the first of `fallbacks` that has them.
fn find_bindir(path: Option<OsString>, fallbacks: &[PathBuf]) -> Result<PathBuf, String> {
    let path_dirs: Vec<PathBuf> = path
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    let has_binaries =
        |dir: &Path| is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl"));
    if let Some(dir) = path_dirs.iter().find(|dir| has_binaries(dir)) {
        return Ok(dir.clone());
    }
    let pg_config = path_dirs
        .iter()
        .map(|dir| dir.join("pg_config"))
        .find(|file| is_executable(file));
    if let Some(pg_config) = pg_config {
        if let Ok(out) = Command::new(&pg_config).arg("--bindir").output() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if out.status.success() && has_binaries(&dir) {
                return Ok(dir);
            }
        }
    }
    fallbacks
        .iter()
        .find(|dir| has_binaries(dir))
        .cloned()
        .ok_or_else(|| no_binaries_message(super::URL_ENV))
}

/// Where distributions put server binaries off the PATH, newest version first:
/// `/usr/lib/postgresql/<v>/bin` (Debian, Ubuntu) and `/usr/pgsql-<v>/bin` (PGDG RPMs).
fn fallback_bindirs() -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            if let Some(version) = leading_number(&entry.file_name().to_string_lossy()) {
                found.push((version, entry.path().join("bin")));
            }
        }
    }
    if let Ok(entries) = fs::read_dir("/usr") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(version) = name.strip_prefix("pgsql-").and_then(leading_number) {
                found.push((version, entry.path().join("bin")));
            }
        }
    }
    found.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// The number `text` starts with (`15` for `15`, `9` for `9.6`).
fn leading_number(text: &str) -> Option<u32> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn is_executable(file: &Path) -> bool {
    fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The effective user id of this process: from `/proc/self/status`, else from `id -u`.
fn effective_uid() -> Result<u32, String> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        // "Uid:\t<real>\t<effective>\t<saved>\t<filesystem>"
        let effective = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|id| id.parse().ok());
        if let Some(uid) = effective {
            return Ok(uid);
        }
    }
    id_of(&["-u"]).ok_or_else(|| "cannot tell which user the tests run as (`id -u` failed)".into())
}

/// The account to run PostgreSQL as when the tests run as root: `postgres`, else `nobody`.
fn unprivileged_user() -> Result<OsUser, String> {
    ["postgres", "nobody"]
        .iter()
        .find_map(|name| lookup_user(name).filter(|user| user.uid != 0))
        .ok_or_else(|| {
            format!(
                "the tests run as root, and PostgreSQL refuses to: the harness runs it as the \
                 `postgres` (or `nobody`) account, and neither exists. Create one (`useradd \
                 --system postgres`), run the tests as an unprivileged user, or set {}.",
                super::URL_ENV
            )
        })
}

/// Uid and gid of account `name`: from `/etc/passwd`, else from `id`.
fn lookup_user(name: &str) -> Option<OsUser> {
    if let Ok(passwd) = fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            // name:password:uid:gid:gecos:home:shell
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[0] == name {
                if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                    return Some(OsUser { uid, gid });
                }
            }
        }
    }
    Some(OsUser {
        uid: id_of(&["-u", name])?,
        gid: id_of(&["-g", name])?,
    })
}

/// The number `id <args>` prints.
fn id_of(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Gives `path` and everything under it to `user`.
fn chown_tree(path: &Path, user: OsUser) -> Result<(), String> {
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
        .map_err(|e| format!("cannot give {} to uid {}: {e}", path.display(), user.uid))?;
    let meta = fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let entries = fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}

/// The watchdog: a shell loop, in its own session (so a Ctrl-C of the tests does not reach it),
/// that waits for this process to end, then stops the server the way `pg_ctl stop -m
/// immediate` does (SIGQUIT to the postmaster, then wait for it to remove `postmaster.pid`;
/// SIGKILL if it has not after 10 s) and removes the directory. Signalling works whether the
/// server runs as this user or, under root, as an unprivileged one; it also covers a server
/// that never finished starting. A zombie (ended, not yet reaped) counts as ended.
const WATCHDOG: &str = r#"
pid="$1"; dir="$2"
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [ "$state" != Z ]
}
nap() { sleep "$1" 2>/dev/null || sleep 1; }
while alive "$pid"; do nap 0.2; done
pidfile="$dir/data/postmaster.pid"
if [ -f "$pidfile" ]; then
  read -r pm < "$pidfile"
  if [ -n "$pm" ]; then
    kill -QUIT "$pm" 2>/dev/null
    n=0
    while [ -f "$pidfile" ] && alive "$pm" && [ "$n" -lt 100 ]; do
      nap 0.1
      n=$((n + 1))
    done
    alive "$pm" && kill -KILL "$pm" 2>/dev/null
  fi
fi
rm -rf "$dir"
"#;

/// Starts [`WATCHDOG`] for `dir`, detached: it is not waited for and outlives this process.
fn spawn_watchdog(dir: &Path) -> Result<(), String> {
    let setsid = ["/usr/bin/setsid", "/bin/setsid"]
        .iter()
        .map(Path::new)
        .find(|file| is_executable(file));
    let mut command = match setsid {
        Some(setsid) => {
            let mut command = Command::new(setsid);
            command.arg("sh");
            command
        }
        None => {
            let mut command = Command::new("sh");
            command.process_group(0);
            command
        }
    };
    command
        .arg("-c")
        .arg(WATCHDOG)
        .arg("dbos-pg-watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
        .spawn()
        .map_err(|e| format!("cannot start the clean-up watchdog (sh): {e}"))?;
    Ok(())
}

/// Writes fresh certificates to `dir/tls` (the key with mode 0600, as the server demands).
fn write_certs(dir: &Path) -> Result<TlsFiles, String> {
    let certs = certs::generate().map_err(|e| format!("cannot generate certificates: {e}"))?;
    let tls = dir.join("tls");
    fs::create_dir(&tls).map_err(|e| format!("cannot create {}: {e}", tls.display()))?;
    let write = |name: &str, text: &str, mode: u32| -> Result<PathBuf, String> {
        let file = tls.join(name);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&file)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        Ok(file)
    };
    let files = TlsFiles {
        ca_cert: write("ca.crt", &certs.ca, 0o644)?,
        other_ca_cert: write("other-ca.crt", &certs.other_ca, 0o644)?,
        server_cert: write("server.crt", &certs.server_cert, 0o644)?,
        ca_pem: certs.ca,
        other_ca_pem: certs.other_ca,
    };
    write("server.key", &certs.server_key, 0o600)?;
    Ok(files)
}

/// `command`, run as `user` when there is one, from `dir`, with nothing on stdin.
fn prepared(mut command: Command, dir: &Path, user: Option<OsUser>) -> Command {
    if let Some(user) = user {
        command.uid(user.uid).gid(user.gid).env("HOME", dir);
    }
    command.current_dir(dir).stdin(Stdio::null());
    command
}

/// The output of `command`, or a message naming it when it cannot be run.
fn run(command: &mut Command, what: &str) -> Result<Output, String> {
    command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))
}

/// `initdb` into `dir/data`: superuser `postgres`, trust authentication, UTF-8 with the C
/// locale (byte-order collation, as the reference model), no fsync of the initial files.
fn initdb(bindir: &Path, dir: &Path, user: Option<OsUser>) -> Result<(), String> {
    let mut command = prepared(Command::new(bindir.join("initdb")), dir, user);
    command.arg("-D").arg(dir.join("data")).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    let out = run(&mut command, "initdb")?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "initdb ({}) failed, {}:\n{}{}",
        bindir.join("initdb").display(),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
    ))
}

/// Writes `pg_hba.conf` and the harness's settings into the fresh data directory.
///
/// Authentication: Unix sockets trust everyone; TCP trusts `postgres` and asks every other
/// role for its SCRAM password. `host` lines match TLS and plain connections alike.
fn configure(
    dir: &Path,
    socket_dir: Option<&Path>,
    tls: Option<&TlsFiles>,
    durable: bool,
) -> Result<(), String> {
    let data = dir.join("data");
    let hba = "\
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       all                      trust
host    all       postgres  127.0.0.1/32   trust
host    all       postgres  ::1/128        trust
host    all       all       127.0.0.1/32   scram-sha-256
host    all       all       ::1/128        scram-sha-256
";
    let path = data.join("pg_hba.conf");
    fs::write(&path, hba).map_err(|e| format!("cannot write {}: {e}", path.display()))?;

    let quote = |p: &Path| super::url::quote_literal(&p.to_string_lossy());
    let mut conf = String::from(
        "\n# dbos-storage test harness\n\
         listen_addresses = '127.0.0.1'\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n\
         max_connections = 200\n\
         shared_buffers = 64MB\n\
         password_encryption = 'scram-sha-256'\n",
    );
    if durable {
        conf.push_str("fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n");
    }
    match socket_dir {
        Some(sock) => conf.push_str(&format!("unix_socket_directories = {}\n", quote(sock))),
        None => conf.push_str("unix_socket_directories = ''\n"),
    }
    if let Some(tls) = tls {
        conf.push_str(&format!(
            "ssl = on\nssl_cert_file = {}\nssl_key_file = {}\n",
            quote(&tls.server_cert),
            quote(&dir.join("tls").join("server.key")),
        ));
    }
    let path = data.join("postgresql.conf");
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `pg_ctl start` on a free port, trying another when the port was taken meanwhile; waits
/// until the server accepts connections.
fn start_server(bindir: &Path, dir: &Path, user: Option<OsUser>) -> Result<u16, String> {
    let log = dir.join("server.log");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let log_start = fs::metadata(&log).map_or(0, |m| m.len());
        let mut command = prepared(Command::new(bindir.join("pg_ctl")), dir, user);
        command
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-l")
            .arg(&log)
            .args(["-o", &format!("-p {port}"), "-w", "-t", "60", "start"]);
        let out = run(&mut command, "pg_ctl start")?;
        if out.status.success() {
            return Ok(port);
        }
        let log_text = fs::read(&log).unwrap_or_default();
        let new_log = String::from_utf8_lossy(log_text.get(log_start as usize..).unwrap_or(&[]));
        let port_taken = new_log.contains("Address already in use")
            || new_log.contains("could not bind")
            || new_log.contains("could not create any TCP/IP sockets");
        if port_taken && attempt < START_ATTEMPTS {
            continue;
        }
        return Err(format!(
            "pg_ctl ({}) could not start the server, {}:\n{}{}\nlast lines of {}:\n{}",
            bindir.join("pg_ctl").display(),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
            log.display(),
            tail(&String::from_utf8_lossy(&log_text), LOG_TAIL_LINES),
        ));
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free TCP port on 127.0.0.1: {e}"))
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_binaries_the_message_says_how_to_fix_it() {
        let empty = tempfile::tempdir().unwrap();
        let message = find_bindir(Some(empty.path().into()), &[]).unwrap_err();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("PATH"), "{message}");
        assert!(
            message.contains("DBOS_TEST_POSTGRES_URL=postgresql://user:pass@host:5432/postgres"),
            "{message}"
        );
    }

    #[test]
    fn binaries_are_found_on_the_path_and_in_fallbacks() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["initdb", "pg_ctl"] {
            let file = dir.path().join(name);
            fs::write(&file, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let empty = tempfile::tempdir().unwrap();
        let path = env::join_paths([empty.path(), dir.path()]).unwrap();
        assert_eq!(find_bindir(Some(path), &[]).unwrap(), dir.path());
        let found = find_bindir(Some(empty.path().into()), &[dir.path().to_path_buf()]);
        assert_eq!(found.unwrap(), dir.path());
    }

    #[test]
    fn helpers() {
        assert_eq!(leading_number("15"), Some(15));
        assert_eq!(leading_number("9.6"), Some(9));
        assert_eq!(leading_number("x"), None);
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
