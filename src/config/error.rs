//! Config errors: collected, never thrown one at a time, each with the YAML path and
//! the line and column it refers to.

pub use crate::diagnostics::{ConfigError, ConfigErrors};

use super::source::Positions;

/// Collects errors while a config is validated.
pub(crate) struct Collector<'a> {
    positions: &'a Positions,
    errors: Vec<ConfigError>,
    /// Values (by path) that took a `${VAR:-default}` default: path → the variables.
    defaulted: std::collections::HashMap<String, Vec<String>>,
    /// Secrets read from such values: (path, variables).
    default_secrets: Vec<(String, Vec<String>)>,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(positions: &'a Positions) -> Self {
        Self {
            positions,
            errors: Vec::new(),
            defaulted: std::collections::HashMap::new(),
            default_secrets: Vec::new(),
        }
    }

    /// Records that the value at `path` took the default of `${variable:-...}`.
    pub(crate) fn defaulted(&mut self, path: &str, variable: &str) {
        self.defaulted
            .entry(path.to_owned())
            .or_default()
            .push(variable.to_owned());
    }

    /// Records that the value at `path` is a secret: one that took a written default
    /// is reported by [`Collector::default_secrets`].
    pub(crate) fn secret(&mut self, path: &str) {
        if let Some(variables) = self.defaulted.get(path) {
            if !self.default_secrets.iter().any(|(known, _)| known == path) {
                self.default_secrets.push((path.to_owned(), variables.clone()));
            }
        }
    }

    /// Secrets whose value is a default written in the config: (path, variables).
    pub(crate) fn default_secrets(&self) -> Vec<(String, Vec<String>)> {
        self.default_secrets.clone()
    }

    /// Records a problem with the value at `path`.
    pub(crate) fn at(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.to_owned(),
            location: self.positions.value(path),
            message: message.into(),
        });
    }

    /// Records a problem with the key that ends `path` (an unknown or duplicate key).
    pub(crate) fn at_key(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.to_owned(),
            location: self.positions.key(path),
            message: message.into(),
        });
    }

    /// Records a serde error raised while deserialising the node at `base`.
    pub(crate) fn serde(&mut self, base: &str, error: serde_path_to_error::Error<serde_yaml::Error>) {
        let inner = error.path().to_string();
        let mut path = base.to_owned();
        if inner != "." {
            if inner.starts_with('[') {
                path.push_str(&inner);
            } else {
                path = super::source::join_key(&path, &inner);
            }
        }
        let message = plain(&error.inner().to_string());
        // For an unknown key serde_path_to_error's path already ends at the key; point
        // at the key itself rather than at its value.
        if unknown_field(&message).is_some() {
            self.at_key(&path, message);
        } else {
            self.at(&path, message);
        }
    }

    /// Parses every item of the list at `path` with `parse`, recording each failure
    /// at the item's own path; the items that parsed, in order.
    pub(crate) fn each<T>(
        &mut self,
        path: &str,
        items: &[String],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match parse(item) {
                Ok(parsed) => Some(parsed),
                Err(message) => {
                    self.at(&format!("{path}[{index}]"), message);
                    None
                }
            })
            .collect()
    }

    /// How many problems have been recorded so far.
    pub(crate) fn len(&self) -> usize {
        self.errors.len()
    }

    /// Ends collection: `Ok` when nothing was wrong.
    pub(crate) fn finish(mut self, file: &str) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors
            .sort_by_key(|e| e.location.map(|l| (l.line, l.column)));
        Err(ConfigErrors {
            file: file.to_owned(),
            errors: self.errors,
        })
    }
}

/// A serde message told in the file's terms instead of Rust's: `invalid type:
/// integer `5`, expected a string` is `expected a string, found the number `5``;
/// `expected u32` is `expected a whole number such as `16``; `missing field `url``
/// is `` `url` is required``. Anything else is kept.
pub(crate) fn plain(message: &str) -> String {
    // serde appends the location; positions are reported separately.
    let message = message.split(" at line ").next().unwrap_or(message);
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return format!("`{field}` is required");
    }
    let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "))
    else {
        return message.to_owned();
    };
    let found = if let Some(number) = found
        .strip_prefix("integer ")
        .or_else(|| found.strip_prefix("floating point "))
    {
        format!("the number {number}")
    } else if let Some(text) = found.strip_prefix("string ") {
        format!("the text {text}")
    } else if let Some(flag) = found.strip_prefix("boolean ") {
        flag.to_owned()
    } else {
        match found {
            "map" => "a mapping".to_owned(),
            "sequence" => "a list".to_owned(),
            "unit value" | "null" => "nothing (null)".to_owned(),
            other => other.to_owned(),
        }
    };
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number such as `16`",
        "i8" | "i16" | "i32" | "i64" | "isize" | "f32" | "f64" => "a number",
        "a boolean" => "`true` or `false`",
        "a sequence" => "a list such as `[a, b]`",
        "a map" => "a mapping such as `{ key: value }`",
        other if other.starts_with("struct ") => "a mapping such as `{ key: value }`",
        other => other,
    };
    format!("expected {expected}, found {found}")
}

/// `unknown field `foo`, expected ...` → `foo`.
pub(crate) fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn serde_messages_in_the_file_s_terms() {
        assert_eq!(
            plain("invalid type: integer `5`, expected a string"),
            "expected a string, found the number `5`"
        );
        assert_eq!(
            plain("invalid value: integer `-1`, expected u32"),
            "expected a whole number such as `16`, found the number `-1`"
        );
        assert_eq!(
            plain("invalid type: string \"x\", expected a sequence"),
            "expected a list such as `[a, b]`, found the text \"x\""
        );
        assert_eq!(
            plain("invalid type: map, expected a boolean"),
            "expected `true` or `false`, found a mapping"
        );
        assert_eq!(plain("missing field `url`"), "`url` is required");
        assert_eq!(
            plain("unknown variant `synk`, expected `queue` or `sync`"),
            "unknown variant `synk`, expected `queue` or `sync`"
        );
    }
}
