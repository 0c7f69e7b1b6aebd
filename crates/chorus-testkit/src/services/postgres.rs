//! A throw-away PostgreSQL cluster: `initdb` into a scratch directory, then
//! `postgres` on a free loopback port, trust authentication for the
//! `postgres` user. PostgreSQL refuses to run as root, so under root both run
//! as the system user `postgres` (which Debian's package creates).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{find_binary, free_port, is_ci, scratch_dir, spawn_ready};

/// A running PostgreSQL server; stopped (fast shutdown) and its data removed
/// on drop.
#[derive(Debug)]
pub struct PostgresServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// A PostgreSQL server program: on `PATH`, or in Debian's versioned
/// directory (`/usr/lib/postgresql/<major>/bin`, the newest major).
fn pg_binary(name: &str) -> Option<PathBuf> {
    let mut majors: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    majors.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    majors
        .iter()
        .rev()
        .map(|m| m.join("bin").join(name))
        .find(|p| p.is_file())
        .or_else(|| find_binary(name))
}

/// `(uid, gid)` of the `postgres` user when running as root, else `None`.
fn run_as() -> Option<(u32, u32)> {
    let id = |flag: &str, user: Option<&str>| -> Option<u32> {
        let out = Command::new("id").arg(flag).args(user).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u", None)? != 0 {
        return None;
    }
    let uid = id("-u", Some("postgres"))
        .expect("running as root, but there is no `postgres` user to run PostgreSQL as");
    let gid = id("-g", Some("postgres")).expect("group of user `postgres`");
    Some((uid, gid))
}

impl PostgresServer {
    /// Starts a fresh cluster, or `None` (after a loud message) when
    /// PostgreSQL is not installed outside CI.
    ///
    /// # Panics
    /// When `CI` is set and PostgreSQL is missing, or when it does not start.
    pub fn start() -> Option<Self> {
        let (Some(initdb), Some(postgres)) = (pg_binary("initdb"), pg_binary("postgres")) else {
            let msg = "PostgreSQL is not installed: run scripts/install-deps (apt-get install -y postgresql)";
            assert!(
                !is_ci(),
                "{msg}; CI is set, so this test fails instead of skipping"
            );
            eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
            return None;
        };
        let dir = scratch_dir("postgres");
        let owner = run_as();
        let as_owner = |cmd: &mut Command| {
            cmd.current_dir(&dir);
            if let Some((uid, gid)) = owner {
                cmd.uid(uid).gid(gid);
            }
        };
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the scratch dir");
        }
        let data = dir.join("data");
        let mut init = Command::new(initdb);
        init.arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdin(Stdio::null());
        as_owner(&mut init);
        let out = init.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // A free port can be taken between probing and binding: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&postgres);
            cmd.arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
                .arg(&dir)
                // Throw-away data: no fsync; enough connections for
                // several consumers with one per partition.
                .args(["-F", "-c", "max_connections=200"]);
            as_owner(&mut cmd);
            match spawn_ready(cmd, "database system is ready to accept connections") {
                Ok(child) => return Some(Self { child, port, dir }),
                Err(e) => last = e,
            }
        }
        panic!("postgres does not start: {last}");
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq connection string for the `postgres` database as `postgres`.
    pub fn dsn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: backends end, shared memory
        // is released (SIGKILL would leak it).
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
