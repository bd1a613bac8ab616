//! `tls:` on the ingress listener, over real handshakes: HTTPS in HTTP/1.1 and HTTP/2
//! (ALPN), plain HTTP answered with a problem, a certificate renewed by a reload,
//! client certificates required by `client_ca`, stalled handshakes closed, and
//! broken files reported where they are named.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::tls::{connector, Authority, Issued};
use crate::support::{send, Downstream, Hookgate};

/// Files in a directory beside the config, named relative to it.
struct Setup {
    dir: tempfile::TempDir,
    authority: Authority,
    server: Issued,
}

impl Setup {
    fn new() -> Self {
        let authority = Authority::new();
        let server = authority.issue();
        let setup = Self {
            dir: tempfile::tempdir().unwrap(),
            authority,
            server,
        };
        std::fs::create_dir(setup.dir.path().join("tls")).unwrap();
        setup.write_server(&setup.server);
        setup
    }

    fn write_server(&self, issued: &Issued) {
        self.write("tls/cert.pem", &issued.cert_pem);
        self.write("tls/key.pem", &issued.key_pem);
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    /// A config with `tls` (plus `extra` in it) forwarding `/in` to `downstream`.
    fn config(&self, downstream: &Downstream, extra: &str) -> PathBuf {
        let path = self.dir.path().join("hookgate.yaml");
        let yaml = format!(
            "listen: 127.0.0.1:0\n\
             tls: {{ cert: tls/cert.pem, key: tls/key.pem{extra} }}\n\
             admin: {{ listen: 127.0.0.1:0 }}\n\
             limits: {{ header_read_timeout: 1s }}\n\
             store: {{ embedded: {{ path: {data} }} }}\n\
             targets:\n  backend: {{ url: \"{url}\" }}\n\
             routes:\n  - {{ name: r, path: /in, targets: [backend] }}\n",
            data = self.dir.path().join("data").display(),
            url = downstream.url("/hook"),
        );
        std::fs::write(&path, yaml).unwrap();
        path
    }
}

/// What a TLS client saw: the protocol ALPN chose, the server's certificate, and the
/// answer to one POST (or the error that replaced it).
struct Exchange {
    alpn: Option<Vec<u8>>,
    certificate: Vec<u8>,
    reply: Result<(StatusCode, Bytes), String>,
}

/// POSTs `body` to `/in` over TLS, trusting `ca_pem`, as HTTP/2 when `alpn` offers
/// `h2` and ALPN picks it.
async fn post(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    identity: Option<&Issued>,
    alpn: &[&[u8]],
    body: &'static str,
) -> Exchange {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = connector(ca_pem, identity, alpn)
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let (_, session) = stream.get_ref();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let certificate = session.peer_certificates().expect("a server certificate")[0].to_vec();
    let request = Request::post(format!("https://localhost:{}/in", addr.port()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let io = TokioIo::new(stream);
    let reply = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .expect("h2 handshake");
        tokio::spawn(connection);
        sender.send_request(request).await
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("h1 handshake");
        tokio::spawn(connection);
        sender.send_request(request).await
    };
    let reply = match reply {
        Ok(response) => {
            let status = response.status();
            let body = response.into_body().collect().await.map(|b| b.to_bytes());
            body.map(|body| (status, body)).map_err(|error| error.to_string())
        }
        Err(error) => Err(format!("{error:?}")),
    };
    Exchange {
        alpn,
        certificate,
        reply,
    }
}

fn accepted(exchange: &Exchange) {
    match &exchange.reply {
        Ok((status, body)) => assert_eq!(*status, StatusCode::ACCEPTED, "{body:?}"),
        Err(error) => panic!("request failed: {error}"),
    }
}

#[tokio::test]
async fn https_in_http1_and_http2_is_served_and_forwarded() {
    let setup = Setup::new();
    let downstream = Downstream::start().await;
    let hookgate = Hookgate::start_file(&setup.config(&downstream, "")).await;
    let ca = setup.authority.pem();

    let one = post(hookgate.addr, &ca, None, &[b"http/1.1"], "{\"over\":\"h1\"}").await;
    accepted(&one);
    assert_eq!(one.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(one.certificate, setup.server.der, "the configured certificate");
    let two = post(
        hookgate.addr,
        &ca,
        None,
        &[b"h2", b"http/1.1"],
        "{\"over\":\"h2\"}",
    )
    .await;
    accepted(&two);
    assert_eq!(
        two.alpn.as_deref(),
        Some(&b"h2"[..]),
        "HTTP/2 is chosen when offered"
    );
    let none = post(hookgate.addr, &ca, None, &[], "{\"over\":\"no-alpn\"}").await;
    accepted(&none);

    let received = downstream.wait_for(3).await;
    let mut bodies: Vec<String> = received
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    bodies.sort_unstable();
    assert_eq!(
        bodies,
        ["{\"over\":\"h1\"}", "{\"over\":\"h2\"}", "{\"over\":\"no-alpn\"}"]
    );
}

#[tokio::test]
async fn plain_http_to_the_tls_listener_is_told_to_use_https() {
    let setup = Setup::new();
    let downstream = Downstream::start().await;
    let hookgate = Hookgate::start_file(&setup.config(&downstream, "")).await;
    let mut stream = TcpStream::connect(hookgate.addr).await.unwrap();
    stream
        .write_all(
            b"POST /in HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["type"], "urn:hookgate:problem:tls-required");
    assert!(body["detail"].as_str().unwrap().contains("https://"), "{body}");
    // HTTPS still works, and only it was delivered.
    accepted(&post(hookgate.addr, &setup.authority.pem(), None, &[], "{\"n\":1}").await);
    let received = downstream.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body, "{\"n\":1}");
}

#[tokio::test]
async fn a_reload_serves_the_renewed_certificate_and_a_broken_one_changes_nothing() {
    let setup = Setup::new();
    let downstream = Downstream::start().await;
    let hookgate = Hookgate::start_file(&setup.config(&downstream, "")).await;
    let ca = setup.authority.pem();
    let before = post(hookgate.addr, &ca, None, &[], "{\"n\":1}").await;
    assert_eq!(before.certificate, setup.server.der);

    // Renewed in place, as certbot or cert-manager do; the config text is the same.
    let renewed = setup.authority.issue();
    setup.write_server(&renewed);
    hookgate.reloader.reload("test").await.expect("reload");
    let after = post(hookgate.addr, &ca, None, &[], "{\"n\":2}").await;
    accepted(&after);
    assert_eq!(
        after.certificate, renewed.der,
        "new connections get the renewed certificate"
    );

    // A key that does not fit: the reload is refused, naming the key, and the
    // renewed certificate keeps serving.
    let other = setup.authority.issue();
    setup.write("tls/key.pem", &other.key_pem);
    let error = hookgate
        .reloader
        .reload("test")
        .await
        .expect_err("a key that does not fit");
    let text = error.to_string();
    assert!(
        text.contains("tls.key") && text.contains("does not fit"),
        "{text}"
    );
    let still = post(hookgate.addr, &ca, None, &[], "{\"n\":3}").await;
    accepted(&still);
    assert_eq!(still.certificate, renewed.der);
    assert_eq!(downstream.wait_for(3).await.len(), 3);
}

#[tokio::test]
async fn client_certificates_are_required_when_client_ca_is_set() {
    let setup = Setup::new();
    let providers = Authority::new();
    setup.write("tls/providers.pem", &providers.pem());
    let downstream = Downstream::start().await;
    let hookgate = Hookgate::start_file(&setup.config(&downstream, ", client_ca: tls/providers.pem")).await;
    let ca = setup.authority.pem();

    let anonymous = try_post(hookgate.addr, &ca, None).await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate got {anonymous:?}"
    );
    let stranger = Authority::new().issue();
    let untrusted = try_post(hookgate.addr, &ca, Some(&stranger)).await;
    assert!(
        untrusted.is_err(),
        "a certificate from another CA got {untrusted:?}"
    );
    // The server's own CA signs no client here either.
    let sibling = setup.authority.issue();
    assert!(try_post(hookgate.addr, &ca, Some(&sibling)).await.is_err());

    let provider = providers.issue();
    accepted(
        &post(
            hookgate.addr,
            &ca,
            Some(&provider),
            &[b"h2"],
            "{\"from\":\"provider\"}",
        )
        .await,
    );
    let received = downstream.wait_for(1).await;
    assert_eq!(received.len(), 1, "only the provider's request is delivered");
    assert_eq!(received[0].body, "{\"from\":\"provider\"}");
}

/// A POST whose failure may come at the handshake (TLS 1.2) or at the first read
/// (TLS 1.3 checks the client's certificate after the client considers itself done).
async fn try_post(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    identity: Option<&Issued>,
) -> Result<StatusCode, String> {
    let ca_pem = ca_pem.to_owned();
    let identity = identity.map(|issued| Issued {
        cert_pem: issued.cert_pem.clone(),
        key_pem: issued.key_pem.clone(),
        der: issued.der.clone(),
    });
    let attempt = tokio::spawn(async move {
        let exchange = post(addr, &ca_pem, identity.as_ref(), &[], "{\"from\":\"anyone\"}").await;
        exchange.reply.map(|(status, _)| status)
    });
    match attempt.await {
        Ok(result) => result,
        Err(panic) => Err(format!("handshake refused: {panic}")),
    }
}

#[tokio::test]
async fn stalled_handshakes_are_closed_after_the_header_timeout() {
    let setup = Setup::new();
    let downstream = Downstream::start().await;
    let hookgate = Hookgate::start_file(&setup.config(&downstream, "")).await;
    // Nothing at all, and the first bytes of a ClientHello that never ends.
    for opening in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00][..]] {
        let mut stream = TcpStream::connect(hookgate.addr).await.unwrap();
        stream.write_all(opening).await.unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a stalled handshake ({opening:?}) was left open");
    }
    let metrics = send(Method::GET, &hookgate.admin_url("/metrics"), &[], "").await;
    let page = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        page.contains("hookgate_tls_handshake_errors_total{listener=\"ingress\"} 2"),
        "{page}"
    );
    assert!(downstream.received().is_empty());
}

