//! https:// targets: hookgate verifies the target's certificate against Mozilla's
//! roots and the host's store (here a test CA via `SSL_CERT_FILE`).

use crate::support::tls::TestPki;
use crate::support::{post_json, Downstream, HookgateProcess};

fn config(dir: &tempfile::TempDir, url: &str) -> std::path::PathBuf {
    let path = dir.path().join("hookgate.yaml");
    let yaml = format!(
        "listen: 127.0.0.1:0\ntargets:\n  secure: {{ url: \"{url}\" }}\nroutes:\n  - {{ name: r, path: /in, mode: sync, targets: [secure] }}\n"
    );
    std::fs::write(&path, yaml).expect("write config");
    path
}

#[tokio::test]
async fn https_target_signed_by_a_trusted_ca_receives_the_request() {
    let pki = TestPki::new();
    let downstream = Downstream::start_tls(pki.acceptor.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let process = HookgateProcess::spawn_with_env(
        &config(&dir, &downstream.https_url("/secure")),
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    );
    let reply = post_json(&process.url("/in"), "{\"over\":\"tls\"}").await;
    assert_eq!(reply.status, 200, "{:?}", String::from_utf8_lossy(&reply.body));
    let received = downstream.wait_for(1).await;
    assert_eq!(received[0].path, "/secure");
    assert_eq!(received[0].body, "{\"over\":\"tls\"}");
}

#[tokio::test]
async fn https_target_with_an_untrusted_certificate_is_refused() {
    let pki = TestPki::new();
    let downstream = Downstream::start_tls(pki.acceptor.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // An empty trust file: only Mozilla's roots remain, which did not sign this.
    let empty = dir.path().join("none.pem");
    std::fs::write(&empty, "").unwrap();
    let process = HookgateProcess::spawn_with_env(
        &config(&dir, &downstream.https_url("/secure")),
        &[("SSL_CERT_FILE", empty.to_str().unwrap())],
    );
    let reply = post_json(&process.url("/in"), "{}").await;
    reply.assert_problem(502, "target-unreachable");
    assert!(
        downstream.received().is_empty(),
        "no request may cross an unverified TLS connection"
    );
}
