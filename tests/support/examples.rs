//! The shipped examples (`examples/<provider>/`), as the example tests read them.

use std::path::{Path, PathBuf};

/// `examples/<provider>/<name>`.
pub fn file(provider: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(provider)
        .join(name)
}

/// Every JSON file in `examples/<provider>/payloads/` as `(file name, bytes)`, sorted
/// by name.
pub fn payloads(provider: &str) -> Vec<(String, Vec<u8>)> {
    let dir = file(provider, "payloads");
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 file name")
                .to_owned();
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (name, bytes)
        })
        .collect();
    found.sort();
    found
}
