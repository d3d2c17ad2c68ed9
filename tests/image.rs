//! Checkpoints as OCI images through a real registry (issue 20): Debian's
//! `docker-registry` 2.8 (tests/setup-host installs it), started by each
//! test on a free loopback port in the test's own network namespace, plain
//! HTTP, with TLS from a CA the test makes, or with htpasswd auth, and
//! stopped when the test ends. Against the engine of DOCKER_HOST and real
//! CRIU; the Podman tests (`podman_*`, #[ignore]d) run in tests/run's
//! podman phase.
//!
//! A registry in host B's network namespace carries a checkpoint from this
//! host to host B: `migrate::registry_carries_a_checkpoint_to_the_second_host`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

const REGISTRY: &str = "/usr/bin/docker-registry";
const CHECKPOINTCTL: &str = "/usr/local/lib/docker-cr-tests/checkpointctl";

/// A registry of our own, removed when dropped.
pub(crate) struct Registry {
    child: Child,
    /// Its token service (Kind::Token).
    token: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// For TLS: the certs.d directory that trusts its CA.
    certs_d: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Tls,
    /// htpasswd, user `dcr` with password `s3cret`.
    Auth,
    /// Bearer tokens from tests/token-server: user `dcr` with password
    /// `s3cret`, or the identity (refresh) token `rt-secret`.
    Token,
}

impl Registry {
    fn start(kind: Kind) -> Registry {
        Registry::start_in(kind, None)
    }

    /// A plain-HTTP registry on 127.0.0.1 of this network namespace.
    pub(crate) fn plain() -> Registry {
        Registry::start(Kind::Plain)
    }

    /// A plain-HTTP registry listening on 127.0.0.1 of the network
    /// namespace of process `net_of` (host B's engine): there only.
    pub(crate) fn plain_in(net_of: &str) -> Registry {
        Registry::start_in(Kind::Plain, Some(net_of))
    }

