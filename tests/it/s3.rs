//! s3:// inputs against a real S3-compatible server on loopback: moto's standalone server, from
//! the venv .ci/run installs (`$OPTML_S3_VENV`). Buckets and objects are created through the S3
//! API (boto3 in that venv). Nothing leaves 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;

/// The venv with `moto[server]` and boto3; tests fail under CI when it is missing and are
/// skipped (loudly) elsewhere.
pub(crate) fn s3_venv() -> Option<PathBuf> {
    let venv = std::env::var_os("OPTML_S3_VENV").map(PathBuf::from).filter(|v| v.join("bin/moto_server").exists());
    if venv.is_none() {
        let message = "the S3 test venv is missing: set OPTML_S3_VENV to a venv with `pip install 'moto[server]==5.2.5' boto3` (.ci/run does this)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPING S3 TEST: {message}");
    }
    venv
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A moto server on a free loopback port, killed when dropped.
pub(crate) struct Moto {
    child: Child,
    pub(crate) venv: PathBuf,
    pub(crate) endpoint: String,
}

impl Moto {
    pub(crate) fn start() -> Option<Moto> {
        Moto::start_with(&[])
    }

    /// A moto server started with `env` (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`: IAM enforced
    /// after that many requests).
    fn start_with(env: &[(&str, &str)]) -> Option<Moto> {
        let venv = s3_venv()?;
        let port = free_port();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto { child, venv, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// Create `bucket` and upload each (key, file) through the S3 API.
    pub(crate) fn put(&self, bucket: &str, objects: &[(&str, &Path)]) {
        let mut script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\ns3.create_bucket(Bucket='{bucket}')\n",
            self.endpoint
        );
        for (key, path) in objects {
            script.push_str(&format!("s3.upload_file('{}', '{bucket}', '{key}')\n", path.display()));
        }
        let status = Command::new(self.venv.join("bin/python")).arg("-c").arg(&script).status().expect("run python");
        assert!(status.success(), "uploading through boto3 failed");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `optml` with loopback-only AWS settings: moto's test credentials, no config files, no
/// instance metadata.
pub(crate) fn optml_s3() -> assert_cmd::Command {
    let mut command = optml();
    command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    command
}

/// `optml check --format json` on `input` with loopback-only AWS settings.
fn check_s3(endpoint: &str, input: &str) -> (i32, serde_json::Value, String) {
    check_s3_with(endpoint, input, &[])
}

/// [`check_s3`] with more flags.
fn check_s3_with(endpoint: &str, input: &str, flags: &[&str]) -> (i32, serde_json::Value, String) {
    let output = optml_s3().args(["check", "--format", "json", "--endpoint-url", endpoint]).args(flags).arg(input).output().expect("run optml");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let doc = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code().expect("exit code"), doc, stderr)
}

/// Rule, member and severity of every diagnostic: what must not depend on where the bytes came from.
fn findings(doc: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut found: Vec<_> = doc["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| (d["rule"].to_string(), d["member"].to_string(), d["severity"].to_string()))
        .collect();
    found.sort();
    found
}

/// The error text with miette's wrapping and gutters undone.
fn unwrapped(stderr: &str) -> String {
    stderr.split_whitespace().filter(|word| *word != "│" && *word != "×").collect::<Vec<_>>().join(" ")
}

/// Bytes gzip cannot shrink, so the archive is large enough to be cut mid-body.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn model_archive(dir: &TestDir, name: &str, big: &[u8]) -> PathBuf {
    tar_gz(dir, name, &[Member::File("model.pt", &TORCHSCRIPT), Member::File("../escape.py", b"x"), Member::File("weights.bin", big)])
}

#[test]
fn streamed_archive_has_the_findings_of_the_local_file_and_its_metadata() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    let archive = model_archive(&dir, "model.tar.gz", b"weights");
    moto.put("models", &[("job-1/output/model.tar.gz", &archive)]);
    let (local_code, local) = check_json(&[archive.as_os_str()]);
    let (code, remote, stderr) = check_s3(&moto.endpoint, "s3://models/job-1/output/model.tar.gz");
    assert_eq!(code, local_code, "{stderr}");
    assert!(!findings(&local).is_empty());
    assert_eq!(findings(&remote), findings(&local));
    let object = &remote["inputs"][0]["parts"][0]["object"];
    assert_eq!(object["url"], "s3://models/job-1/output/model.tar.gz");
    assert_eq!(object["size"], std::fs::metadata(&archive).expect("size").len());
    assert!(object["etag"].as_str().is_some_and(|etag| etag.len() > 2), "{object}");
    assert!(object["last_modified"].as_str().is_some(), "{object}");
}

#[test]
fn a_job_prefix_is_a_job_folder() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    let model = model_archive(&dir, "model.tar.gz", b"weights");
    let output = tar_gz(&dir, "output.tar.gz", &[Member::File("metrics.json", b"{}")]);
    moto.put("jobs", &[("train-7/output/model.tar.gz", &model), ("train-7/output/output.tar.gz", &output)]);
    let (_, doc, stderr) = check_s3(&moto.endpoint, "s3://jobs/train-7/");
    assert_eq!(doc["inputs"][0]["kind"], "job", "{stderr}");
    let parts: Vec<&str> = doc["inputs"][0]["parts"].as_array().expect("parts").iter().map(|p| p["path"].as_str().expect("path")).collect();
    assert_eq!(parts, ["output/model.tar.gz", "output/output.tar.gz"]);
}

