//! A receiver that prints every request it gets: a stand-in backend for trying
//! hookgate out (`hookgate receive`). Not part of the data path.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::model::PeerAddr;
use crate::serve;

/// How bodies are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bodies {
    /// JSON pretty-printed, anything else as text.
    Pretty,
    /// The bytes exactly as received.
    Raw,
}

/// Serves on `listen` until `shutdown` completes, answering every request with
/// `status` and an empty JSON object, and writing each request to `out` under a
/// `label` heading.
pub async fn run<W: Write + Send + 'static>(
    listen: SocketAddr,
    status: StatusCode,
    label: String,
    bodies: Bodies,
    out: W,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let out = Arc::new(Mutex::new(out));
    {
        let mut out = out.lock().unwrap_or_else(|poison| poison.into_inner());
        writeln!(out, "[{label}] listening on http://{}", listener.local_addr()?)?;
        out.flush()?;
    }
    let service = tower::service_fn(move |request: Request<Incoming>| {
        let (out, label) = (out.clone(), label.clone());
        async move {
            let peer = request.extensions().get::<PeerAddr>().map(|peer| peer.0);
            let (parts, body) = request.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let text = render(&label, peer, &parts, &body, bodies);
            let mut out = out.lock().unwrap_or_else(|poison| poison.into_inner());
            let _ = out.write_all(&text).and_then(|()| out.flush());
            let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
            *response.status_mut() = status;
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok::<_, Infallible>(response)
        }
    });
    let limits = serve::Limits {
        listener: "receiver",
        header_read_timeout: Duration::from_secs(10),
        max_connections: 1024,
        grace: Duration::from_secs(5),
    };
    serve::serve(listener, service, limits, None, shutdown).await;
    Ok(())
}

fn render(
    label: &str,
    peer: Option<SocketAddr>,
    parts: &http::request::Parts,
    body: &[u8],
    bodies: Bodies,
) -> Vec<u8> {
    let from = peer.map_or_else(|| "an unknown peer".to_owned(), |peer| peer.to_string());
    let mut text = format!(
        "\n[{label}] {} {} {:?} from {from}\n",
        parts.method, parts.uri, parts.version
    );
    for (name, value) in &parts.headers {
        text.push_str(&format!(
            "  {name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let mut text = text.into_bytes();
    let pretty = (bodies == Bodies::Pretty)
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|value| serde_json::to_string_pretty(&value).ok());
    match pretty {
        Some(json) => text.extend_from_slice(json.as_bytes()),
        None => text.extend_from_slice(body),
    }
    text.push(b'\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_prints_the_bytes_as_received() {
        let (parts, ()) = http::Request::post("/t").body(()).unwrap().into_parts();
        let body = b"{ \"b\":1,\n\"a\": [ 2 ] }\xff";
        let raw = render("r", None, &parts, body, Bodies::Raw);
        assert!(raw.ends_with(b"{ \"b\":1,\n\"a\": [ 2 ] }\xff\n"));
        let json = b"{\"b\":1}";
        let pretty = render("r", None, &parts, json, Bodies::Pretty);
        assert!(pretty.ends_with(b"{\n  \"b\": 1\n}\n"));
    }
}
