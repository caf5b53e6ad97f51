//! A real PostgreSQL server for tests, started by the tests: the binaries of the `pgserver`
//! wheel (PostgreSQL 16 with pgvector 0.6), fetched from PyPI on first use, run as an
//! unprivileged user (`initdb` refuses root), listening on a free loopback port with password
//! logins. [`PgServer::shared`] is one server per test process, stopped when the process ends;
//! [`PgServer::start`] is a private one (to restart or stop), stopped when dropped.
//! `FACEPRINT_PG_BIN` names a directory with `initdb` and `pg_ctl` to use instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The wheel the binaries come from.
const PGSERVER: &str = "pgserver==0.1.4";
/// The administrator role's name and password.
pub const ADMIN: &str = "fpadmin";
pub const ADMIN_PASSWORD: &str = "faceprint-test-admin";
/// The unprivileged user that runs PostgreSQL when the tests run as root.
const NOBODY: u32 = 65534;

#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    root: PathBuf,
    pub port: u16,
    owned: bool,
}

static SHARED: OnceLock<PgServer> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

impl PgServer {
    /// The test process's server, started on first use.
    pub fn shared() -> &'static PgServer {
        SHARED.get_or_init(|| {
            let server = PgServer::launch(false);
            server.stop_when_process_ends();
            server
        })
    }

    /// A server of the caller's own, stopped and deleted when dropped.
    pub fn start() -> PgServer {
        PgServer::launch(true)
    }

    /// A new, empty database on this server; its URL with the administrator's password.
    pub fn new_database(&self) -> String {
        let name = format!("fp_{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The URL of database `name` as the administrator.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{ADMIN}:{ADMIN_PASSWORD}@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` in database `database` as the administrator (through `psql`), panicking on failure.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", ADMIN, "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
            .env("PGPASSWORD", ADMIN_PASSWORD)
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stops the server (fast shutdown: connections are closed at once).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"]);
    }

    /// Starts it again after [`PgServer::stop`], on the same port and data.
    pub fn start_again(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.root.join("socket").display());
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &self.root.join("log").display().to_string(), "-o", &options]);
    }

    fn launch(owned: bool) -> PgServer {
        let bin = binaries();
        let root = tempfile::Builder::new().prefix("faceprint-pg-").tempdir().expect("temporary directory").keep();
        std::fs::create_dir_all(root.join("socket")).unwrap();
        std::fs::write(root.join("password"), ADMIN_PASSWORD).unwrap();
        for path in [root.clone(), root.join("socket"), root.join("password")] {
            give_to_runner(&path);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = PgServer { bin, root, port, owned };
        let data = server.root.join("data");
        let password = format!("--pwfile={}", server.root.join("password").display());
        let initdb = as_runner(&server.bin.join("initdb"))
            .args(["-D", &data.display().to_string(), "-U", ADMIN, &password, "-E", "UTF8", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(initdb.status.success(), "initdb: {}", String::from_utf8_lossy(&initdb.stderr));
        server.start_again();
        server
    }

    fn pg_ctl(&self, args: &[&str]) {
        let out = as_runner(&self.bin.join("pg_ctl"))
            .args(["-D", &self.root.join("data").display().to_string()])
            .args(args)
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(out.status.success(), "pg_ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A watcher process that stops the server and deletes its files once this process is gone.
    // It must outlive this process, so it is never waited for.
    #[allow(clippy::zombie_processes)]
    fn stop_when_process_ends(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} -D {data} stop -m immediate >/dev/null 2>&1; rm -rf {root}",
            pid = std::process::id(),
            stop = runner_prefix(&self.bin.join("pg_ctl")),
            data = self.root.join("data").display(),
            root = self.root.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the watcher starts");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.owned {
            let _ = as_runner(&self.bin.join("pg_ctl"))
                .args(["-D", &self.root.join("data").display().to_string(), "stop", "-m", "immediate"])
                .output();
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program`, run as the unprivileged user when we are root.
fn as_runner(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command.args([format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"), "--clear-groups".into()]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn runner_prefix(program: &Path) -> String {
    if running_as_root() {
        format!("setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups {}", program.display())
    } else {
        program.display().to_string()
    }
}

fn give_to_runner(path: &Path) {
    if running_as_root() {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown to the unprivileged user");
    }
}

/// The directory with `initdb`, `pg_ctl` and `psql`: `FACEPRINT_PG_BIN`, or the wheel's,
/// downloaded and unpacked into the temporary directory once per machine.
fn binaries() -> PathBuf {
    if let Some(bin) = std::env::var_os("FACEPRINT_PG_BIN") {
        return PathBuf::from(bin);
    }
    let home = std::env::temp_dir().join(format!("faceprint-{}", PGSERVER.replace("==", "-")));
    let bin = home.join("pgserver/pginstall/bin");
    if bin.join("pg_ctl").exists() {
        return bin;
    }
    let staging = tempfile::Builder::new().prefix("faceprint-pgserver-").tempdir_in(std::env::temp_dir()).unwrap();
    let run = |command: &mut Command| {
        let out = command.output().expect("python3 runs");
        assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(Command::new("python3")
        .args(["-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps", PGSERVER, "-d"])
        .arg(staging.path()));
    let wheel = std::fs::read_dir(staging.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("pip downloaded the wheel");
    let unpacked = staging.path().join("unpacked");
    run(Command::new("python3").args(["-m", "zipfile", "-e"]).arg(&wheel).arg(&unpacked));
    // Zip archives keep no modes: the programs must be executable, by the unprivileged user too.
    for dir in ["pgserver/pginstall/bin", "pgserver/pginstall/lib"] {
        for entry in std::fs::read_dir(unpacked.join(dir)).unwrap().flatten() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
    // Another test process may have won the race: then its copy is used.
    let _ = std::fs::rename(&unpacked, &home);
    assert!(bin.join("pg_ctl").exists(), "the pgserver wheel has no pg_ctl at {}", bin.display());
    bin
}
