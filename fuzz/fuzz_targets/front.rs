//! The HTTP front: raw bytes, as any client could send them, into a running
//! hookgate (every scheme's route, every rule feature, the embedded store, a sink
//! for deliveries). Each input is written on a fresh TCP connection, which is then
//! half-closed; hookgate must answer or close it promptly, never crash, and keep
//! accepting.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hookgate_fuzz::front_config;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest a half-closed connection may stay unanswered and open.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

struct Front {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

fn front() -> &'static Front {
    static FRONT: OnceLock<Front> = OnceLock::new();
    FRONT.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        // tmpfs where there is one: every admission commits, and fsync there is free.
        let data = match std::path::Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm"),
            false => tempfile::tempdir(),
        }
        .expect("a data directory");
        let addr = runtime.block_on(async {
            let sink = sink().await;
            let path = data.path().join("hookgate.yaml");
            std::fs::write(&path, front_config(sink, &data.path().join("store"))).expect("write config");
            let snapshot = hookgate::config::load(&path).unwrap_or_else(|errors| panic!("{errors}"));
            let server = hookgate::Server::bind(
                snapshot,
                Arc::new(hookgate::config::File::allowing_default_secrets(path)),
            )
            .await
            .expect("bind hookgate");
            let addr = server.local_addr().expect("address");
            tokio::spawn(server.run(std::future::pending()));
            addr
        });
        Front {
            runtime,
            addr,
            _data: data,
        }
    })
}

/// A downstream that answers every request 204 after reading it.
async fn sink() -> SocketAddr {
    use http_body_util::{BodyExt, Empty};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
    let addr = listener.local_addr().expect("sink address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                        let _ = request.into_body().collect().await;
                        let mut response = http::Response::new(Empty::<bytes::Bytes>::new());
                        *response.status_mut() = http::StatusCode::NO_CONTENT;
                        Ok::<_, std::convert::Infallible>(response)
                    });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    addr
}

fuzz_target!(|data: &[u8]| {
    let front = front();
    front.runtime.block_on(async {
        let mut stream = TcpStream::connect(front.addr)
            .await
            .expect("hookgate stopped accepting connections");
        // The server may answer and close before reading everything: not an error.
        let _ = stream.write_all(data).await;
        let _ = stream.shutdown().await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(ANSWER_WITHIN, stream.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "a half-closed connection stayed open {ANSWER_WITHIN:?} without an answer"
        );
    });
});
