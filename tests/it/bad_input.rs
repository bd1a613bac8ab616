//! Hostile and malformed input, as bytes on real sockets, to a hookgate process.
//! Every case must get its answer (a problem document with the right status and
//! type; a bare status only where the HTTP library answers before hookgate sees the
//! request; or a closed connection), none may deliver anything, a valid request
//! right after must be accepted and delivered, and hookgate's memory must stay
//! bounded through all of them.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{rss_kib, send, Downstream, HookgateProcess};

/// How much hookgate's RSS may grow over the whole suite: a 50 MB body or a
/// 10,000-event request held in memory would exceed it.
const RSS_GROWTH_KIB: u64 = 48 * 1024;

/// The header timeout: slow and idle connections must be closed soon after it.
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// What a case must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A problem document: status and type slug.
    Problem(u16, &'static str),
    /// A problem document, then the connection closed with nothing more sent.
    ProblemThenClosed(u16, &'static str),
    /// A bare status from the HTTP library (documented in the README), then the
    /// connection closed with nothing more sent.
    Bare(u16),
    /// The connection closed, with no answer or a non-2xx one.
    Closed,
}

/// How a case is sent.
enum Sending {
    /// These bytes at once, then the answer is read.
    Bytes(Vec<u8>),
    /// These bytes, then one more byte every 200 ms for as long as the server reads.
    Trickle(Vec<u8>),
    /// This head, then `total` bytes of body in 64 KiB writes (as chunks, if
    /// `chunked`) while the answer is read.
    Stream {
        head: Vec<u8>,
        total: usize,
        chunked: bool,
    },
}

struct Case {
    name: &'static str,
    sending: Sending,
    expect: Expect,
}

/// What came back on the connection.
#[derive(Debug, Default)]
struct Outcome {
    status: Option<u16>,
    content_type: Option<String>,
    body: Vec<u8>,
    /// When the connection was closed by the server, counted from the first byte sent.
    closed_after: Option<Duration>,
    /// Bytes sent after the first response (a second response means a smuggled
    /// request was served).
    after_answer: Vec<u8>,
}

fn request(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nhost: hookgate\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut out = out.into_bytes();
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn json(path: &str, body: &[u8]) -> Vec<u8> {
    let length = body.len().to_string();
    request(
        path,
        &[("content-type", "application/json"), ("content-length", &length)],
        body,
    )
}

fn cases() -> Vec<Case> {
    let bytes = |name, sending: Vec<u8>, expect| Case {
        name,
        sending: Sending::Bytes(sending),
        expect,
    };
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_objects = "{\"a\":".repeat(5_000) + "1" + &"}".repeat(5_000);
    let many_events = format!(
        "[{}]",
        (0..10_000)
            .map(|n| format!("{{\"n\":{n}}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let long_uri = format!("/plain?{}", "q".repeat(9 * 1024));
    let big_header = "v".repeat(70 * 1024);
    let many_headers: Vec<(String, &str)> = (0..150).map(|n| (format!("x-h{n}"), "1")).collect();
    let many_headers: Vec<(&str, &str)> = many_headers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    // Each smuggling attempt carries a second request behind the first one's body,
    // which a server reading the other length would take for a new request.
    let smuggled = json("/plain", br#"{"id":"smuggled"}"#);
    let with_smuggled = |mut first: Vec<u8>| {
        first.extend_from_slice(&smuggled);
        first
    };
    let cl_te = with_smuggled(request(
        "/plain",
        &[
            ("content-type", "application/json"),
            ("content-length", "5"),
            ("transfer-encoding", "chunked"),
        ],
        b"0\r\n\r\n",
    ));
    let te_cl = with_smuggled(request(
        "/plain",
        &[
            ("content-type", "application/json"),
            ("transfer-encoding", "chunked"),
            ("content-length", "5"),
        ],
        b"0\r\n\r\n",
    ));
    let conflicting_lengths = with_smuggled(request(
        "/plain",
        &[
            ("content-type", "application/json"),
            ("content-length", "14"),
            ("content-length", "3"),
        ],
        br#"{"id":"twice"}"#,
    ));
    vec![
        bytes(
            "malformed JSON",
            json("/plain", b"{\"id\": nope}"),
            Expect::Problem(400, "invalid-json"),
        ),
        bytes(
            "truncated JSON",
            json("/plain", b"{\"id\":\"trunc"),
            Expect::Problem(400, "invalid-json"),
        ),
        bytes(
            "trailing garbage after JSON",
            json("/plain", b"{\"id\":\"x\"} {}"),
            Expect::Problem(400, "invalid-json"),
        ),
        bytes(
            "empty JSON body",
            json("/plain", b""),
            Expect::Problem(400, "invalid-json"),
        ),
        bytes(
            "100,000 nested arrays",
            json("/split", deep.as_bytes()),
            Expect::Problem(400, "invalid-json"),
        ),
        bytes(
            "5,000 nested objects",
            json("/ruled", deep_objects.as_bytes()),
            Expect::Problem(400, "invalid-json"),
        ),
        bytes(
            "invalid UTF-8 in a JSON string",
            json("/plain", b"{\"id\":\"\xff\xfe\"}"),
            Expect::Problem(400, "invalid-json"),
        ),
        bytes(
            "no content-type on a JSON route",
            request("/plain", &[("content-length", "2")], b"{}"),
            Expect::Problem(415, "unsupported-media-type"),
        ),
        bytes(
            "body over the limit, with Content-Length",
            json("/plain", &vec![b' '; 64 * 1024 + 1]),
            Expect::Problem(413, "payload-too-large"),
        ),
        Case {
            name: "50 MB body announced by Content-Length",
            sending: Sending::Stream {
                head: request(
                    "/plain",
                    &[
                        ("content-type", "application/json"),
                        ("content-length", "52428800"),
                    ],
                    b"",
                ),
                total: 50 << 20,
                chunked: false,
            },
            expect: Expect::Problem(413, "payload-too-large"),
        },
        Case {
            name: "50 MB chunked body, no Content-Length",
            sending: Sending::Stream {
                head: request(
                    "/plain",
                    &[
                        ("content-type", "application/json"),
                        ("transfer-encoding", "chunked"),
                    ],
                    b"",
                ),
                total: 50 << 20,
                chunked: true,
            },
            expect: Expect::Problem(413, "payload-too-large"),
        },
        bytes(
            "a 9 KiB request target",
            json(&long_uri, b"{}"),
            Expect::Problem(414, "uri-too-long"),
        ),
        bytes(
            "a 70 KiB header",
            request(
                "/plain",
                &[
                    ("content-type", "application/json"),
                    ("content-length", "2"),
                    ("x-big", &big_header),
                ],
                b"{}",
            ),
            Expect::Problem(431, "headers-too-large"),
        ),
        bytes(
            "150 header fields",
            request("/plain", &many_headers, b""),
            Expect::Problem(431, "headers-too-large"),
        ),
        Case {
            name: "slowloris: a head sent a byte at a time",
            sending: Sending::Trickle(b"POST /plain HTTP/1.1\r\nhost: hookgate\r\n".to_vec()),
            expect: Expect::Closed,
        },
        Case {
            name: "a body sent a byte at a time",
            sending: Sending::Trickle(request(
                "/plain",
                &[("content-type", "application/json"), ("content-length", "1000")],
                b"{",
            )),
            expect: Expect::Problem(408, "body-timeout"),
        },
        bytes("an idle HTTP/1 connection", Vec::new(), Expect::Closed),
        bytes(
            "an idle HTTP/2 connection (preface and SETTINGS)",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec(),
            Expect::Closed,
        ),
        // Transfer-Encoding wins (RFC 9112 §6.3): an empty body, then the connection
        // is closed, so the request behind it is never read.
        bytes(
            "smuggling: Content-Length then Transfer-Encoding",
            cl_te,
            Expect::ProblemThenClosed(400, "invalid-json"),
        ),
        bytes(
            "smuggling: Transfer-Encoding then Content-Length",
            te_cl,
            Expect::ProblemThenClosed(400, "invalid-json"),
        ),
        bytes(
            "smuggling: two different Content-Lengths",
            conflicting_lengths,
            Expect::Bare(400),
        ),
        bytes(
            "path parameter `..`",
            json("/p/..", b"{}"),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "path parameter `%2e%2e`",
            json("/p/%2e%2e", b"{}"),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "path parameter `.%2E`",
            json("/p/.%2E", b"{}"),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "path parameter `%2E`",
            json("/p/%2E", b"{}"),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "a number on a rule route",
            json("/ruled", b"42"),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "a string on a rule route",
            json("/ruled", b"\"type\""),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "null on a rule route",
            json("/ruled", b"null"),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "an array on a rule route without split",
            json("/ruled", br#"[{"type":"a"}]"#),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "a boolean on a split route",
            json("/split", b"true"),
            Expect::Problem(400, "invalid-event"),
        ),
        bytes(
            "a 10,000-event array",
            json("/split", many_events.as_bytes()),
            Expect::Problem(413, "too-many-events"),
        ),
    ]
}

/// Sends `case` on a fresh connection and reads what comes back: the first
/// response, and with `linger`, whatever follows until the server closes.
async fn run(addr: std::net::SocketAddr, sending: Sending, linger: bool) -> Outcome {
    let stream = TcpStream::connect(addr).await.expect("connect to hookgate");
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let write = async move {
        match sending {
            Sending::Bytes(bytes) => {
                let _ = writer.write_all(&bytes).await;
            }
            Sending::Trickle(head) => {
                let _ = writer.write_all(&head).await;
                while writer.write_all(b"x").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Sending::Stream { head, total, chunked } => {
                let _ = writer.write_all(&head).await;
                let mut chunk = Vec::new();
                if chunked {
                    chunk.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
                }
                chunk.extend_from_slice(&[b' '; 64 * 1024]);
                if chunked {
                    chunk.extend_from_slice(b"\r\n");
                }
                let mut sent = 0;
                while sent < total {
                    if writer.write_all(&chunk).await.is_err() {
                        break;
                    }
                    sent += 64 * 1024;
                }
            }
        }
        // Keep the write side open: a half-close could end a case early.
        std::future::pending::<()>().await;
    };
    let read = async move {
        let mut outcome = Outcome::default();
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(answer) = parse(&buffer) {
                outcome.status = Some(answer.0);
                outcome.content_type = answer.1;
                outcome.body = answer.2;
                if linger {
                    let consumed = buffer.len();
                    loop {
                        match reader.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    outcome.closed_after = Some(started.elapsed());
                    outcome.after_answer = buffer[consumed..].to_vec();
                }
                return outcome;
            }
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    outcome.closed_after = Some(started.elapsed());
                    if let Some((status, content_type, body)) = parse_partial(&buffer) {
                        outcome.status = Some(status);
                        outcome.content_type = content_type;
                        outcome.body = body;
                    }
                    return outcome;
                }
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::select! {
        outcome = read => outcome,
        () = write => unreachable!(),
        () = tokio::time::sleep(Duration::from_secs(15)) => Outcome::default(),
    }
}

/// The first response in `buffer` once complete: status, content type and body.
fn parse(buffer: &[u8]) -> Option<(u16, Option<String>, Vec<u8>)> {
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buffer[..end]);
    let status = head.get(9..12)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .find_map(|line| line.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v.trim().to_owned())
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let body = buffer.get(end + 4..end + 4 + length)?.to_vec();
    Some((status, header("content-type"), body))
}

/// What a closed connection left: a response head, with as much body as arrived.
fn parse_partial(buffer: &[u8]) -> Option<(u16, Option<String>, Vec<u8>)> {
    let mut padded = buffer.to_vec();
    padded.extend_from_slice(&[0; 1 << 16]);
    parse(&padded)
}

/// Checks `outcome` against `expect`; the reason it fails, if it does.
fn judge(outcome: &Outcome, expect: Expect) -> Result<(), String> {
    let body = String::from_utf8_lossy(&outcome.body);
    match expect {
        Expect::Problem(status, slug) => {
            if outcome.status != Some(status) {
                return Err(format!("expected {status} {slug}, got {outcome:?} ({body})"));
            }
            if outcome.content_type.as_deref() != Some("application/problem+json") {
                return Err(format!(
                    "expected a problem document, got {:?}",
                    outcome.content_type
                ));
            }
            let problem: serde_json::Value = serde_json::from_slice(&outcome.body)
                .map_err(|e| format!("problem is not JSON ({e}): {body}"))?;
            if problem["type"] != format!("urn:hookgate:problem:{slug}") {
                return Err(format!("expected type {slug}, got {problem}"));
            }
            Ok(())
        }
        Expect::ProblemThenClosed(status, slug) => {
            judge(outcome, Expect::Problem(status, slug))?;
            closed_after_answer(outcome)
        }
        Expect::Bare(status) if outcome.status == Some(status) => closed_after_answer(outcome),
        Expect::Bare(status) => Err(format!("expected a bare {status}, got {outcome:?}")),
        Expect::Closed => match (outcome.closed_after, outcome.status) {
            (_, Some(status)) if (200..300).contains(&status) => Err(format!("accepted: {status} {body}")),
            (Some(after), _) if after < HEADER_TIMEOUT + Duration::from_secs(5) => Ok(()),
            (after, _) => Err(format!(
                "connection not closed by the server (closed after {after:?})"
            )),
        },
    }
}

/// The connection closed soon after the first answer, with nothing sent after it.
fn closed_after_answer(outcome: &Outcome) -> Result<(), String> {
    if !outcome.after_answer.is_empty() {
        return Err(format!(
            "more was answered on the connection: {}",
            String::from_utf8_lossy(&outcome.after_answer)
        ));
    }
    match outcome.closed_after {
        // Before the header timeout: closed for the request, not for being idle.
        Some(after) if after < HEADER_TIMEOUT => Ok(()),
        after => Err(format!("the connection stayed open after the answer ({after:?})")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_input_is_refused_delivers_nothing_and_leaves_hookgate_serving() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.yaml");
    std::fs::write(
        &config,
        format!(
            r#"listen: 127.0.0.1:0
store: {{ embedded: {{ path: "{data}" }} }}
limits: {{ max_body: 64KiB, header_read_timeout: 1s, body_read_timeout: 1s }}
targets:
  t: {{ url: "{t}" }}
  p: {{ url: "{p}" }}
routes:
  - {{ name: plain, path: /plain, targets: [t] }}
  - name: ruled
    path: /ruled
    rules:
      - {{ when: "@.type == 'a'", forward: [t] }}
    default: forward
    targets: [t]
  - {{ name: split, path: /split, split: "$[*]", max_body: 1MiB, targets: [t] }}
  - {{ name: param, path: "/p/{{id}}", targets: [p] }}
"#,
            data = dir.path().join("data").display(),
            t = downstream.url("/t"),
            p = downstream.url("/p/{path.id}/end"),
        ),
    )
    .unwrap();
    let hookgate = HookgateProcess::spawn(&config);
    let url = hookgate.url("/plain");
    let pid = hookgate.child.id();
    let valid = |n: usize| {
        let url = url.clone();
        async move {
            let body = format!("{{\"id\":\"valid-{n}\"}}");
            send(
                http::Method::POST,
                &url,
                &[("content-type", "application/json")],
                body,
            )
            .await
        }
    };
    // Warm up allocator arenas and the store before the baseline is taken.
    for n in 0..50 {
        assert_eq!(valid(n).await.status, 202, "a valid request before the suite");
    }
    downstream.wait_for(50).await;
    let mut sent = 50;
    let baseline = rss_kib(pid);

    let mut failures = Vec::new();
    for case in cases() {
        let linger = matches!(case.expect, Expect::ProblemThenClosed(..) | Expect::Bare(_));
        let outcome = run(hookgate.addr, case.sending, linger).await;
        if let Err(why) = judge(&outcome, case.expect) {
            failures.push(format!("{}: {why}", case.name));
        }
        let reply = valid(sent).await;
        sent += 1;
        if reply.status != 202 {
            failures.push(format!(
                "{}: the valid request after it got {}",
                case.name, reply.status
            ));
            continue;
        }
        let received = downstream.wait_for(sent).await;
        let strays: Vec<String> = received
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .filter(|body| !body.contains("\"valid-"))
            .collect();
        if !strays.is_empty() {
            failures.push(format!("{}: delivered {strays:?}", case.name));
            break;
        }
        let rss = rss_kib(pid);
        if rss > baseline + RSS_GROWTH_KIB {
            failures.push(format!(
                "{}: RSS grew from {baseline} KiB to {rss} KiB",
                case.name
            ));
        }
    }
    eprintln!(
        "hookgate RSS: {baseline} KiB before the cases, {} KiB after",
        rss_kib(pid)
    );
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        downstream.received().len(),
        sent,
        "exactly the valid requests were delivered"
    );
}
