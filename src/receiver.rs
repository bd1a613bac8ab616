//! A receiver that prints every request it gets: a stand-in backend for trying
//! hookgate out (`hookgate receive`). Not part of the data path.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Serves on `listen` forever, answering every request with `status` and an empty
/// JSON object, and writing each request to `out` under a `label` heading.
pub async fn run<W: Write + Send + 'static>(
    listen: SocketAddr,
    status: StatusCode,
    label: String,
    out: W,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let out = Arc::new(Mutex::new(out));
    {
        let mut out = out.lock().unwrap_or_else(|poison| poison.into_inner());
        writeln!(out, "[{label}] listening on http://{}", listener.local_addr()?)?;
        out.flush()?;
    }
    loop {
        let (stream, peer) = listener.accept().await?;
        let (out, label) = (out.clone(), label.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (out, label) = (out.clone(), label.clone());
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let text = render(&label, peer, &parts, &body);
                    let mut out = out.lock().unwrap_or_else(|poison| poison.into_inner());
                    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
                    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                    *response.status_mut() = status;
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn render(label: &str, peer: SocketAddr, parts: &http::request::Parts, body: &[u8]) -> String {
    let mut text = format!(
        "\n[{label}] {} {} {:?} from {peer}\n",
        parts.method, parts.uri, parts.version
    );
    for (name, value) in &parts.headers {
        text.push_str(&format!(
            "  {name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let pretty = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok());
    match pretty {
        Some(json) => text.push_str(&json),
        None => text.push_str(&String::from_utf8_lossy(body)),
    }
    text.push('\n');
    text
}
