//! The shipped examples (`examples/<provider>/`), as the example tests read them.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `examples/<provider>/<name>`.
pub fn file(provider: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(provider)
        .join(name)
}

/// Every payload in `examples/<provider>/payloads/` as `(file stem, bytes)`, sorted
/// by stem. Files whose name starts with `_` describe the payloads and are left out.
pub fn payloads(provider: &str) -> Vec<(String, Vec<u8>)> {
    let dir = file(provider, "payloads");
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|path| {
            let stem = path
                .file_stem()
                .and_then(|n| n.to_str())
                .expect("UTF-8 file name")
                .to_owned();
            if stem.starts_with('_') {
                return None;
            }
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            Some((stem, bytes))
        })
        .collect();
    found.sort();
    found
}

/// The bytes of `examples/<provider>/payloads/<stem>.json`.
pub fn payload(provider: &str, stem: &str) -> Vec<u8> {
    let path = file(provider, "payloads").join(format!("{stem}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("no payload {}: {e}", path.display()))
}

/// `bytes` parsed as JSON.
pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON: {e}"))
}
