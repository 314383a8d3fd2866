//! The project's own checks can fail: the layering check rejects a domain module that names a
//! crate with an I/O crate in its dependency graph. (Every service's /healthz, /readyz, /metrics
//! and SIGTERM shutdown are covered by its own end-to-end tests.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_layer_check(root: &Path) -> std::process::Output {
    Command::new("python3")
        .arg(repo_root().join("scripts/check_layers.py"))
        .arg(root)
        .output()
        .expect("python3 runs")
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A path-only workspace: `svc` (with a domain/) depends on `purelib` and on `netlib`, and
/// `netlib` depends on a crate named `tokio` — an I/O crate by name, two hops from the domain.
fn layered_fixture() -> PathBuf {
    let root = std::env::temp_dir().join(e2e_tests::unique("layers"));
    write(
        &root.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"svc\", \"purelib\", \"netlib\", \"tokio\"]\n",
    );
    for (name, deps) in [
        ("tokio", ""),
        ("netlib", "tokio = { path = \"../tokio\" }"),
        ("purelib", ""),
        (
            "svc",
            "purelib = { path = \"../purelib\" }\nnetlib = { path = \"../netlib\" }",
        ),
    ] {
        write(
            &root.join(name).join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}\n"
            ),
        );
        write(&root.join(name).join("src/lib.rs"), "pub struct Thing;\n");
    }
    write(
        &root.join("svc/src/domain/order.rs"),
        "use purelib::Thing;\npub struct Order(pub Thing);\n",
    );
    root
}

#[test]
fn layering_check_follows_the_dependency_graph() {
    let root = layered_fixture();
    let out = run_layer_check(&root);
    assert!(
        out.status.success(),
        "a domain naming only a pure crate passes: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    for (bad, expect) in [
        ("use netlib::Thing;", "netlib -> tokio"),
        ("fn f(_: netlib::Thing) {}", "netlib -> tokio"),
        ("use crate::infrastructure::Db;", "outer layer"),
        ("fn f() { let _ = std::fs::read(\"x\"); }", "std::fs"),
    ] {
        write(&root.join("svc/src/domain/bad.rs"), &format!("{bad}\n"));
        let out = run_layer_check(&root);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "`{bad}` must fail the check");
        assert!(
            stderr.contains("bad.rs") && stderr.contains(expect),
            "`{bad}`: names the file and `{expect}`: {stderr}"
        );
    }
    std::fs::remove_file(root.join("svc/src/domain/bad.rs")).expect("rm");

    // A crate marked pure fails when anything in its tree does I/O.
    let netlib_manifest = root.join("netlib/Cargo.toml");
    let manifest = std::fs::read_to_string(&netlib_manifest).expect("read");
    write(
        &netlib_manifest,
        &format!("{manifest}\n[package.metadata.layering]\npure = true\n"),
    );
    let out = run_layer_check(&root);
    assert!(
        !out.status.success(),
        "a pure crate depending on tokio fails"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("netlib is marked pure"));
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
