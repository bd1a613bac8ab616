//! `split`: a JSONPath selecting the events inside a body (`$[*]` for Klavi). The
//! usual shapes (`$[*]`, `$.data[*]`, `$.data`: member names and indexes, at most
//! one wildcard at the end) are walked directly; any other selection (filters,
//! slices, descendants) is run by jsonpath-rust. Either way the events are borrowed
//! from the body, and each one's location (`$[0]`, `$['data'][2]`, as jsonpath-rust
//! writes them) is written only when a message needs it.

use std::fmt::{self, Write as _};

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::Value;

use super::singular::{push_name, Singular, Step};

/// A compiled split path.
#[derive(Debug, Clone)]
pub struct Split {
    text: String,
    how: How,
}

#[derive(Debug, Clone)]
enum How {
    /// The node at `prefix`, or each of its items or members.
    Direct {
        prefix: Singular,
        /// Where `prefix` is, as a location.
        location: String,
        each: bool,
    },
    Library(JpQuery),
}

/// One event a split selected.
#[derive(Debug, Clone)]
pub struct Selected<'a> {
    /// The event.
    pub event: &'a Value,
    /// Where it is in the body.
    pub location: Location<'a>,
    /// The index of the split path that selected it (`None`: the route does not
    /// split, the body is the event).
    pub source: Option<usize>,
}

/// Where an event is in its body; written out (`$['data'][2]`) only when shown.
#[derive(Debug, Clone)]
pub enum Location<'a> {
    /// The whole body: `$`.
    Body,
    /// As written by jsonpath-rust.
    Written(String),
    /// The node at a location.
    At(&'a str),
    /// An item of the array at a location.
    Item(&'a str, usize),
    /// A member of the object at a location.
    Member(&'a str, &'a str),
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Body => f.write_str("$"),
            Location::Written(text) => f.write_str(text),
            Location::At(at) => f.write_str(at),
            Location::Item(at, index) => write!(f, "{at}[{index}]"),
            Location::Member(at, name) => {
                let mut selector = String::new();
                push_name(&mut selector, name);
                write!(f, "{at}{selector}")
            }
        }
    }
}

impl Split {
    /// `query`, parsed from `text`, compiled.
    pub fn new(text: String, query: JpQuery) -> Split {
        let how = direct(&query).unwrap_or(How::Library(query));
        Split { text, how }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Adds the events this path selects in `body` to `events`, marked with `source`.
    pub fn select<'a>(&'a self, body: &'a Value, source: usize, events: &mut Vec<Selected<'a>>) {
        let source = Some(source);
        match &self.how {
            How::Direct {
                prefix,
                location,
                each,
            } => match (prefix.get(body), each) {
                (None, _) => {}
                (Some(event), false) => events.push(Selected {
                    event,
                    location: Location::At(location),
                    source,
                }),
                (Some(Value::Array(items)), true) => {
                    events.extend(items.iter().enumerate().map(|(index, event)| Selected {
                        event,
                        location: Location::Item(location, index),
                        source,
                    }));
                }
                (Some(Value::Object(members)), true) => {
                    events.extend(members.iter().map(|(name, event)| Selected {
                        event,
                        location: Location::Member(location, name),
                        source,
                    }));
                }
                (Some(_), true) => {}
            },
            How::Library(query) => {
                if let Ok(hits) = jsonpath_rust::query::js_path_process(query, body) {
                    events.extend(hits.into_iter().map(|hit| Selected {
                        event: hit.val,
                        location: Location::Written(hit.path),
                        source,
                    }));
                }
            }
        }
    }
}

/// The direct walk of `query`, when it is names and non-negative indexes with at
/// most a wildcard at the end.
fn direct(query: &JpQuery) -> Option<How> {
    let (segments, each) = match query.segments.split_last() {
        Some((Segment::Selector(Selector::Wildcard), rest)) => (rest, true),
        _ => (query.segments.as_slice(), false),
    };
    let prefix = Singular::from_segments(segments)?;
    let mut location = String::from("$");
    for step in prefix.steps() {
        match step {
            Step::Name(name) => push_name(&mut location, name),
            // A negative index is written as the index it lands on.
            Step::Index(index) if *index >= 0 => {
                let _ = write!(location, "[{index}]");
            }
            Step::Index(_) => return None,
        }
    }
    Some(How::Direct {
        prefix,
        location,
        each,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(text: &str) -> Split {
        Split::new(
            text.to_owned(),
            jsonpath_rust::parser::parse_json_path(text).unwrap(),
        )
    }

    fn selected(split: &Split, body: &Value) -> Vec<(Value, String)> {
        let mut events = Vec::new();
        split.select(body, 0, &mut events);
        events
            .into_iter()
            .map(|selected| (selected.event.clone(), selected.location.to_string()))
            .collect()
    }

    fn library(text: &str, body: &Value) -> Vec<(Value, String)> {
        let query = jsonpath_rust::parser::parse_json_path(text).unwrap();
        jsonpath_rust::query::js_path_process(&query, body)
            .unwrap()
            .into_iter()
            .map(|hit| (hit.val.clone(), hit.path))
            .collect()
    }

    #[test]
    fn selects_as_jsonpath_rust_does() {
        let bodies = [
            json!([{"id": 1}, {"id": 2}]),
            json!([]),
            json!({"data": [{"id": 1}, 5], "one": {"id": 3}, "it's": {"a\\b": [1], "ünï": {"x": 1}}}),
            json!({"data": {"a": 1, "b.c": 2}, "one": null}),
            json!({"data": "text", "items": [[1, 2], [3]]}),
            json!({}),
            json!(7),
        ];
        let paths = [
            "$[*]",
            "$",
            "$.data[*]",
            "$.data",
            "$['data'][*]",
            "$.one",
            "$.data[1]",
            "$.items[0][*]",
            "$.items[1][*]",
            "$['it\\'s']['a\\\\b'][*]",
            "$['it\\'s'].ünï[*]",
            "$['it\\'s'].*",
            "$.*",
            "$.missing[*]",
            "$.data[-1]",
            "$.data[?@.id]",
            "$..id",
            "$.data[0:1]",
            "$[*].id",
        ];
        for path in paths {
            for body in &bodies {
                assert_eq!(
                    selected(&split(path), body),
                    library(path, body),
                    "{path} on {body}"
                );
            }
        }
    }

    #[test]
    fn usual_shapes_are_walked_directly() {
        for path in ["$[*]", "$", "$.data[*]", "$.data", "$.items[0][*]", "$['a.b'].*"] {
            assert!(matches!(split(path).how, How::Direct { .. }), "{path}");
        }
        for path in [
            "$.data[-1]",
            "$..id",
            "$[*].id",
            "$[0:1]",
            "$[?@.id]",
            "$['a','b']",
        ] {
            assert!(matches!(split(path).how, How::Library(_)), "{path}");
        }
    }
}
