//! HTTP/1.1 client connections over loopback: one per load-generator connection, and
//! one-off calls for the sink's and hookgate's control endpoints.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A kept-alive connection's request half; its driver runs on its own task.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends when the peer closes or the sender is dropped; errors surface on send.
        let _ = connection.await;
    });
    Ok(sender)
}

/// One request on a fresh connection; the status and the whole response body.
pub async fn call(addr: SocketAddr, method: Method, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    call_as(addr, method, path, None).await
}

/// [`call`], with `Authorization: Bearer <bearer>` when given (hookgate's admin API).
pub async fn call_as(
    addr: SocketAddr,
    method: Method,
    path: &str,
    bearer: Option<&str>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut sender = connect(addr).await?;
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    if let Some(bearer) = bearer {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {bearer}"));
    }
    let request = request.body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