#[test]
fn missing_key_bucket_and_prefix_fail_with_exit_2_naming_them() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    let archive = model_archive(&dir, "model.tar.gz", b"weights");
    moto.put("models", &[("a/model.tar.gz", &archive), ("b/notes/model.tar.gz", &archive)]);
    for (input, message) in [
        ("s3://models/nope/model.tar.gz", "s3://models/nope/model.tar.gz: no such key"),
        ("s3://no-such-bucket/model.tar.gz", "s3://no-such-bucket/model.tar.gz: no such key (or no such bucket)"),
        ("s3://no-such-bucket/job/", "s3://no-such-bucket/job/: no such bucket"),
        ("s3://models/c/", "s3://models/c/: no object under the prefix"),
    ] {
        let (code, _, stderr) = check_s3(&moto.endpoint, input);
        let stderr = unwrapped(&stderr);
        assert_eq!(code, 2, "{input}: {stderr}");
        assert!(stderr.contains(message), "{input}: {stderr}");
    }
}

#[test]
fn a_wrong_endpoint_fails_with_exit_2() {
    if s3_venv().is_none() {
        return;
    }
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let (code, _, stderr) = check_s3(&endpoint, "s3://models/model.tar.gz");
    let stderr = unwrapped(&stderr);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&format!("s3://models/model.tar.gz: cannot reach the S3 endpoint {endpoint} (Connection refused")), "{stderr}");
}

/// What a [`proxy`] does with each chunk the server sends: relay it to the client (or part of
/// it) and say whether the connection goes on.
pub(crate) type Relay = Box<dyn FnMut(&[u8], &mut TcpStream) -> bool + Send>;

/// A proxy on loopback in front of `target`: every byte from the client passes through; the
/// server's go through a fresh `relay()` per connection.
pub(crate) fn proxy(target: &str, relay: impl Fn() -> Relay + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let target = target.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&target) else { continue };
            let (mut client_in, mut server_out) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
            });
            let mut relay = relay();
            std::thread::spawn(move || {
                let (mut server_in, mut client_out) = (server, client);
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = server_in.read(&mut buf) {
                    if !relay(&buf[..n], &mut client_out) {
                        let _ = server_in.shutdown(std::net::Shutdown::Both);
                        break;
                    }
                }
                let _ = client_out.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    address
}

/// A proxy in front of `target` that cuts the first connection to have sent `cut_after`
/// bytes back to the client, once; every other byte passes through.
fn cutting_proxy(target: &str, cut_after: usize) -> String {
    let cut = Arc::new(AtomicBool::new(false));
    proxy(target, move || {
        let (cut, mut sent) = (Arc::clone(&cut), 0usize);
        Box::new(move |chunk: &[u8], client: &mut TcpStream| {
            if sent + chunk.len() > cut_after && !cut.swap(true, Ordering::SeqCst) {
                let _ = client.write_all(&chunk[..cut_after - sent]);
                return false;
            }
            sent += chunk.len();
            client.write_all(chunk).is_ok()
        })
    })
}

#[test]
fn a_dropped_download_resumes_from_the_byte_reached() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    let archive = model_archive(&dir, "model.tar.gz", &noise(600 * 1024));
    moto.put("models", &[("big/model.tar.gz", &archive)]);
    let (local_code, local) = check_json(&[archive.as_os_str()]);
    let proxy = cutting_proxy(&moto.endpoint, 200 * 1024);
    let (code, remote, stderr) = check_s3(&proxy, "s3://models/big/model.tar.gz");
    assert!(stderr.contains("s3://models/big/model.tar.gz: the download broke off at byte"), "{stderr}");
    assert!(stderr.contains("resuming from there (1 of 3)"), "{stderr}");
    assert_eq!(code, local_code, "{stderr}");
    assert_eq!(findings(&remote), findings(&local));
}

