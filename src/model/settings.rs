//! The settings of the process itself: listeners, store, limits, shutdown. Some
//! need a restart to change (see [`Settings::restart_only_changes`]); the others are
//! read from the live snapshot.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Size and time limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted, in bytes (a route's `max_body` overrides it).
    pub max_body: usize,
    /// Most events one request may hold (a route's `max_events` overrides it).
    pub max_events: usize,
    /// Time allowed for the request line and headers, and the longest a connection
    /// with no request in flight stays open.
    pub header_read_timeout: Duration,
    /// Most ingress connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Time allowed for the body once headers are read.
    pub body_read_timeout: Duration,
    /// Largest target response body read (and relayed in `sync` mode), in bytes.
    pub max_response_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 1 << 20,
            max_events: 1000,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            body_read_timeout: Duration::from_secs(30),
            max_response_body: 1 << 20,
        }
    }
}

/// Which store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// redb in this directory.
    Embedded {
        /// Data directory.
        path: PathBuf,
    },
    /// Redis, or a Redis Cluster.
    Redis {
        /// Connection URL of a single Redis (empty with `cluster`).
        url: String,
        /// Seed URLs of a Redis Cluster (empty: `url` is a single Redis).
        cluster: Vec<String>,
        /// Key prefix.
        key_prefix: String,
        /// How many partitions the keyspace is split into.
        partitions: u16,
        /// Replicas that must confirm an admission before it is acknowledged.
        min_replica_acks: u32,
        /// How long admission waits for them.
        replica_timeout: Duration,
    },
}

/// The store and how long it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// Which store.
    pub kind: StoreKind,
    /// Admission deadline.
    pub admit_timeout: Duration,
    /// Lease timeout.
    pub lease_timeout: Duration,
    /// How long the event log keeps an event.
    pub retention: Duration,
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Where it binds.
    pub listen: SocketAddr,
    /// Who may use its API (`/api/v1`, `POST /reload`); none: nobody.
    pub tokens: Vec<crate::model::AdminToken>,
}

/// TLS on the ingress listener: the files it was read from and what they built.
#[derive(Clone)]
pub struct TlsSettings {
    /// The certificate chain's file.
    pub cert: PathBuf,
    /// The private key's file.
    pub key: PathBuf,
    /// The file of CAs whose client certificates are required, if any.
    pub client_ca: Option<PathBuf>,
    /// SHA-256 of the listener's certificate, in hex: tells loads apart in logs.
    pub fingerprint: String,
    /// What connections are accepted with.
    pub server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("client_ca", &self.client_ca)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsSettings {
    fn eq(&self, other: &Self) -> bool {
        self.cert == other.cert
            && self.key == other.key
            && self.client_ca == other.client_ca
            && self.fingerprint == other.fingerprint
    }
}

impl Eq for TlsSettings {}

/// Where and how spans are exported (OTLP/HTTP).
#[derive(Debug, Clone)]
pub struct OtlpSettings {
    /// The collector's traces URL, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub endpoint: http::Uri,
    /// Headers sent with every export (a vendor's API key, say).
    pub headers: Vec<(http::HeaderName, crate::model::Secret)>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of the traces hookgate starts that are sampled (0 to 1); a sender's
    /// `traceparent` decides for its own.
    pub sample_ratio: f64,
}

impl PartialEq for OtlpSettings {
    fn eq(&self, other: &Self) -> bool {
        self.endpoint == other.endpoint
            && self.service_name == other.service_name
            && self.sample_ratio.to_bits() == other.sample_ratio.to_bits()
            && self.headers.len() == other.headers.len()
            && self
                .headers
                .iter()
                .zip(&other.headers)
                .all(|((a, x), (b, y))| a == b && x.ct_eq(y.expose()))
    }
}

impl Eq for OtlpSettings {}

/// Everything of a config but its routes and targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where the ingress listener binds.
    pub listen: SocketAddr,
    /// TLS on the ingress listener (re-read at every reload), or plain HTTP.
    pub tls: Option<TlsSettings>,
    /// The admin listener, if it runs.
    pub admin: Option<AdminSettings>,
    /// The store.
    pub store: StoreSettings,
    /// Size and time limits.
    pub limits: Limits,
    /// Time in-flight work gets to finish on SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// OTLP trace export, if configured.
    pub otlp: Option<OtlpSettings>,
    /// This instance's name to a shared store (`--instance-id`; none: the host name
    /// and the listen port). Not read from the config file.
    pub instance_id: Option<String>,
}

impl Settings {
    /// The keys that differ between `self` (running) and `next` and cannot change
    /// without a restart: the listeners and the connections they accept, the store,
    /// the shutdown grace period and trace export.
    pub fn restart_only_changes(&self, next: &Settings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.listen != next.listen {
            changed.push("listen");
        }
        // Tokens change at a reload (a rotation needs none); the listener does not.
        if self.admin.as_ref().map(|admin| admin.listen) != next.admin.as_ref().map(|admin| admin.listen) {
            changed.push("admin.listen");
        }
        // The admission deadline is read per request; the rest needs a new store.
        if self.store.kind != next.store.kind
            || self.store.lease_timeout != next.store.lease_timeout
            || self.store.retention != next.store.retention
        {
            changed.push("store");
        }
        if self.limits.header_read_timeout != next.limits.header_read_timeout {
            changed.push("limits.header_read_timeout");
        }
        if self.limits.max_connections != next.limits.max_connections {
            changed.push("limits.max_connections");
        }
        if self.shutdown_grace != next.shutdown_grace {
            changed.push("shutdown_grace");
        }
        if self.otlp != next.otlp {
            changed.push("otlp");
        }
        changed
    }
}
