//! Resources running out: Redis at `maxmemory` with `noeviction`, the process at its
//! file-descriptor limit, the embedded store's disk full. In each case a request is
//! answered 503 with `Retry-After` (never a 2xx), what was acknowledged before is
//! still delivered, and hookgate recovers by itself once the resource is back.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::redis::RedisServer;
use crate::support::{Answer, Downstream, Hookgate, HookgateProcess};

/// A status line, its headers (lower-cased names) and body, read from a raw
/// exchange; `None` when the connection gave no answer within 5 s.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Asserts a 503 problem with `Retry-After`.
    fn assert_unavailable(&self, what: &str) {
        assert_eq!(
            self.status,
            503,
            "{what}: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            self.header("retry-after").is_some(),
            "{what}: 503 without Retry-After"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
    }
}

/// POSTs `{"id": id}` on a new connection and reads the whole answer.
async fn post(addr: SocketAddr, id: &str) -> Option<Raw> {
    post_padded(addr, id, 64).await
}

/// The same with `pad` bytes of padding in the body.
async fn post_padded(addr: SocketAddr, id: &str, pad: usize) -> Option<Raw> {
    let body = format!(r#"{{"id":"{id}","pad":"{}"}}"#, "p".repeat(pad));
    let request = format!(
        "POST /in HTTP/1.1\r\nhost: hookgate\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        parse(&answer)
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

fn parse(answer: &[u8]) -> Option<Raw> {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(Raw {
        status,
        headers,
        body: answer[end + 4..].to_vec(),
    })
}

/// Posts `id` until it is accepted (`within` at most); every refusal on the way must
/// be a 503 with `Retry-After`.
async fn until_accepted(addr: SocketAddr, id: &str, within: Duration) {
    let started = Instant::now();
    loop {
        match post(addr, id).await {
            Some(raw) if raw.status == 202 => return,
            Some(raw) => raw.assert_unavailable(&format!("{id} while recovering")),
            None => {}
        }
        assert!(
            started.elapsed() < within,
            "{id} not accepted within {within:?} of the resource coming back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ids the downstream answered 2xx, each once at least.
fn delivered_ids(downstream: &Downstream) -> HashSet<String> {
    downstream
        .received()
        .iter()
        .filter(|r| {
            matches!(
                r.answer,
                Answer::Status {
                    status: 200..=299,
                    ..
                }
            )
        })
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn config(store: &str, target: &str, extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nstore: {store}\n{extra}targets:\n  t: {{ url: \"{target}\", retry: {{ initial_backoff: 50ms, max_backoff: 200ms, max_attempts: 1000 }}, breaker: {{ cool_down: 100ms }} }}\nroutes:\n  - {{ name: r, path: /in, targets: [t] }}\n"
    )
}

/// While `refusing`, the downstream answers 503, so acknowledged deliveries stay in
/// the store through the exhaustion; once healthy it must receive every one.
async fn assert_all_delivered(downstream: &Downstream, acknowledged: &[String]) {
    downstream.set(|b| b.status = http::StatusCode::OK);
    let started = Instant::now();
    loop {
        let seen = delivered_ids(downstream);
        let missing: Vec<_> = acknowledged.iter().filter(|id| !seen.contains(*id)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "acknowledged but never delivered: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Five events acknowledged while the resource lasts: their ids.
async fn acknowledged_before(addr: SocketAddr) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for n in 0..5 {
        let id = format!("before-{n}");
        assert_eq!(post(addr, &id).await.map(|r| r.status), Some(202));
        acknowledged.push(id);
    }
    acknowledged
}

/// Once the resource is back: a new request is accepted, every acknowledged event
/// (with it) is delivered, and none of the refused ones is.
async fn recovered(addr: SocketAddr, downstream: &Downstream, mut acknowledged: Vec<String>) {
    until_accepted(addr, "after-0", Duration::from_secs(5)).await;
    acknowledged.push("after-0".to_owned());
    assert_all_delivered(downstream, &acknowledged).await;
    let refused: Vec<_> = delivered_ids(downstream)
        .into_iter()
        .filter(|id| id.starts_with("refused"))
        .collect();
    assert!(refused.is_empty(), "refused requests were delivered: {refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_at_maxmemory_gets_503_never_2xx_and_hookgate_recovers() {
    let redis = RedisServer::start();
    let downstream = Downstream::start().await;
    downstream.set(|b| b.status = http::StatusCode::SERVICE_UNAVAILABLE);
    let store = format!("{{ redis: {{ url: \"{}\" }} }}", redis.url());
    let hookgate = Hookgate::start(&config(&store, &downstream.url("/t"), "")).await;
    let acknowledged = acknowledged_before(hookgate.addr).await;

    // Past maxmemory: a filler takes more than the limit allows.
    let client = ::redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let filler = vec![b'f'; 4 * 1024 * 1024];
    let () = ::redis::cmd("SET")
        .arg("filler")
        .arg(filler)
        .query_async(&mut connection)
        .await
        .unwrap();
    let info: String = ::redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("used_memory in INFO");
    let limit = used - 2 * 1024 * 1024;
    for (key, value) in [
        ("maxmemory-policy", "noeviction".to_owned()),
        ("maxmemory", limit.to_string()),
    ] {
        let () = ::redis::cmd("CONFIG")
            .arg("SET")
            .arg(key)
            .arg(value)
            .query_async(&mut connection)
            .await
            .unwrap();
    }

    for n in 0..10 {
        let id = format!("refused-{n}");
        let answer = post(hookgate.addr, &id)
            .await
            .expect("an answer while Redis is full");
        answer.assert_unavailable(&id);
    }

    let () = ::redis::cmd("DEL")
        .arg("filler")
        .query_async(&mut connection)
        .await
        .unwrap();
    recovered(hookgate.addr, &downstream, acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_new_connections_get_503_and_hookgate_recovers() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookgate.yaml");
    let yaml = config(
        "{ embedded: { path: data } }",
        &downstream.url("/t"),
        "limits: { header_read_timeout: 60s, max_connections: 100000 }\n",
    );
    std::fs::write(&path, yaml).unwrap();
    let process = HookgateProcess::spawn_with_descriptors(&path, 64);
    let addr = process.addr;
    assert_eq!(post(addr, "before-0").await.map(|r| r.status), Some(202));
    downstream.wait_for(1).await;

    // Idle connections until descriptors run out, and then some.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(
            TcpStream::connect(addr)
                .await
                .expect("the kernel queues connections"),
        );
    }
    for n in 0..5 {
        let id = format!("refused-{n}");
        let answer = post(addr, &id)
            .await
            .unwrap_or_else(|| panic!("{id}: no answer out of file descriptors"));
        answer.assert_unavailable(&id);
    }

    drop(idle);
    until_accepted(addr, "after-0", Duration::from_secs(5)).await;
    downstream.wait_for(2).await;
    assert_eq!(
        delivered_ids(&downstream),
        HashSet::from(["before-0".to_owned(), "after-0".to_owned()]),
        "only the accepted requests are delivered"
    );
    drop(process);
}

/// A tmpfs of `size` mounted for the test; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a {size} tmpfs failed: this test fills a small disk and needs to mount one \
             (root or CAP_SYS_ADMIN, as .ci/run has)"
        );
        Self { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk, byte-sized pieces of it.
        while file.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gets_503_never_2xx_and_the_embedded_store_recovers() {
    let disk = Tmpfs::mount("8m");
    let downstream = Downstream::start().await;
    downstream.set(|b| b.status = http::StatusCode::SERVICE_UNAVAILABLE);
    // Outcomes that cannot be recorded while the disk is full are written again for
    // up to 10 s, then left to their leases (at least once). A short lease keeps such
    // a delivery within the recovery window below, whatever the machine's load.
    let store = format!(
        "{{ embedded: {{ path: \"{}\" }}, lease_timeout: 3s }}",
        disk.path().join("data").display()
    );
    let hookgate = Hookgate::start(&config(&store, &downstream.url("/t"), "")).await;
    let mut acknowledged = acknowledged_before(hookgate.addr).await;

    let filler = disk.fill();
    // The database file may have room left inside it: what it still takes is
    // acknowledged, and must be delivered like the rest.
    let mut first_refusal = None;
    for n in 0..200 {
        let id = format!("filling-{n}");
        let answer = post_padded(hookgate.addr, &id, 16 * 1024)
            .await
            .expect("an answer on a full disk");
        if answer.status == 202 {
            acknowledged.push(id);
            continue;
        }
        answer.assert_unavailable(&id);
        first_refusal = Some(n);
        break;
    }
    let first_refusal = first_refusal.expect("200 requests of 16 KiB accepted on a full disk");
    eprintln!("first refusal after {first_refusal} requests on the full disk");
    for n in 0..10 {
        let id = format!("refused-{n}");
        let answer = post(hookgate.addr, &id).await.expect("an answer on a full disk");
        answer.assert_unavailable(&id);
    }

    std::fs::remove_file(filler).unwrap();
    recovered(hookgate.addr, &downstream, acknowledged).await;
    drop(hookgate);
}
