//! Helpers shared by the end-to-end tests and the benchmark command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests").join("fixtures").join(name)
}

/// The `sluice` binary of the profile the tests run in, brought up to date first (once per
/// test process; a no-op when nothing changed).
///
/// `CARGO_BIN_EXE_*` only names binaries of the test's own package, and `sluice` lives in
/// `sluice-local`; the binary sits next to the `deps/` directory of the test executable.
pub fn sluice_binary() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join(format!("sluice{}", std::env::consts::EXE_SUFFIX));
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.current_dir(repo_root()).args(["build", "--bin", "sluice"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the sluice binary failed");
    });
    binary
}

/// Runs `sluice` with arguments from the repository root.
pub fn sluice(args: &[&str]) -> Output {
    Command::new(sluice_binary()).current_dir(repo_root()).args(args).output().expect("sluice runs")
}
