//! The project's own checks can fail: the layering check rejects an I/O import in a domain
//! module, and every skeleton binary answers /healthz and stops cleanly on SIGTERM.

use e2e_tests::eventually;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_layer_check(root: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/check-layers.sh"))
        .arg(root)
        .output()
        .expect("bash runs")
}

#[test]
fn layering_check_rejects_io_crates_in_domain_modules() {
    let root = std::env::temp_dir().join(e2e_tests::unique("layers"));
    let domain = root.join("svc/src/domain");
    std::fs::create_dir_all(&domain).expect("mkdir");
    std::fs::write(domain.join("order.rs"), "pub struct Order;\n").expect("write");
    assert!(
        run_layer_check(&root).status.success(),
        "a pure domain passes"
    );

    for import in [
        "use tokio_postgres::Client;",
        "use rdkafka::Message;",
        "fn f(_: axum::Router) {}",
    ] {
        std::fs::write(domain.join("bad.rs"), format!("{import}\n")).expect("write");
        let out = run_layer_check(&root);
        assert!(!out.status.success(), "`{import}` must fail the check");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("bad.rs"),
            "names the file"
        );
    }
    std::fs::remove_dir_all(&root).expect("cleanup");
}

#[test]
fn this_repository_passes_the_layering_check() {
    let out = run_layer_check(&repo_root());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

async fn healthz_ok(addr: &str) -> Option<()> {
    let response = reqwest::get(format!("http://{addr}/healthz")).await.ok()?;
    response.status().is_success().then_some(())
}

#[tokio::test]
async fn skeleton_binaries_serve_health_and_stop_on_sigterm() {
    for (name, addr) in [
        ("payment-processor", "127.0.0.1:18082"),
        ("dlq-handler", "127.0.0.1:18083"),
    ] {
        let mut child = tokio::process::Command::new(binary(name))
            .args(["--ops-addr", addr, "--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        eventually(&format!("{name} /healthz"), Duration::from_secs(20), || {
            healthz_ok(addr)
        })
        .await;
        let ready = reqwest::get(format!("http://{addr}/readyz"))
            .await
            .expect("readyz");
        assert_eq!(
            ready.status(),
            503,
            "{name} is not ready until its logic lands"
        );
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("metrics");
        assert!(metrics.status().is_success());

        let pid = child.id().expect("running").to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill")
                .success()
        );
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("exits within 20 s of SIGTERM")
            .expect("wait");
        assert!(
            status.success(),
            "{name} exits 0 after SIGTERM, got {status}"
        );
    }
}
