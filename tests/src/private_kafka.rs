//! A private, throw-away Kafka broker (KRaft, single node) for tests that stop and restart the
//! broker, so they never disturb the shared broker other tests use. It runs the same jars as the
//! local stack (`.stack/kafka/libs`, fetched by `make up`) on free loopback ports.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{START_STACK, eventually};

#[derive(Debug)]
pub struct PrivateKafka {
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn libs() -> PathBuf {
    let stack = std::env::var_os("STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.stack"));
    let libs = stack.join("kafka/libs");
    assert!(
        libs.is_dir(),
        "no Kafka jars in {}; {START_STACK}",
        libs.display()
    );
    libs
}

fn java() -> String {
    std::env::var("JAVA").unwrap_or_else(|_| "java".into())
}

impl PrivateKafka {
    /// Format a new data directory and start the broker; returns once it accepts connections.
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(crate::unique("private-kafka"));
        std::fs::create_dir_all(dir.join("data")).expect("mkdir");
        let (port, controller_port) = (free_port(), free_port());
        let properties = format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:{controller_port}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\ncontroller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
             log.dirs={}\nauto.create.topics.enable=false\noffsets.topic.replication.factor=1\n\
             offsets.topic.num.partitions=1\ntransaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\nshare.coordinator.state.topic.replication.factor=1\n\
             share.coordinator.state.topic.min.isr=1\ngroup.initial.rebalance.delay.ms=0\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("server.properties"), properties).expect("write config");
        let classpath = format!("{}/*", libs().display());
        let cluster_id = Command::new(java())
            .args(["-cp", &classpath, "kafka.tools.StorageTool", "random-uuid"])
            .output()
            .expect("java runs");
        let cluster_id = String::from_utf8_lossy(&cluster_id.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        let format = Command::new(java())
            .args([
                "-cp",
                &classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                &cluster_id,
                "-c",
            ])
            .arg(dir.join("server.properties"))
            .output()
            .expect("java runs");
        assert!(
            format.status.success(),
            "storage format failed: {}",
            String::from_utf8_lossy(&format.stderr)
        );
        let mut broker = Self {
            dir,
            port,
            child: None,
        };
        broker.resume().await;
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Start (again) on the same data directory and ports; returns once the port answers.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let log = std::fs::File::create(self.dir.join("broker.log")).expect("log file");
        let child = Command::new(java())
            .args([
                "-Xmx384m",
                "-cp",
                &format!("{}/*", libs().display()),
                "kafka.Kafka",
            ])
            .arg(self.dir.join("server.properties"))
            .stdout(Stdio::from(log.try_clone().expect("dup log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start broker");
        self.child = Some(child);
        let port = self.port;
        eventually(
            "private broker to accept connections",
            Duration::from_secs(60),
            || async move {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
    }

    /// Kill the broker (SIGKILL: a crash, not a clean shutdown) and wait until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