    fn start_in(kind: Kind, net_of: Option<&str>) -> Registry {
        assert!(Path::new(REGISTRY).exists(), "{REGISTRY} is missing: run tests/setup-host");
        let dir = temp_dir("registry");
        let port = free_port();
        let mut extra = String::new();
        let mut certs_d = None;
        if kind == Kind::Tls {
            // A CA made here, and a certificate for 127.0.0.1 signed by it.
            let sh = format!(
                "set -e; cd {d}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -subj /CN=docker-cr-test-ca -days 2 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext.cnf 2>/dev/null",
                d = dir.display()
            );
            let o = Command::new("sh").args(["-c", &sh]).bounded();
            assert!(o.status.success(), "openssl failed: {}", text(&o));
            extra = format!("  tls:\n    certificate: {0}/srv.crt\n    key: {0}/srv.key\n", dir.display());
            let cd = dir.join("certs.d").join(format!("127.0.0.1:{port}"));
            fs::create_dir_all(&cd).unwrap();
            fs::copy(dir.join("ca.crt"), cd.join("ca.crt")).unwrap();
            certs_d = Some(dir.join("certs.d"));
        }
        let mut auth = String::new();
        if kind == Kind::Auth {
            let o = Command::new("htpasswd")
                .args(["-Bbn", "dcr", "s3cret"])
                .output()
                .expect("run htpasswd (apache2-utils; tests/setup-host)");
            assert!(o.status.success(), "{}", text(&o));
            fs::write(dir.join("htpasswd"), &o.stdout).unwrap();
            auth = format!("auth:\n  htpasswd:\n    realm: docker-cr-test\n    path: {}/htpasswd\n", dir.display());
        }
        let mut token = None;
        if kind == Kind::Token {
            let sh = format!(
                "set -e; cd {d}; openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -subj /CN=docker-cr-test-token -days 2 2>/dev/null",
                d = dir.display()
            );
            let o = Command::new("sh").args(["-c", &sh]).bounded();
            assert!(o.status.success(), "openssl failed: {}", text(&o));
            let tport = free_port();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/token-server");
            let d = dir.display().to_string();
            token = Some(
                Command::new("python3")
                    .arg(script)
                    .args([&tport.to_string(), &format!("{d}/token.key"), &format!("{d}/token.crt")])
                    .args(["docker-cr-test-issuer", "docker-cr-test", "dcr:s3cret", "rt-secret"])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("start tests/token-server (python3)"),
            );
            let start = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", tport)).is_err() {
                assert!(start.elapsed() < Duration::from_secs(20), "the token server did not listen");
                std::thread::sleep(Duration::from_millis(50));
            }
            auth = format!(
                "auth:\n  token:\n    realm: http://127.0.0.1:{tport}/token\n    service: docker-cr-test\n    issuer: docker-cr-test-issuer\n    rootcertbundle: {d}/token.crt\n"
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {d}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}{auth}",
            d = dir.display()
        );
        fs::write(dir.join("config.yml"), config).unwrap();
        let log = fs::File::create(dir.join("registry.log")).unwrap();
        // nsenter enters the namespace and execs the registry: the child is
        // the registry itself, which Drop kills.
        let mut cmd = match net_of {
            Some(pid) => {
                let mut c = Command::new("nsenter");
                c.args(["-t", pid, "-n", REGISTRY]);
                c
            }
            None => Command::new(REGISTRY),
        };
        let child = cmd
            .args(["serve", dir.join("config.yml").to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry { child, token, port, dir, certs_d };
        let listens = move || {
            let start = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if start.elapsed() > Duration::from_secs(20) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            true
        };
        let up = match net_of {
            Some(pid) => crate::migrate::in_b_net(pid, listens),
            None => listens(),
        };
        assert!(up, "the registry did not listen: {}", r.log());
        r
    }
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
    /// GET through curl, as another client sees it.
    fn curl(&self, path: &str, accept: &str) -> Vec<u8> {
        let o = Command::new("curl")
            .args(["-fsS", "-H", &format!("Accept: {accept}"), &format!("http://{}{path}", self.host())])
            .bounded();
        assert!(o.status.success(), "curl {path}: {}", text(&o));
        o.stdout
    }
    /// A blob's file in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.join(format!("data/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = &mut self.token {
            let _ = t.kill();
            let _ = t.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// docker-cr with a private store (and its image layout) and these
/// variables.
pub(crate) fn dcr_in(store: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.args(args).env("DOCKER_CR_STORE", store).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.bounded()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// A counter checkpointed into a private store: (counter, store, tmp).
fn checkpointed(tag: &str) -> (Counter, PathBuf, PathBuf) {
    require_engine();
    let c = Counter::start(tag, &[], 5);
    docker_ok(&["exec", &c.name, "sh", "-c", "echo kept > /tmp/test.txt"]);
    let tmp = temp_dir(tag);
    let store = tmp.join("store");
    ok(dcr_in(&store, &[], &["checkpoint", "-q", &c.name, "cp1"]));
    (c, store, tmp)
}

// Issue 20: build, push, remove everything local, pull and restore: the
// counter goes on; the registry's documents carry every consumer's keys;
// checkpointctl reads the layer; the listing and inspect tell the
// container and the signer; `restore REGISTRY/x:tag` pulls, verifies and
// restores in one step, and a pulled directory restores too.
#[test]
fn image_build_push_pull_restore() {
    let (c, store, tmp) = checkpointed("img");
    let reg = Registry::start(Kind::Plain);
    let image = format!("{}/cp/counter:v1", reg.host());
    let cp = format!("{}/cp1", c.name);
    let o = ok(dcr_in(&store, &[], &["image", "build", &cp, &image]));
    assert!(text(&o).contains("send it with: docker-cr image push"), "{}", text(&o));
    let o = dcr_in(&store, &[], &["image", "push", &image]);
    fails_with(&o, 3, "pass --insecure");
    ok(dcr_in(&store, &[], &["image", "--insecure", "push", &image]));

    // What other clients see.
    let index = json(&reg.curl("/v2/cp/counter/manifests/v1", "application/vnd.oci.image.index.v1+json"));
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(index["annotations"]["org.criu.checkpoint.container.name"], c.name.as_str(), "containerd's key");
    let md = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(index["manifests"][0]["platform"]["os"], "linux");
    let man = json(&reg.curl(&format!("/v2/cp/counter/manifests/{md}"), "application/vnd.oci.image.manifest.v1+json"));
    let a = &man["annotations"];
    for key in [
        "io.podman.annotations.checkpoint.name",
        "io.kubernetes.cri-o.annotations.checkpoint.name",
        "org.criu.checkpoint.container.name",
    ] {
        assert_eq!(a[key], c.name.as_str(), "{key} on the manifest: {man}");
    }
    assert_eq!(a["io.podman.annotations.checkpoint.runtime.name"], "runc", "podman run's test");
    assert_eq!(a["io.kubernetes.cri-o.annotations.checkpoint.rootfsImageName"], IMAGE);
    assert!(a["org.docker-cr.checkpoint.signer"].as_str().unwrap_or("").starts_with("SHA256:"), "{man}");
    assert_eq!(man["layers"].as_array().unwrap().len(), 1);
    let layer = man["layers"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(man["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    let config = json(&reg.curl(&format!("/v2/cp/counter/blobs/{}", man["config"]["digest"].as_str().unwrap()), "*/*"));
    assert_eq!(config["config"]["Labels"]["org.criu.checkpoint.container.name"], c.name.as_str(), "labels too");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);

    // checkpointctl reads the layer as it reads an archive.
    assert!(Path::new(CHECKPOINTCTL).exists(), "{CHECKPOINTCTL} is missing: run tests/setup-host");
    let blob = tmp.join("layer.tar.zst");
    fs::write(&blob, reg.curl(&format!("/v2/cp/counter/blobs/{layer}"), "*/*")).unwrap();
    let show = Command::new(CHECKPOINTCTL).args(["show", s(&blob)]).bounded();
    assert!(show.status.success() && text(&show).contains(IMAGE) && text(&show).contains("runc"), "{}", text(&show));

    // Another repository of the same registry: its blobs are mounted from
    // cp/counter (the layout names both), nothing is sent again.
    let copy = format!("{}/cp/copy:v1", reg.host());
    ok(dcr_in(&store, &[], &["image", "build", &cp, &copy]));
    let t = text(&ok(dcr_in(&store, &[], &["image", "--insecure", "push", &copy])));
    assert!(t.contains("0.0 MiB sent"), "the layer went again instead of a mount: {t}");
    let copied = json(&reg.curl("/v2/cp/copy/manifests/v1", "application/vnd.oci.image.index.v1+json"));
    assert_eq!(copied["manifests"][0]["digest"], md.as_str());

    // Streamed straight to the registry: the same bytes, no layout copy.
    let v2 = format!("{}/cp/counter:v2", reg.host());
    ok(dcr_in(&store, &[], &["image", "--insecure", "build", "--push", &cp, &v2]));
    let index2 = json(&reg.curl("/v2/cp/counter/manifests/v2", "application/vnd.oci.image.index.v1+json"));
    assert_eq!(index2["manifests"][0]["digest"], md.as_str(), "building twice gives the same image");

    let ls = text(&ok(dcr_in(&store, &[], &["image", "--insecure", "ls", &format!("{}/cp/counter", reg.host())])));
    let line = ls.lines().find(|l| l.starts_with("v1 ")).unwrap_or_else(|| panic!("no v1 in:\n{ls}"));
    assert!(line.contains(&c.name) && line.contains("docker-cr") && line.contains("signed by trusted key"), "{ls}");
    let insp = json(&ok(dcr_in(&store, &[], &["image", "--insecure", "inspect", "--format", "json", &image])).stdout);
    assert_eq!((insp["container"].as_str(), insp["made_by"].as_str()), (Some(c.name.as_str()), Some("docker-cr")));

    // checkpoint --push: taken and streamed in one step, nothing kept.
    let v3 = format!("{}/cp/counter:v3", reg.host());
    ok(dcr_in(&store, &[], &["checkpoint", "--insecure", "--push", &v3, &c.name]));
    let index3 = json(&reg.curl("/v2/cp/counter/manifests/v3", "application/vnd.oci.image.index.v1+json"));
    assert!(index3["manifests"][0]["digest"].is_string(), "{index3}");

    // Nothing left here: the container, the checkpoint, the local image.
    docker_ok(&["rm", "-f", &c.name]);
    ok(dcr_in(&store, &[], &["rm", &cp]));
    ok(dcr_in(&store, &[], &["image", "rm", &image]));
    let dir = tmp.join("pulled");
    let o = ok(dcr_in(&store, &[], &["image", "--insecure", "pull", &image, s(&dir)]));
    let t = text(&o);
    let digest = index_digest(&reg, "v1");
    assert!(t.contains(&format!("pulled {}/cp/counter@{digest}", reg.host())), "the digest pulled: {t}");
    assert!(t.contains("signed by trusted key") && t.contains("every file matches its manifest"), "{t}");
    assert_eq!(mode(&dir), 0o700);
    // Pinned by that digest, the same; another digest is not there.
    let pinned = tmp.join("pinned");
    ok(dcr_in(
        &store,
        &[],
        &["image", "--insecure", "pull", &format!("{}/cp/counter@{digest}", reg.host()), s(&pinned)],
    ));
    let other = format!("{}/cp/counter@sha256:{}", reg.host(), "0".repeat(64));
    fails_with(&dcr_in(&store, &[], &["image", "--insecure", "pull", &other, s(&tmp.join("x"))]), 5, "no image");

    // restore IMAGE: pulled, verified, restored in one step; the dry run
    // first, which changes nothing.
    let o = ok(dcr_in(&store, &[], &["restore", "--dry-run", "--insecure", &v3]));
    assert!(text(&o).contains("would restore") && !exists(&c.name), "{}", text(&o));
    let o = ok(dcr_in(&store, &[], &["restore", "--insecure", &v3]));
    assert!(text(&o).contains(&format!("pulled {}/cp/counter@", reg.host())), "the digest pulled: {}", text(&o));
    assert_continues(c.port, &c.token, c.count);
    assert_eq!(docker_ok(&["exec", &c.name, "cat", "/tmp/test.txt"]), "kept");
    store_left_empty(&store);
    // The directory pulled restores too, as any checkpoint directory.
    docker_ok(&["rm", "-f", &c.name]);
    ok(dcr(&["restore", &c.name, s(&dir)]));
    assert_continues(c.port, &c.token, c.count);
    let _ = fs::remove_dir_all(&tmp);
}

/// Nothing of a pull is left in the store's private directories.
#[track_caller]
fn store_left_empty(store: &Path) {
    let left: Vec<String> = fs::read_dir(store)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".image-") || n.starts_with(".push-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left in the store: {left:?}");
}

fn index_digest(reg: &Registry, tag: &str) -> String {
    let o = Command::new("curl")
        .args([
            "-fsSI",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json",
            &format!("http://{}/v2/cp/counter/manifests/{tag}", reg.host()),
        ])
        .bounded();
    let h = String::from_utf8_lossy(&o.stdout).to_lowercase();
    h.lines()
        .find_map(|l| l.strip_prefix("docker-content-digest:").map(|d| d.trim().to_string()))
        .unwrap_or_else(|| panic!("no digest header: {h}"))
}

// Issue 20: a blob changed in the registry's storage is refused on pull,
// and nothing is left where the checkpoint would have been.
#[test]
fn image_tampered_blob_is_refused() {
    let (c, store, tmp) = checkpointed("imgbad");
    let reg = Registry::start(Kind::Plain);
    let image = format!("{}/cp/counter:v1", reg.host());
    ok(dcr_in(&store, &[], &["image", "--insecure", "build", "--push", &format!("{}/cp1", c.name), &image]));
    let index = json(&reg.curl("/v2/cp/counter/manifests/v1", "application/vnd.oci.image.index.v1+json"));
    let md = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let man = json(&reg.curl(&format!("/v2/cp/counter/manifests/{md}"), "application/vnd.oci.image.manifest.v1+json"));
    let layer = man["layers"][0]["digest"].as_str().unwrap();
    let file = reg.blob_file(layer);
    let mut bytes = fs::read(&file).unwrap();
    let n = bytes.len() / 2;
    bytes[n] ^= 0x01;
    fs::write(&file, &bytes).unwrap();
    let parent = tmp.join("into");
    fs::create_dir_all(&parent).unwrap();
    let dir = parent.join("pulled");
    let o = dcr_in(&store, &[], &["image", "--insecure", "pull", &image, s(&dir)]);
    let t = text(&o);
    assert!(!o.status.success(), "a tampered layer was accepted:\n{t}");
    // Found by the digest, or before it by zstd's own frame checksum,
    // depending on where the flipped byte falls: refused either way.
    assert!(
        t.contains("does not match its digest") || t.contains("fails its checksum") || t.contains("is damaged at byte"),
        "{t}"
    );
    assert_eq!(fs::read_dir(&parent).unwrap().count(), 0, "something was left: {t}");
    // restore IMAGE refuses it the same way, before any container exists.
    docker_ok(&["rm", "-f", &c.name]);
    let o = dcr_in(&store, &[], &["restore", "--insecure", &image]);
    let t = text(&o);
    assert!(!o.status.success(), "restore took a tampered layer:\n{t}");
    assert!(
        t.contains("does not match its digest") || t.contains("fails its checksum") || t.contains("is damaged at byte"),
        "{t}"
    );
    assert!(!exists(&c.name), "a container was made from a tampered image:\n{t}");
    store_left_empty(&store);
    let _ = fs::remove_dir_all(&tmp);
}

// Issue 20: a registry with htpasswd auth: without a login a clear error
// naming the registry and the fix; `docker login` (the engine's, into a
// private DOCKER_CONFIG); then push and pull with those credentials; a
// wrong password is named as such.
#[test]
fn image_registry_auth() {
    let (c, store, tmp) = checkpointed("imgauth");
    let reg = Registry::start(Kind::Auth);
    let cfg = tmp.join("docker-config");
    fs::create_dir_all(&cfg).unwrap();
    let env = [("DOCKER_CONFIG", s(&cfg))];
    let image = format!("{}/cp/counter:v1", reg.host());
    let cp = format!("{}/cp1", c.name);
    let o = dcr_in(&store, &env, &["image", "--insecure", "build", "--push", &cp, &image]);
    fails_with(&o, 3, &format!("no credentials for {}", reg.host()));
    assert!(text(&o).contains(&format!("docker login {}", reg.host())), "{}", text(&o));

    let mut login = Command::new("docker")
        .args(["--config", s(&cfg), "login", "-u", "dcr", "--password-stdin", &reg.host()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    login.stdin.take().unwrap().write_all(b"s3cret").unwrap();
    let lo = login.wait_with_output().unwrap();
    assert!(lo.status.success(), "docker login: {}\n{}", text(&lo), reg.log());
    let saved = fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(saved.contains(&reg.host()), "docker login kept nothing: {saved}");

    ok(dcr_in(&store, &env, &["image", "--insecure", "build", "--push", &cp, &image]));
    let dir = tmp.join("pulled");
    let t = text(&ok(dcr_in(&store, &env, &["image", "--insecure", "pull", &image, s(&dir)])));
    assert!(t.contains("every file matches its manifest"), "{t}");
    let ls = text(&ok(dcr_in(&store, &env, &["image", "--insecure", "ls", &format!("{}/cp/counter", reg.host())])));
    assert!(ls.contains("v1 "), "{ls}");

    // Without the login, and with a wrong password.
    let none = tmp.join("empty-config");
    fs::create_dir_all(&none).unwrap();
    let o =
        dcr_in(&store, &[("DOCKER_CONFIG", s(&none))], &["image", "--insecure", "pull", &image, s(&tmp.join("p2"))]);
    fails_with(&o, 3, &format!("no credentials for {}", reg.host()));
    let bad = tmp.join("bad-config");
    fs::create_dir_all(&bad).unwrap();
    let auth = base64(b"dcr:wrong");
    fs::write(bad.join("config.json"), format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, reg.host())).unwrap();
    let o = dcr_in(&store, &[("DOCKER_CONFIG", s(&bad))], &["image", "--insecure", "pull", &image, s(&tmp.join("p3"))]);
    fails_with(&o, 3, "refused the credentials (user dcr from");
    assert!(!tmp.join("p2").exists() && !tmp.join("p3").exists());

    // A credential helper (credHelpers), run as the docker CLI runs one:
    // `docker-credential-NAME get`, the registry on stdin, JSON out.
    let helper_dir = tmp.join("bin");
    fs::create_dir_all(&helper_dir).unwrap();
    let asked = tmp.join("asked");
    let helper = helper_dir.join("docker-credential-dcrtest");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat > {}\necho '{{\"ServerURL\":\"x\",\"Username\":\"dcr\",\"Secret\":\"s3cret\"}}'\n",
            asked.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let hcfg = tmp.join("helper-config");
    fs::create_dir_all(&hcfg).unwrap();
    fs::write(hcfg.join("config.json"), format!(r#"{{"credHelpers": {{"{}": "dcrtest"}}}}"#, reg.host())).unwrap();
    let path = format!("{}:{}", helper_dir.display(), std::env::var("PATH").unwrap_or_default());
    let o = dcr_in(
        &store,
        &[("DOCKER_CONFIG", s(&hcfg)), ("PATH", &path)],
        &["image", "--insecure", "pull", &image, s(&tmp.join("p4"))],
    );
    assert!(o.status.success(), "with the credential helper: {}", text(&o));
    assert_eq!(fs::read_to_string(&asked).unwrap(), reg.host(), "the helper was asked for the registry");
    let _ = fs::remove_dir_all(&tmp);
}

// Issue 20: a registry with token auth (the registry's own JWT checks,
// tokens from tests/token-server): the Bearer flow from its challenge, with
// a password, with an identity token (the OAuth2 refresh grant), and the
// errors without and with wrong credentials.
#[test]
fn image_registry_bearer_token() {
    let (c, store, tmp) = checkpointed("imgtok");
    let reg = Registry::start(Kind::Token);
    let image = format!("{}/cp/counter:v1", reg.host());
    let cp = format!("{}/cp1", c.name);
    let config = |name: &str, entry: &str| -> PathBuf {
        let d = tmp.join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("config.json"), format!(r#"{{"auths": {{"{}": {entry}}}}}"#, reg.host())).unwrap();
        d
    };
    let none = config("none", "{}");
    let o = dcr_in(&store, &[("DOCKER_CONFIG", s(&none))], &["image", "--insecure", "build", "--push", &cp, &image]);
    fails_with(&o, 3, &format!("no credentials for {}", reg.host()));
    let pw = config("pw", &format!(r#"{{"auth": "{}"}}"#, base64(b"dcr:s3cret")));
    ok(dcr_in(&store, &[("DOCKER_CONFIG", s(&pw))], &["image", "--insecure", "build", "--push", &cp, &image]));
    let tok = config("tok", r#"{"identitytoken": "rt-secret"}"#);
    let t = text(&ok(dcr_in(
        &store,
        &[("DOCKER_CONFIG", s(&tok))],
        &["image", "--insecure", "pull", &image, s(&tmp.join("p1"))],
    )));
    assert!(t.contains("every file matches its manifest"), "{t}");
    let bad = config("bad", &format!(r#"{{"auth": "{}"}}"#, base64(b"dcr:wrong")));
    let o = dcr_in(&store, &[("DOCKER_CONFIG", s(&bad))], &["image", "--insecure", "pull", &image, s(&tmp.join("p2"))]);
    fails_with(&o, 3, "the token service refused user dcr from");
    let badtok = config("badtok", r#"{"identitytoken": "rt-wrong"}"#);
    let o =
        dcr_in(&store, &[("DOCKER_CONFIG", s(&badtok))], &["image", "--insecure", "pull", &image, s(&tmp.join("p3"))]);
    fails_with(&o, 3, "the token service refused the identity token from");
    // Anonymous pull: the token grants nothing, and the registry says so.
    let o =
        dcr_in(&store, &[("DOCKER_CONFIG", s(&none))], &["image", "--insecure", "pull", &image, s(&tmp.join("p4"))]);
    fails_with(&o, 3, &format!("no credentials for {}", reg.host()));
    let _ = fs::remove_dir_all(&tmp);
}

fn base64(b: &[u8]) -> String {
    let o = Command::new("base64").arg("-w0").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    use std::io::Write as _;
    let mut o = o;
    o.stdin.take().unwrap().write_all(b).unwrap();
    String::from_utf8(o.wait_with_output().unwrap().stdout).unwrap()
}

// Issue 20: TLS with a CA made here: refused (naming certs.d) until the CA
// is trusted the way the docker CLI reads it (DOCKER_CR_CERTS_D points at a
// private certs.d); then push and pull over HTTPS, no --insecure.
#[test]
fn image_registry_tls() {
    let (c, store, tmp) = checkpointed("imgtls");
    let reg = Registry::start(Kind::Tls);
    let image = format!("{}/cp/counter:v1", reg.host());
    let cp = format!("{}/cp1", c.name);
    let empty = tmp.join("no-certs");
    fs::create_dir_all(&empty).unwrap();
    let o = dcr_in(&store, &[("DOCKER_CR_CERTS_D", s(&empty))], &["image", "build", "--push", &cp, &image]);
    fails_with(&o, 3, "ca.crt");
    let certs = reg.certs_d.clone().unwrap();
    let env = [("DOCKER_CR_CERTS_D", s(&certs))];
    ok(dcr_in(&store, &env, &["image", "build", "--push", &cp, &image]));
    let dir = tmp.join("pulled");
    let t = text(&ok(dcr_in(&store, &env, &["image", "pull", &image, s(&dir)])));
    assert!(t.contains("every file matches its manifest"), "{t}");
    // Plain HTTP to a TLS registry is refused by it, not silently used.
    let o = dcr_in(&store, &env, &["image", "--insecure", "pull", &image, s(&tmp.join("p2"))]);
    assert!(!o.status.success(), "{}", text(&o));
    let _ = fs::remove_dir_all(&tmp);
}

// ------------------------------------------------------------------ Podman

/// Podman with a containers.conf of this test's: the sandbox's runtime
/// wrapper (tests/setup-host) under the name `runc`, the runtime Docker's
/// checkpoints name (Podman refuses to restore a checkpoint image under a
/// runtime of another name).
fn podman(args: &[&str]) -> Output {
    static CONF: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let conf = CONF.get_or_init(|| {
        let wrapper = "/usr/local/lib/docker-cr-tests/podman-runc";
        assert!(Path::new(wrapper).exists(), "{wrapper} is missing: run tests/setup-host");
        let p = temp_dir("containers-conf").join("containers.conf");
        fs::write(&p, format!("[engine]\nruntime = \"runc\"\n\n[engine.runtimes]\nrunc = [\"{wrapper}\"]\n")).unwrap();
        p
    });
    Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", conf)
        .stdin(Stdio::null())
        .output()
        .expect("run podman (tests/setup-host installs it)")
}

#[track_caller]
fn podman_ok(args: &[&str]) -> String {
    let o = podman(args);
    assert!(o.status.success(), "podman {args:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn prefix() -> String {
    std::env::var("DCR_PODMAN_PREFIX").unwrap_or_else(|_| "img-".into())
}

struct PodmanCtr(String);
impl Drop for PodmanCtr {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.0]);
    }
}
struct PodmanImage(String);
impl Drop for PodmanImage {
    fn drop(&mut self) {
        let _ = podman(&["rmi", "-f", &self.0]);
    }
}

/// The counter state read through `podman exec`.
fn podman_state(name: &str) -> (String, u64) {
    let s = podman_ok(&["exec", name, "cat", "/var/www/state"]);
    let mut it = s.split_whitespace();
    (it.next().unwrap_or("").to_string(), it.next().and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// Podman has the engine's test image under the same ID (it finds a
/// checkpoint's image by ID): loaded from this engine when it lacks it, by
/// ID (so Podman's own tag does not move), and then removed again when the
/// guard drops.
fn podman_has_engine_image() -> Option<PodmanImage> {
    let id = inspect(IMAGE, "{{.Id}}");
    let id = id.trim_start_matches("sha256:").to_string();
    if podman(&["image", "exists", &id]).status.success() {
        return None;
    }
    let tar = temp_dir("podman-load").join("img.tar");
    docker_ok(&["save", "-o", s(&tar), &id]);
    podman_ok(&["load", "-q", "-i", s(&tar)]);
    assert!(podman(&["image", "exists", &id]).status.success(), "podman load did not bring {id}");
    Some(PodmanImage(id))
}

/// `podman container restore IMAGE` (pulled already) as a new container
/// (`tag` in its name): the counter goes on with its in-memory `token`.
/// The container (removed when dropped), and its name.
fn podman_restores_the_counter(image: &str, tag: &str, token: &str) -> (PodmanCtr, String) {
    let pname = format!("{}{}", prefix(), unique(tag));
    let guard = PodmanCtr(pname.clone());
    let o = podman(&["container", "restore", "--name", &pname, image]);
    assert!(o.status.success(), "podman container restore {image}:\n{}", text(&o));
    let (t, n1) = podman_state(&pname);
    assert_eq!(t, token, "Podman started it from scratch");
    std::thread::sleep(Duration::from_millis(500));
    assert!(podman_state(&pname).1 > n1, "the counter stopped in Podman");
    (guard, pname)
}

// Issue 20 (Docker → Podman through a registry): `podman container restore
// REGISTRY/docker-made:tag` restores docker-cr's image: the counter goes on
// with its in-memory token, the file is there.
#[test]
#[ignore]
fn podman_restores_our_image() {
    require_engine();
    let name = unique("img2pod");
    let _g = Container(name.clone());
    let token = start_counter(&name, 0, &["--network", "none"]);
    docker_ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "while [ ! -s /var/www/state ]; do sleep 0.1; done; echo kept > /tmp/test.txt",
    ]);
    let tmp = temp_dir("img2pod");
    let store = tmp.join("store");
    ok(dcr_in(&store, &[], &["checkpoint", "-q", &name, "cp1"]));
    let reg = Registry::start(Kind::Plain);
    let image = format!("{}/docker-made:v1", reg.host());
    ok(dcr_in(&store, &[], &["image", "--insecure", "build", "--push", &format!("{name}/cp1"), &image]));
    let _base = podman_has_engine_image();
    let _pi = PodmanImage(image.clone());
    podman_ok(&["pull", "-q", "--tls-verify=false", &image]);
    let (_pc, pname) = podman_restores_the_counter(&image, "restored", &token);
    assert_eq!(podman_ok(&["exec", &pname, "cat", "/tmp/test.txt"]), "kept");
    let _ = fs::remove_dir_all(&tmp);
}

// Issue 20 (Docker → Podman over TLS): the registry's certificate from a
// CA made here; docker-cr pushes with that CA trusted (certs.d), Podman
// refuses the registry without it and pulls with it (--cert-dir, the same
// ca.crt; no host file changes), and restores docker-cr's image: the
// counter goes on with its in-memory token.
#[test]
#[ignore]
fn podman_restores_our_image_over_tls() {
    require_engine();
    let name = unique("img2podtls");
    let _g = Container(name.clone());
    let token = start_counter(&name, 0, &["--network", "none"]);
    let tmp = temp_dir("img2podtls");
    let store = tmp.join("store");
    ok(dcr_in(&store, &[], &["checkpoint", "-q", &name, "cp1"]));
    let reg = Registry::start(Kind::Tls);
    let certs = reg.certs_d.clone().unwrap();
    let image = format!("{}/docker-made:tls", reg.host());
    ok(dcr_in(
        &store,
        &[("DOCKER_CR_CERTS_D", s(&certs))],
        &["image", "build", "--push", &format!("{name}/cp1"), &image],
    ));
    let _base = podman_has_engine_image();
    let _pi = PodmanImage(image.clone());
    let o = podman(&["pull", "-q", &image]);
    assert!(!o.status.success(), "Podman pulled from a registry whose CA it does not trust:\n{}", text(&o));
    assert!(text(&o).contains("certificate"), "{}", text(&o));
    podman_ok(&["pull", "-q", "--cert-dir", s(&certs.join(reg.host())), &image]);
    let _pc = podman_restores_the_counter(&image, "restored-tls", &token);
    let _ = fs::remove_dir_all(&tmp);
}

// Issue 20 (Podman → Docker through a registry): Podman's own
// `--create-image` checkpoint, pushed by Podman, pulled by docker-cr into a
// checkpoint directory (recognised as Podman's, converted, unsigned), and
// restored into Docker with --trust: the counter goes on from where it was;
// `restore --trust REGISTRY/podman-made:tag` does it in one step.
#[test]
#[ignore]
fn podman_image_pulled_by_docker_cr() {
    require_engine();
    let reg = Registry::start(Kind::Plain);
    let pname = format!("{}{}", prefix(), unique("podimg"));
    let _pc = PodmanCtr(pname.clone());
    podman_ok(&[
        "run",
        "-d",
        "--name",
        &pname,
        "--network",
        "none",
        &format!("localhost/{IMAGE}"),
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done",
    ]);
    let mut before = 0u64;
    while before < 5 {
        std::thread::sleep(Duration::from_millis(100));
        before = podman_ok(&["exec", &pname, "cat", "/tmp/n"]).parse().unwrap_or(0);
    }
    let local = format!("localhost/{}:1", pname.to_lowercase());
    let _li = PodmanImage(local.clone());
    podman_ok(&["container", "checkpoint", "--create-image", &local, &pname]);
    let image = format!("{}/podman-made:v1", reg.host());
    podman_ok(&["push", "-q", "--tls-verify=false", &local, &image]);
    let tmp = temp_dir("podimg");
    let store = tmp.join("store");
    let dir = tmp.join("pulled");
    let t = text(&ok(dcr_in(&store, &[], &["image", "--insecure", "pull", &image, s(&dir)])));
    assert!(t.contains("made by Podman") && t.contains(&format!("container {pname}")), "{t}");
    assert!(t.contains("converted for Docker: unsigned, restores only with --trust"), "{t}");
    assert!(dir.join("checkpoint/inventory.img").exists() && dir.join("foreign.json").exists());
    let ls = text(&ok(dcr_in(&store, &[], &["image", "--insecure", "ls", &format!("{}/podman-made", reg.host())])));
    assert!(ls.contains("Podman") && ls.contains(&pname), "{ls}");

    // Into Docker: refused without --trust, then restored with it. Docker
    // needs Podman's image of the container (by ID).
    let dname = unique("fromimg");
    let _dc = Container(dname.clone());
    fails_with(&dcr(&["restore", "--name", &dname, &pname, s(&dir)]), 5, "--trust");
    fails_with(&dcr_in(&store, &[], &["restore", "--insecure", "--name", &dname, &image]), 5, "--trust");
    assert!(!exists(&dname));
    let id = podman_ok(&["inspect", "--format", "{{.Image}}", &pname]);
    let _img = (!docker(&["image", "inspect", &id]).status.success()).then(|| {
        let tar = tmp.join("base.tar");
        podman_ok(&["save", "-q", "-o", s(&tar), &id]);
        docker_ok(&["load", "-q", "-i", s(&tar)]);
        ImageGuard(id.clone())
    });
    ok(dcr_in(&store, &[], &["restore", "--insecure", "--trust", "--name", &dname, &image]));
    let n1: u64 = docker_ok(&["exec", &dname, "cat", "/tmp/n"]).parse().unwrap_or(0);
    assert!(n1 >= before, "the counter went back from {before} to {n1}: started from scratch");
    std::thread::sleep(Duration::from_millis(500));
    let n2: u64 = docker_ok(&["exec", &dname, "cat", "/tmp/n"]).parse().unwrap_or(0);
    assert!(n2 > n1, "the counter stopped at {n1}");
    let _ = fs::remove_dir_all(&tmp);
}
