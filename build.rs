//! Stamps the git commit into the binary (`docker-cr --version`). Without git
//! (a source tarball) it says "unknown" and warns; it never fails the build.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty());
    let commit = commit.unwrap_or_else(|| {
        println!("cargo:warning=git commit unknown; docker-cr --version will say so");
        "unknown".to_string()
    });
    println!("cargo:rustc-env=DOCKER_CR_COMMIT={commit}");
}
