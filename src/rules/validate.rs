//! Validation: required paths and formats, checked on every event before anything is
//! admitted. Every violation of every event is reported, so a sender can fix all of
//! them at once.

use std::fmt;

use serde_json::Value;

use crate::model::path::Path;

/// A format a value must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// A hyphenated UUID (`123e4567-e89b-12d3-a456-426614174000`).
    Uuid,
    /// An RFC 3339 date-time (`2025-07-10T01:49:17.074Z`, `...+02:00`).
    DateTime,
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// An array whose items are all UUIDs.
    UuidArray,
    /// One of these strings.
    Enum(Vec<String>),
}

impl Format {
    /// Parses a format name: `uuid`, `date-time`, `string`, `number`, `bool`, `uuid[]`.
    pub fn parse(name: &str) -> Result<Format, String> {
        Ok(match name {
            "uuid" => Format::Uuid,
            "date-time" => Format::DateTime,
            "string" => Format::String,
            "number" => Format::Number,
            "bool" | "boolean" => Format::Bool,
            "uuid[]" => Format::UuidArray,
            other => {
                return Err(format!(
                    "unknown format `{other}`; expected one of uuid, date-time, string, number, bool, uuid[], or {{ enum: [...] }}"
                ))
            }
        })
    }

    /// Why `value` does not have this format, if it does not.
    fn check(&self, value: &Value) -> Option<String> {
        let ok = match (self, value) {
            (Format::Uuid, Value::String(text)) => is_uuid(text),
            (Format::DateTime, Value::String(text)) => is_date_time(text),
            (Format::String, Value::String(_)) => true,
            (Format::Number, Value::Number(_)) => true,
            (Format::Bool, Value::Bool(_)) => true,
            (Format::UuidArray, Value::Array(items)) => {
                items.iter().all(|item| item.as_str().is_some_and(is_uuid))
            }
            (Format::Enum(allowed), Value::String(text)) => allowed.contains(text),
            _ => false,
        };
        (!ok).then(|| match self {
            Format::Uuid => "expected a UUID".to_owned(),
            Format::DateTime => "expected an RFC 3339 date-time such as 2025-07-10T01:49:17.074Z".to_owned(),
            Format::String => "expected a string".to_owned(),
            Format::Number => "expected a number".to_owned(),
            Format::Bool => "expected true or false".to_owned(),
            Format::UuidArray => "expected an array of UUIDs".to_owned(),
            Format::Enum(allowed) => format!("expected one of {}", allowed.join(", ")),
        })
    }
}

/// A problem with one event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The path, prefixed with the event's position when a request has several.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// Compiled `validate:` of a route.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Paths that must be present and not null.
    pub required: Vec<Path>,
    /// Paths whose value, when present and not null, must have a format.
    pub formats: Vec<(Path, Format)>,
}

impl Validation {
    /// Every violation of `event`, with paths prefixed by `prefix` (e.g. `$[2]`),
    /// which is written out only for a violation.
    pub fn check(&self, event: &Value, prefix: &(impl fmt::Display + ?Sized)) -> Vec<Violation> {
        let located = |path: &Path| match prefix.to_string().as_str() {
            "" => path.as_str().to_owned(),
            prefix => format!("{prefix}{}", &path.as_str()[1..]),
        };
        let mut violations = Vec::new();
        for path in &self.required {
            if matches!(path.get(event), None | Some(Value::Null)) {
                violations.push(Violation {
                    path: located(path),
                    message: "required".to_owned(),
                });
            }
        }
        for (path, format) in &self.formats {
            match path.get(event) {
                None | Some(Value::Null) => {}
                Some(value) => {
                    if let Some(message) = format.check(value) {
                        violations.push(Violation {
                            path: located(path),
                            message,
                        });
                    }
                }
            }
        }
        violations
    }
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

/// RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, with ranges checked.
fn is_date_time(text: &str) -> bool {
    // RFC 3339 allows a space for the `T`; the parser takes the `T` form only.
    let text = match text.as_bytes().get(10) {
        Some(b' ') => std::borrow::Cow::Owned(format!("{}T{}", &text[..10], &text[11..])),
        _ => std::borrow::Cow::Borrowed(text),
    };
    time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats() {
        let uuid = json!("123e4567-e89b-12d3-a456-426614174000");
        assert_eq!(Format::Uuid.check(&uuid), None);
        assert!(
            Format::Uuid
                .check(&json!("123e4567e89b12d3a456426614174000"))
                .is_some(),
            "hyphens required"
        );
        assert!(Format::Uuid.check(&json!("not-a-uuid")).is_some());
        assert!(Format::Uuid.check(&json!(42)).is_some());
        for good in [
            "2025-07-10T01:49:17.074Z",
            "2022-06-25T20:08:17Z",
            "2016-12-31T23:59:60Z",
            "2024-02-29T23:59:59+02:00",
            "2025-01-01t00:00:00-05:30",
            "2025-01-01 00:00:00.5+01:00",
        ] {
            assert_eq!(Format::DateTime.check(&json!(good)), None, "{good}");
        }
        for bad in [
            "2025-07-10",
            "2025-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2025-07-10T24:00:00Z",
            "2025-07-10T01:49:17.Z",
            "2025-07-10T01:49:17+2:00",
            "2025-07-10T12:00:60Z",
            "1623794394",
        ] {
            assert!(Format::DateTime.check(&json!(bad)).is_some(), "{bad}");
        }
        assert_eq!(
            Format::UuidArray.check(&json!([uuid.clone(), uuid.clone()])),
            None
        );
        assert!(Format::UuidArray.check(&json!([uuid, "x"])).is_some());
        let states = Format::Enum(vec!["CREATED".into(), "UPDATED".into()]);
        assert_eq!(states.check(&json!("CREATED")), None);
        assert_eq!(
            states.check(&json!("DELETED")).as_deref(),
            Some("expected one of CREATED, UPDATED")
        );
        assert!(Format::Number.check(&json!("1")).is_some());
        assert_eq!(Format::Bool.check(&json!(false)), None);
        assert!(Format::parse("uuidish").is_err());
    }

    #[test]
    fn reports_every_violation_with_its_location() {
        let validation = Validation {
            required: vec![Path::parse("$.id").unwrap(), Path::parse("$.name").unwrap()],
            formats: vec![
                (Path::parse("$.id").unwrap(), Format::Uuid),
                (Path::parse("$.when").unwrap(), Format::DateTime),
                (Path::parse("$.absent").unwrap(), Format::Uuid),
            ],
        };
        let event = json!({"id": "nope", "name": null, "when": "yesterday"});
        let violations = validation.check(&event, "$[1]");
        let paths: Vec<_> = violations.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, vec!["$[1].name", "$[1].id", "$[1].when"]);
        assert!(validation
            .check(
                &json!({"id": "123e4567-e89b-12d3-a456-426614174000", "name": "x"}),
                ""
            )
            .is_empty());
    }
}
