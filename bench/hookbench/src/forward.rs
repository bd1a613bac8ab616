//! The stack baseline: a bare forwarder on the crates hookgate is built on (hyper's
//! auto server from hyper-util, its legacy pooled client, tokio), with nothing of
//! hookgate's own: no tower, no logging, no checks. It does what hookgate's sync mode
//! does with a plain route (read the body whole, post it to the one upstream, answer
//! with the upstream's status and body), so `stack` next to `hookgate-plain` shows
//! what the stack costs and what hookgate adds.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

type Upstream = Client<HttpConnector, Full<Bytes>>;

/// Serves until the process ends, forwarding everything to `upstream`.
pub async fn serve(listen: SocketAddr, upstream: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("listening on {}", listener.local_addr()?);
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let authority = HeaderValue::from_str(&upstream.to_string())?;
    let server = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let (client, authority, server) = (client.clone(), authority.clone(), server.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| forward(request, client.clone(), authority.clone()));
            // A peer closing mid-request is not the forwarder's business.
            let _ = server.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn forward(
    request: Request<Incoming>,
    client: Upstream,
    authority: HeaderValue,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (mut parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|body| body.to_bytes()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let Ok(uri) = format!("http://{}{path}", authority.to_str().unwrap_or_default()).parse::<Uri>() else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    parts.uri = uri;
    parts.headers.insert(HOST, authority);
    let Ok(response) = client.request(Request::from_parts(parts, Full::new(body))).await else {
        return Ok(status(StatusCode::BAD_GATEWAY));
    };
    let (parts, body) = response.into_parts();
    let Ok(body) = body.collect().await.map(|body| body.to_bytes()) else {
        return Ok(status(StatusCode::BAD_GATEWAY));
    };
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
