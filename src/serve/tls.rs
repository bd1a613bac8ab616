//! TLS on a listener: the handshake, bounded by the header timeout, and a clear
//! answer to a client that speaks plain HTTP to it.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use http::StatusCode;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::problem::{Problem, PROBLEM_JSON};

/// Where a listener's TLS configuration comes from, asked once per connection: `None`
/// serves that connection as plain HTTP.
pub type TlsSource = Arc<dyn Fn() -> Option<Arc<ServerConfig>> + Send + Sync>;

/// The first byte of a TLS record carrying a handshake (a ClientHello).
const HANDSHAKE_RECORD: u8 = 0x16;

/// Why a connection was closed before its first request.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client did not finish the handshake in time.
    #[error("no TLS handshake within {0:?}")]
    Timeout(Duration),
    /// The client sent plain HTTP; it was answered 400.
    #[error("plain HTTP sent to a TLS listener; answered 400")]
    PlainHttp,
    /// The handshake failed (no shared version or cipher, a client certificate
    /// missing or not trusted, a connection reset, ...).
    #[error("{0}")]
    Failed(#[from] std::io::Error),
}

/// The answer to plain HTTP on a TLS listener, as bytes on the wire.
static PLAIN_HTTP: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = Problem::new(
        "tls-required",
        StatusCode::BAD_REQUEST,
        "TLS Required",
        "This listener speaks HTTPS only: send the request to an https:// URL.",
    )
    .body(None, None);
    let mut response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: {PROBLEM_JSON}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
});

/// Accepts a TLS connection on `stream` within `timeout`.
pub async fn accept(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, HandshakeError> {
    let handshake = async {
        let mut first = [0u8; 1];
        let read = stream.peek(&mut first).await?;
        // A request line starts with a method's letters; a ClientHello with 0x16.
        if read == 1 && first[0] != HANDSHAKE_RECORD && first[0].is_ascii_alphabetic() {
            super::reserve::answer(stream, &PLAIN_HTTP);
            return Err(HandshakeError::PlainHttp);
        }
        Ok(TlsAcceptor::from(config).accept(stream).await?)
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| HandshakeError::Timeout(timeout))?
}
