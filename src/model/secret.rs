//! Secrets: keys, tokens and passwords from config. Their bytes never reach `Debug`,
//! `Display`, logs or error messages; config names where a secret comes from
//! (`${ENV}` or `file:/path`), not the secret itself.

use std::fmt;

use subtle::ConstantTimeEq;

/// A secret value. Compare with [`Secret::ct_eq`], never with `==`.
#[derive(Clone)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into().into_boxed_slice())
    }

    /// The secret's bytes, for keying a MAC or building a credential.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as text, where a scheme needs it (it came from UTF-8 config).
    pub fn expose_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Constant-time equality with `other`. Lengths are not secret.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.len() == other.len() && bool::from(self.0.ct_eq(other))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Resolves a secret as written in config: `file:/path` reads the file (one trailing
/// newline dropped); anything else is the value itself, normally from `${ENV}`.
pub fn resolve(value: &str) -> Result<Secret, String> {
    match value.strip_prefix("file:") {
        Some(path) => {
            let mut bytes = std::fs::read(path).map_err(|error| format!("cannot read secret file `{path}`: {error}"))?;
            if bytes.ends_with(b"\n") {
                bytes.pop();
                if bytes.ends_with(b"\r") {
                    bytes.pop();
                }
            }
            if bytes.is_empty() {
                return Err(format!("secret file `{path}` is empty"));
            }
            Ok(Secret::new(bytes))
        }
        None if value.is_empty() => Err("expected a secret, e.g. `${WEBHOOK_SECRET}` or `file:/run/secrets/webhook`, found an empty string".to_owned()),
        None => Ok(Secret::new(value.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", vec![secret]).contains("hunter2"));
    }

    #[test]
    fn compares_in_constant_time_and_by_length() {
        let secret = Secret::new("abc");
        assert!(secret.ct_eq(b"abc"));
        assert!(!secret.ct_eq(b"abd"));
        assert!(!secret.ct_eq(b"abcd"));
    }

    #[test]
    fn reads_file_references() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "from-file\n").unwrap();
        let secret = resolve(&format!("file:{}", path.display())).unwrap();
        assert_eq!(secret.expose(), b"from-file");
        assert!(resolve("file:/nonexistent/secret").is_err());
        assert!(resolve("").is_err());
    }
}
