//! The last file descriptor. Each listener keeps one open (on `/dev/null`) while all
//! is well. When the process runs out of descriptors (`EMFILE`, `ENFILE`), a
//! connection waiting to be accepted cannot be, and would hang in the backlog until
//! its client gives up. Instead the listener lets the reserve go, accepts that
//! connection on the freed descriptor, answers it 503 with `Retry-After` (a problem
//! document), closes it, and takes the reserve back. Once descriptors are free
//! again, connections are served as before.

use std::io::{ErrorKind, Read, Write};
use std::sync::LazyLock;

use http::StatusCode;

use crate::problem::{Problem, PROBLEM_JSON};

/// `EMFILE`: the process is out of descriptors. (The same number on Linux and BSDs.)
const EMFILE: i32 = 24;
/// `ENFILE`: the system is.
const ENFILE: i32 = 23;

/// Seconds a refused client is asked to wait.
const RETRY_AFTER_S: u32 = 1;

/// Most bytes read from a refused connection before closing it.
const DRAIN_BYTES: usize = 64 * 1024;

/// The answer to a connection accepted on the reserve, as bytes on the wire.
static REFUSAL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = Problem::new(
        "out-of-descriptors",
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        "hookgate has too many connections open to take this one; retry later.",
    )
    .body(None, None);
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {PROBLEM_JSON}\r\nretry-after: {RETRY_AFTER_S}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
});

/// One spare descriptor; see the module docs.
#[derive(Debug)]
pub struct Reserve(Option<std::fs::File>);

impl Reserve {
    /// Opens the reserve.
    pub fn new() -> Self {
        Self(open())
    }

    /// Whether `error` from `accept` means descriptors ran out.
    pub fn is_exhaustion(error: &std::io::Error) -> bool {
        matches!(error.raw_os_error(), Some(EMFILE | ENFILE))
    }

    /// Closes the reserve so that one accept can succeed; false when there was none
    /// to close (it could not be taken back since).
    pub fn release(&mut self) -> bool {
        self.0.take().is_some()
    }

    /// Takes the reserve back, if a descriptor is free.
    pub fn restore(&mut self) {
        if self.0.is_none() {
            self.0 = open();
        }
    }
}

impl Default for Reserve {
    fn default() -> Self {
        Self::new()
    }
}

fn open() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// Answers `stream` 503 and closes it, without waiting on the client.
pub fn refuse(stream: tokio::net::TcpStream) {
    answer(stream, &REFUSAL);
}

/// Writes `response` (a whole HTTP/1.1 response) to `stream` and closes it, without
/// waiting on the client. What the client already sent is read first, so that
/// closing sends FIN rather than RST (which may discard the answer before the client
/// reads it).
pub fn answer(stream: tokio::net::TcpStream, response: &[u8]) {
    let Ok(mut stream) = stream.into_std() else {
        return;
    };
    // A new socket's send buffer is empty: the answer fits without waiting.
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(response);
    let mut scratch = [0u8; 4096];
    let mut drained = 0;
    while drained < DRAIN_BYTES {
        match stream.read(&mut scratch) {
            Ok(0) => break,
            Ok(read) => drained += read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