#[test]
fn broken_tls_files_are_reported_where_they_are_named() {
    let authority = Authority::new();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    let one = authority.issue();
    let two = authority.issue();
    write("cert.pem", &one.cert_pem);
    write("key.pem", &one.key_pem);
    write("other-key.pem", &two.key_pem);
    write("empty.pem", "");
    let errors = |tls: &str| -> Vec<(String, String)> {
        let yaml = format!(
            "tls: {tls}\ntargets:\n  t: {{ url: \"http://127.0.0.1:1/\" }}\nroutes:\n  - {{ name: r, path: /r, targets: [t] }}\n"
        );
        let file = dir.path().join("hookgate.yaml");
        match hookgate::config::parse(&yaml, file.to_str().unwrap(), &|_| None) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.errors.into_iter().map(|e| (e.path, e.message)).collect(),
        }
    };
    assert!(errors("{ cert: cert.pem, key: key.pem }").is_empty());
    assert!(errors(&format!(
        "{{ cert: {}, key: key.pem }}",
        dir.path().join("cert.pem").display()
    ))
    .is_empty());

    let missing = errors("{ cert: nowhere.pem, key: key.pem }");
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].0, "tls.cert");
    assert!(missing[0].1.contains("nowhere.pem"), "{missing:?}");

    let mismatched = errors("{ cert: cert.pem, key: other-key.pem }");
    assert_eq!(mismatched.len(), 1, "{mismatched:?}");
    assert_eq!(mismatched[0].0, "tls.key");
    assert!(mismatched[0].1.contains("does not fit"), "{mismatched:?}");

    let swapped = errors("{ cert: key.pem, key: cert.pem }");
    let paths: Vec<&str> = swapped.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["tls.cert", "tls.key"], "{swapped:?}");

    let empty_ca = errors("{ cert: cert.pem, key: key.pem, client_ca: empty.pem }");
    assert_eq!(empty_ca.len(), 1, "{empty_ca:?}");
    assert_eq!(empty_ca[0].0, "tls.client_ca");

    let unknown = errors("{ cert: cert.pem, key: key.pem, ca: x.pem }");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0].0, "tls.ca");
}
