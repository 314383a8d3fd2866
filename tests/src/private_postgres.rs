//! A private, throw-away PostgreSQL cluster (wal_level=logical) for tests that crash and restart
//! the database server, so they never disturb the shared one. Uses Debian's server binaries
//! (installed by `make up`), runs as the `postgres` OS user when the tests run as root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::START_STACK;

#[derive(Debug)]
pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

fn pg_command(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(mut command: Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PrivatePostgres {
    /// initdb a new cluster (wal_level=logical) on a free port and start it.
    pub fn start() -> Self {
        Self::start_with_wal_level("logical")
    }

    /// Like [`Self::start`] with another `wal_level` (to test the relay's preflight).
    pub fn start_with_wal_level(wal_level: &str) -> Self {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap_or_else(|e| panic!("no PostgreSQL server binaries ({e}); {START_STACK}"))
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        versions.sort();
        let bin = versions
            .pop()
            .unwrap_or_else(|| panic!("no initdb under /usr/lib/postgresql; {START_STACK}"));
        let dir = std::env::temp_dir().join(crate::unique("private-pg"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(&dir);
                    c
                },
                "chown",
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut initdb = pg_command(&bin, "initdb");
        initdb.arg("-D").arg(dir.join("data")).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
        ]);
        run(initdb, "initdb");
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             wal_level = {wal_level}\nmax_replication_slots = 8\nmax_wal_senders = 8\nfsync = on\n",
            dir.display(),
        );
        let path = dir.join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("read conf");
        text.push_str(&conf);
        std::fs::write(&path, text).expect("write conf");
        let pg = Self { dir, bin, port };
        pg.resume();
        pg
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Start the (stopped) server and wait until it accepts connections.
    pub fn resume(&self) {
        let mut start = pg_command(&self.bin, "pg_ctl");
        start
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]);
        run(start, "pg_ctl start");
    }

    /// Crash the server (`pg_ctl stop -m immediate`: no shutdown checkpoint, recovery on start).
    pub fn crash(&self) {
        let mut stop = pg_command(&self.bin, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        run(stop, "pg_ctl stop -m immediate");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut stop = pg_command(&self.bin, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"]);
        let _ = stop.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
