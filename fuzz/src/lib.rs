//! What hookgate's fuzz targets share: the configs they run (`configs/` and the
//! examples), a lenient reader of raw HTTP/1 requests (so a seed is a request as it
//! travels, and the fuzzer mutates header values and bodies freely), and the fixed
//! clock signatures are checked against.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hookgate::registry::Snapshot;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

/// The time every target checks timestamps against, and seeds are signed at: a
/// fixed clock keeps runs reproducible.
pub const NOW: u64 = 1_800_000_000;

/// The project's root (configs and examples are read relative to it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ sits in the project")
        .to_path_buf()
}

/// Reads config `relative` to the project root; `${VAR:-default}` takes its default,
/// except the Toqio example's key file, which is found from the root (the fuzzer's
/// working directory is its own).
pub fn load(relative: &str) -> Snapshot {
    let path = root().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let key = format!(
        "file:{}",
        root().join("examples/toqio/toqio-public.pem").display()
    );
    let env = |name: &str| (name == "TOQIO_PUBLIC_KEY").then(|| key.clone());
    hookgate::config::parse(&text, relative, &env).unwrap_or_else(|errors| panic!("{errors}"))
}

/// Every verification scheme, one route each.
pub fn signature_routes() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| load("fuzz/configs/signatures.yaml"))
}

/// The configs whose rules are fuzzed: every rule feature, and the five examples.
pub const RULE_CONFIGS: [&str; 6] = [
    "fuzz/configs/rules.yaml",
    "examples/toqio/hookgate.yaml",
    "examples/klavi/hookgate.yaml",
    "examples/betterez/hookgate.yaml",
    "examples/obp/hookgate.yaml",
    "examples/tradevest/hookgate.yaml",
];

/// The snapshots of [`RULE_CONFIGS`].
pub fn rule_routes() -> &'static [Snapshot] {
    static SNAPSHOTS: OnceLock<Vec<Snapshot>> = OnceLock::new();
    SNAPSHOTS.get_or_init(|| RULE_CONFIGS.iter().map(|path| load(path)).collect())
}

/// A request read leniently from raw bytes: `METHOD target` on the first line,
/// `name: value` lines, an empty line, the body. Lines that do not make a valid
/// header are skipped, so every value the `http` crate can hold reaches the code
/// under test.
#[derive(Debug)]
pub struct Raw {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Raw {
    /// Reads `data`; `None` when not even the first line makes a request.
    pub fn read(data: &[u8]) -> Option<Raw> {
        let (head, body) = match find(data, b"\r\n\r\n") {
            Some(at) => (&data[..at], &data[at + 4..]),
            None => match find(data, b"\n\n") {
                Some(at) => (&data[..at], &data[at + 2..]),
                None => (data, &[][..]),
            },
        };
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        let first = lines.next()?;
        let mut parts = first.splitn(3, |&b| b == b' ');
        let method = Method::from_bytes(parts.next()?).ok()?;
        let uri = Uri::try_from(parts.next()?).ok()?;
        let mut headers = HeaderMap::new();
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = HeaderName::from_bytes(&line[..colon]);
            let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii_start());
            if let (Ok(name), Ok(value)) = (name, value) {
                headers.append(name, value);
            }
        }
        Some(Raw {
            method,
            uri,
            headers,
            body: body.to_vec(),
        })
    }

    /// The request as bytes [`Raw::read`] reads back (and an HTTP/1.1 server
    /// accepts, with `content-length` set).
    pub fn write(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.uri).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The config of the `front` target: every route of `configs/signatures.yaml` and
/// `configs/rules.yaml`, their targets sending to `sink`, deliveries stored in
/// `data`, and short timeouts so nothing a fuzz input starts outlives it for long.
pub fn front_config(sink: std::net::SocketAddr, data: &Path) -> String {
    use serde_yaml::{Mapping, Value};
    let read = |relative: &str| -> Mapping {
        let text = std::fs::read_to_string(root().join(relative)).expect("read a fuzz config");
        serde_yaml::from_str(&text).expect("a fuzz config is YAML")
    };
    let mut merged = Mapping::new();
    let mut targets = Mapping::new();
    let mut routes = Vec::new();
    for file in ["fuzz/configs/signatures.yaml", "fuzz/configs/rules.yaml"] {
        let mut config = read(file);
        if let Some(Value::Mapping(found)) = config.remove("targets") {
            targets.extend(found);
        }
        if let Some(Value::Sequence(found)) = config.remove("routes") {
            routes.extend(found);
        }
    }
    for target in targets.values_mut() {
        let target = target.as_mapping_mut().expect("a target is a mapping");
        let url = target["url"].as_str().expect("a target has a url");
        let url = url.replace("127.0.0.1:9", &sink.to_string());
        target.insert("url".into(), url.into());
        target.insert("timeout".into(), "1s".into());
        let retry: Mapping = serde_yaml::from_str("{ max_attempts: 1 }").expect("YAML");
        target.insert("retry".into(), retry.into());
    }
    // Small limits so the fuzzer reaches them.
    let limits: Mapping = serde_yaml::from_str(
        "{ max_body: 64KiB, header_read_timeout: 1s, body_read_timeout: 1s, max_response_body: 64KiB }",
    )
    .expect("YAML");
    let store = format!(
        "{{ embedded: {{ path: {:?} }}, admit_timeout: 2s }}",
        data.display()
    );
    let store: Mapping = serde_yaml::from_str(&store).expect("YAML");
    merged.insert("listen".into(), "127.0.0.1:0".into());
    merged.insert("limits".into(), limits.into());
    merged.insert("store".into(), store.into());
    merged.insert("shutdown_grace".into(), "1s".into());
    merged.insert("targets".into(), targets.into());
    merged.insert("routes".into(), routes.into());
    serde_yaml::to_string(&merged).expect("a config serialises")
}