/// A proxy in front of `target` that passes every byte and keeps what the client sent (the
/// requests: the SDK's GETs and HEADs have no body), to show which objects were asked for.
fn recording_proxy(target: &str) -> (String, Arc<std::sync::Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let target = target.trim_start_matches("http://").to_string();
    let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&sent);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&target) else { continue };
            let (mut client_in, mut server_out) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = client_in.read(&mut buf) {
                    if n == 0 || server_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    log.lock().expect("log").extend_from_slice(&buf[..n]);
                }
                let _ = server_out.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let (mut server_in, mut client_out) = (server, client);
                let _ = std::io::copy(&mut server_in, &mut client_out);
                let _ = client_out.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (address, sent)
}

/// The request lines (`GET /bucket/key HTTP/1.1`) and Range headers the client sent.
fn requests(log: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(log)
        .lines()
        .filter(|line| line.starts_with("GET ") || line.starts_with("HEAD ") || line.to_ascii_lowercase().starts_with("range:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn an_uncompressed_model_prefix_is_checked_from_its_listing_without_fetching_the_weights() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    // A handler file at the root instead of under code/ (found only by reading its content), a
    // TorchScript file (its zip listing read from its tail), and weights nothing reads.
    dir.file("model/serve.py", "def model_fn(model_dir):\n    return None\n");
    dir.file_bytes("model/model.pt", &TORCHSCRIPT);
    dir.file_bytes("model/weights/shard-1.bin", &noise(256 * 1024));
    dir.file("model/code/requirements.txt", "torch\n");
    let keys = ["serve.py", "model.pt", "weights/shard-1.bin", "code/requirements.txt"].map(|rel| (format!("llm/{rel}"), dir.join(&format!("model/{rel}"))));
    moto.put("models", &keys.iter().map(|(key, path)| (key.as_str(), path.as_path())).collect::<Vec<_>>());
    let (local_code, local) = check_json(&[dir.join("model").as_os_str()]);
    let (proxy, log) = recording_proxy(&moto.endpoint);
    let (code, remote, stderr) = check_s3(&proxy, "s3://models/llm/");
    assert_eq!(code, local_code, "{stderr}");
    assert!(findings(&local).iter().any(|(_, member, _)| member.contains("serve.py")), "{:?}", findings(&local));
    assert_eq!(findings(&remote), findings(&local));
    let input = &remote["inputs"][0];
    assert_eq!((input["kind"].as_str(), input["parts"][0]["role"].as_str()), (Some("tree"), Some("model")), "{input}");
    assert_eq!(input["parts"][0]["object"]["url"], "s3://models/llm/");
    let requests = requests(&log.lock().expect("log"));
    assert!(!requests.iter().any(|line| line.contains("shard-1.bin")), "the weights were asked for: {requests:?}");
    assert!(requests.iter().any(|line| line.starts_with("GET /models/llm/serve.py")), "{requests:?}");
    // Every object GET is ranged: at most the capture limit, or the zip tail.
    let gets = requests.iter().filter(|line| line.starts_with("GET /models/llm/")).count();
    let ranges = requests.iter().filter(|line| line.to_ascii_lowercase().starts_with("range:")).count();
    assert_eq!(gets, ranges, "{requests:?}");
}

#[test]
fn as_overrides_the_role_of_a_prefix_and_a_job_prefix_with_an_uncompressed_model_is_a_job() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    dir.file("job/output/model/serve.py", "def model_fn(model_dir):\n    return None\n");
    dir.file("job/output/success", "");
    moto.put("jobs", &[("train-9/output/model/serve.py", &dir.join("job/output/model/serve.py")), ("train-9/output/success", &dir.join("job/output/success"))]);
    let (local_code, local) = check_json(&[dir.join("job").as_os_str()]);
    let (code, remote, stderr) = check_s3(&moto.endpoint, "s3://jobs/train-9/");
    assert_eq!(remote["inputs"][0]["kind"], "job", "{stderr}");
    assert_eq!(remote["inputs"][0]["parts"][0]["path"], "output/model", "{stderr}");
    assert_eq!(code, local_code, "{stderr}");
    assert_eq!(findings(&remote), findings(&local));
    let (_, forced, stderr) = check_s3_with(&moto.endpoint, "s3://jobs/train-9/", &["--as", "model"]);
    let input = &forced["inputs"][0];
    assert_eq!((input["kind"].as_str(), input["parts"][0]["role"].as_str()), (Some("tree"), Some("model")), "{stderr}");
}

#[test]
fn snapshot_diff_and_check_snapshot_read_s3_inputs_as_they_read_local_ones() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    let archive = model_archive(&dir, "model.tar.gz", b"weights");
    dir.file("prefix/serve.py", "def model_fn(model_dir):\n    return None\n");
    dir.file("prefix/code/requirements.txt", "torch\n");
    moto.put(
        "models",
        &[("a/model.tar.gz", &archive), ("p/serve.py", &dir.join("prefix/serve.py")), ("p/code/requirements.txt", &dir.join("prefix/code/requirements.txt"))],
    );
    let run = |args: &[&str]| {
        let output = optml_s3().args(args).args(["--endpoint-url", &moto.endpoint]).output().expect("run optml");
        (output.status.code().expect("exit code"), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    for (remote, local) in [("s3://models/a/model.tar.gz", archive.clone()), ("s3://models/p/", dir.join("prefix"))] {
        let local = local.to_str().expect("utf-8 path");
        let (code, from_s3, stderr) = run(&["snapshot", remote]);
        assert_eq!(code, 0, "{remote}: {stderr}");
        let (_, from_disk, _) = run(&["snapshot", local]);
        assert_eq!(from_s3, from_disk, "{remote}");
        let (code, _, stderr) = run(&["diff", local, remote]);
        assert_eq!(code, 0, "{remote}: {stderr}");
        let golden = dir.join("golden.snap");
        std::fs::write(&golden, &from_disk).expect("write golden");
        let (code, _, stderr) = run(&["check", "--snapshot", golden.to_str().expect("utf-8"), "--exit-zero", remote]);
        assert_eq!(code, 0, "{remote}: {stderr}");
        assert!(!dir.join("golden.snap.new").exists(), "{remote}: the S3 input differs from its golden: {stderr}");
    }
}

/// A proxy in front of `target` that answers the first `throttled` requests with S3's
/// `503 SlowDown` (closing the connection) and forwards everything after.
fn throttling_proxy(target: &str, throttled: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let target = target.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        let mut refused = 0usize;
        for mut client in listener.incoming().flatten() {
            if refused < throttled {
                refused += 1;
                // Read the request head before answering, as a server does.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
                let _ = write!(
                    client,
                    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                continue;
            }
            let Ok(server) = TcpStream::connect(&target) else { continue };
            let (mut client_in, mut server_out) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
            });
            std::thread::spawn(move || {
                let (mut server_in, mut client_out) = (server, client);
                let _ = std::io::copy(&mut server_in, &mut client_out);
                let _ = client_out.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    address
}

#[test]
fn throttling_is_retried_with_backoff_and_a_store_that_keeps_throttling_is_exit_2() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    let archive = model_archive(&dir, "model.tar.gz", b"weights");
    moto.put("models", &[("a/model.tar.gz", &archive)]);
    let (local_code, local) = check_json(&[archive.as_os_str()]);
    let (code, remote, stderr) = check_s3(&throttling_proxy(&moto.endpoint, 2), "s3://models/a/model.tar.gz");
    assert_eq!(code, local_code, "{stderr}");
    assert_eq!(findings(&remote), findings(&local));
    let (code, _, stderr) = check_s3(&throttling_proxy(&moto.endpoint, usize::MAX), "s3://models/a/model.tar.gz");
    let stderr = unwrapped(&stderr);
    assert_eq!(code, 2, "{stderr}");
    // The first request is a HEAD: no body, so no error code, only the status.
    assert!(stderr.contains("s3://models/a/model.tar.gz: the store kept throttling the requests (503 Slow Down; 4 attempts with backoff)"), "{stderr}");
}

#[test]
fn access_denied_names_the_key_and_the_principal_with_exit_2() {
    // The setup's five requests run unauthenticated; from then on moto enforces IAM.
    let Some(moto) = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "5")]) else { return };
    let script = format!(
        r#"import boto3, json
kw = dict(endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')
s3, iam = boto3.client('s3', **kw), boto3.client('iam', **kw)
s3.create_bucket(Bucket='locked')
s3.put_object(Bucket='locked', Key='m/model.tar.gz', Body=b'x')
iam.create_user(UserName='ci-reader')
policy = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": ["s3:ListBucket", "sts:GetCallerIdentity"], "Resource": "*"}}]}}
iam.put_user_policy(UserName='ci-reader', PolicyName='list-only', PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName='ci-reader')['AccessKey']
print(key['AccessKeyId'], key['SecretAccessKey'])"#,
        moto.endpoint
    );
    let output = Command::new(moto.venv.join("bin/python")).arg("-c").arg(&script).output().expect("run python");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let keys = String::from_utf8(output.stdout).expect("utf-8");
    let (id, secret) = keys.trim().split_once(' ').expect("two keys");
    // A key, and a prefix that lists (ListBucket is allowed) but whose archive cannot be read.
    for input in ["s3://locked/m/model.tar.gz", "s3://locked/m/"] {
        let output = optml_s3()
            .args(["check", "--endpoint-url", &moto.endpoint, input])
            .env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .output()
            .expect("run optml");
        let stderr = unwrapped(&String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(2), "{input}: {stderr}");
        assert!(
            stderr.contains("s3://locked/m/model.tar.gz: access denied (403 Forbidden); principal arn:aws:iam::123456789012:user/ci-reader"),
            "{input}: {stderr}"
        );
    }
}

#[test]
fn an_object_replaced_mid_download_is_read_again_from_the_beginning_once() {
    let Some(moto) = Moto::start() else { return };
    let dir = TestDir::new();
    let first = model_archive(&dir, "first.tar.gz", &noise(600 * 1024));
    let second = tar_gz(&dir, "second.tar.gz", &[Member::File("model.pt", &TORCHSCRIPT), Member::File("/abs.py", b"x")]);
    moto.put("models", &[("j/model.tar.gz", &first)]);
    let (local_code, local) = check_json(&[second.as_os_str()]);
    // The first connection is cut mid-body after the object was replaced: the resume's If-Match fails.
    let replace = format!(
        "import boto3\nboto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').upload_file('{}', 'models', 'j/model.tar.gz')",
        moto.endpoint,
        second.display()
    );
    let python = moto.venv.join("bin/python");
    let cut = Arc::new(AtomicBool::new(false));
    let endpoint = proxy(&moto.endpoint, move || {
        let (cut, python, replace, mut sent) = (Arc::clone(&cut), python.clone(), replace.clone(), 0usize);
        Box::new(move |chunk: &[u8], client: &mut TcpStream| {
            if sent + chunk.len() > 200 * 1024 && !cut.swap(true, Ordering::SeqCst) {
                assert!(Command::new(&python).arg("-c").arg(&replace).status().expect("run python").success());
                return false;
            }
            sent += chunk.len();
            client.write_all(chunk).is_ok()
        })
    });
    let (code, remote, stderr) = check_s3(&endpoint, "s3://models/j/model.tar.gz");
    assert!(stderr.contains("s3://models/j/model.tar.gz: the object changed while it was read (ETag"), "{stderr}");
    assert!(stderr.contains("reading it again from the beginning, once"), "{stderr}");
    assert_eq!(code, local_code, "{stderr}");
    assert_eq!(findings(&remote), findings(&local));
}
