//! Writable paths: the subset of JSONPath that names one location (`$.a.b`,
//! `$.items[0].id`, `$['odd key']`), parsed once at load. Transforms read and write
//! through these; selections with wildcards or filters use full JSONPath instead.

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A parsed path naming one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    text: String,
    segments: Vec<Segment>,
}

impl Path {
    /// Parses `$`, `$.name`, `$['name']`, `$["name"]`, `$[3]` and chains of them.
    pub fn parse(text: &str) -> Result<Path, String> {
        let error = |why: &str| {
            format!("expected a path such as `$.payload.consents[0].consentId`: {why}, found `{text}`")
        };
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| error("it must start with `$`"))?;
        let mut segments = Vec::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '.' => {
                    let start = at + 1;
                    let mut end = rest.len();
                    while let Some(&(next_at, next)) = chars.peek() {
                        if next == '.' || next == '[' {
                            end = next_at;
                            break;
                        }
                        chars.next();
                    }
                    let name = &rest[start..end];
                    if name.is_empty() || name == "*" {
                        return Err(error("a member name is missing or a wildcard"));
                    }
                    segments.push(Segment::Key(name.to_owned()));
                }
                '[' => {
                    let close = rest[at..]
                        .find(']')
                        .map(|i| at + i)
                        .ok_or_else(|| error("`[` is not closed"))?;
                    let inside = rest[at + 1..close].trim();
                    let quoted = inside
                        .strip_prefix('\'')
                        .and_then(|s| s.strip_suffix('\''))
                        .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                    match (quoted, inside.parse::<usize>()) {
                        (Some(name), _) => segments.push(Segment::Key(name.to_owned())),
                        (None, Ok(index)) => segments.push(Segment::Index(index)),
                        _ => {
                            return Err(error(
                                "only quoted names and non-negative indexes are allowed in `[...]`",
                            ))
                        }
                    }
                    while chars.peek().is_some_and(|&(i, _)| i <= close) {
                        chars.next();
                    }
                }
                _ => return Err(error("expected `.` or `[` after `$`")),
            }
        }
        Ok(Path {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path, if present.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.segments
            .iter()
            .try_fold(root, |node, segment| match (segment, node) {
                (Segment::Key(key), Value::Object(map)) => map.get(key),
                (Segment::Index(index), Value::Array(items)) => items.get(*index),
                _ => None,
            })
    }

    /// Sets the value, creating missing objects on the way. Fails where an existing
    /// non-object (or a too-short array) is in the way.
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), String> {
        let Some((last, parents)) = self.segments.split_last() else {
            *root = value;
            return Ok(());
        };
        let mut node = root;
        for segment in parents {
            node = match (segment, node) {
                (Segment::Key(key), Value::Object(map)) => map
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                (Segment::Index(index), Value::Array(items)) => items
                    .get_mut(*index)
                    .ok_or_else(|| format!("{}: index {index} is past the end of the array", self.text))?,
                (_, other) => return Err(format!("{}: cannot go through a {}", self.text, kind(other))),
            };
        }
        match (last, node) {
            (Segment::Key(key), Value::Object(map)) => {
                map.insert(key.clone(), value);
                Ok(())
            }
            (Segment::Index(index), Value::Array(items)) if *index < items.len() => {
                items[*index] = value;
                Ok(())
            }
            (Segment::Index(index), Value::Array(items)) if *index == items.len() => {
                items.push(value);
                Ok(())
            }
            (_, other) => Err(format!("{}: cannot set inside a {}", self.text, kind(other))),
        }
    }

    /// Removes and returns the value, if present.
    pub fn remove(&self, root: &mut Value) -> Option<Value> {
        let (last, parents) = self.segments.split_last()?;
        let mut node = root;
        for segment in parents {
            node = match (segment, node) {
                (Segment::Key(key), Value::Object(map)) => map.get_mut(key)?,
                (Segment::Index(index), Value::Array(items)) => items.get_mut(*index)?,
                _ => return None,
            };
        }
        match (last, node) {
            // shift_remove keeps the other members in the sender's order.
            (Segment::Key(key), Value::Object(map)) => map.shift_remove(key),
            (Segment::Index(index), Value::Array(items)) if *index < items.len() => {
                Some(items.remove(*index))
            }
            _ => None,
        }
    }

    /// Renames the member this path ends at to `name`, keeping its position.
    pub fn rename(&self, root: &mut Value, name: &str) -> Result<(), String> {
        let Some((Segment::Key(old), parents)) = self.segments.split_last() else {
            return Err(format!("{}: only an object member can be renamed", self.text));
        };
        let parent = Path {
            text: String::new(),
            segments: parents.to_vec(),
        };
        let mut node = root;
        for segment in &parent.segments {
            node = match (segment, node) {
                (Segment::Key(key), Value::Object(map)) => match map.get_mut(key) {
                    Some(child) => child,
                    None => return Ok(()),
                },
                (Segment::Index(index), Value::Array(items)) => match items.get_mut(*index) {
                    Some(child) => child,
                    None => return Ok(()),
                },
                _ => return Ok(()),
            };
        }
        if let Value::Object(map) = node {
            if let Some(index) = map.keys().position(|key| key == old) {
                if let Some(value) = map.shift_remove(old.as_str()) {
                    map.shift_insert(index, name.to_owned(), value);
                }
            }
        }
        Ok(())
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_names_indexes_and_quoted_keys() {
        let path = Path::parse("$.payload.consents[0]['consent id']").unwrap();
        let value = json!({"payload": {"consents": [{"consent id": "c1"}]}});
        assert_eq!(path.get(&value), Some(&json!("c1")));
        assert_eq!(Path::parse("$").unwrap().get(&value), Some(&value));
        assert_eq!(
            Path::parse("$['çé ü']").unwrap().get(&json!({"çé ü": 1})),
            Some(&json!(1))
        );
        for bad in ["payload", "$.", "$[*]", "$..a", "$[?(@.a)]", "$[-1]", "$.a[0"] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn get_of_missing_or_mismatched_is_none() {
        let value = json!({"a": [1, 2], "b": null});
        assert_eq!(Path::parse("$.a[5]").unwrap().get(&value), None);
        assert_eq!(Path::parse("$.a.x").unwrap().get(&value), None);
        assert_eq!(Path::parse("$.b").unwrap().get(&value), Some(&Value::Null));
        assert_eq!(Path::parse("$.b.c").unwrap().get(&value), None);
    }

    #[test]
    fn set_creates_objects_and_refuses_to_overwrite_scalars() {
        let mut value = json!({"a": 1});
        Path::parse("$.x.y").unwrap().set(&mut value, json!("z")).unwrap();
        assert_eq!(value, json!({"a": 1, "x": {"y": "z"}}));
        assert!(Path::parse("$.a.b").unwrap().set(&mut value, json!(1)).is_err());
        let mut list = json!({"l": [1]});
        Path::parse("$.l[1]").unwrap().set(&mut list, json!(2)).unwrap();
        assert_eq!(list, json!({"l": [1, 2]}));
        assert!(Path::parse("$.l[5]").unwrap().set(&mut list, json!(3)).is_err());
    }

    #[test]
    fn remove_and_rename_keep_member_order() {
        let mut value = json!({"a": 1, "b": 2, "c": 3});
        assert_eq!(Path::parse("$.b").unwrap().remove(&mut value), Some(json!(2)));
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"a":1,"c":3}"#);
        Path::parse("$.a").unwrap().rename(&mut value, "first").unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"first":1,"c":3}"#);
        assert_eq!(Path::parse("$.missing").unwrap().remove(&mut value), None);
        Path::parse("$.missing").unwrap().rename(&mut value, "x").unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"first":1,"c":3}"#);
    }
}
