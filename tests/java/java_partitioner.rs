//! The partition the Java client gives each key (test support, shared by the test crates through
//! `#[path]`): runs `tests/java/JavaPartitioner.java` with the Kafka jars `make up` installed in
//! `.stack/kafka/libs` (`STACK_DIR` honoured), so a test compares our producers with Kafka's own
//! code, not with a re-implementation of murmur2.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub(crate) fn java_partitions(keys: &[String], partitions: i32) -> HashMap<String, i32> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let stack = std::env::var_os("STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".stack"));
    let libs = stack.join("kafka").join("libs");
    assert!(
        libs.is_dir(),
        "{} is missing: start the local stack with `make up` (it installs Kafka)",
        libs.display()
    );
    let java = std::env::var("JAVA").unwrap_or_else(|_| "java".into());
    let mut child = Command::new(&java)
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg(root.join("tests").join("java").join("JavaPartitioner.java"))
        .arg(partitions.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("running {java} ({e}): Java 17+ is needed (make up installs it)")
        });
    {
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(keys.join("\n").as_bytes())
            .expect("write keys");
    }
    let output = child.wait_with_output().expect("java finished");
    assert!(
        output.status.success(),
        "JavaPartitioner failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (key, partition) = line.split_once('\t')?;
            Some((key.to_string(), partition.parse().ok()?))
        })
        .collect()
}
