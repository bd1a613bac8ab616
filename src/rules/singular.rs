//! Singular JSONPath queries (`$.a.b`, `@.items[0]`, `@['odd key'][-1]`): a chain of
//! member names and array indexes that selects at most one node. Taken from the
//! parsed JSONPath once at load and then looked up directly in the value, with
//! jsonpath-rust's semantics: a name selects only in an object, an index only in an
//! array, and a negative index counts from the end.

use std::fmt::Write as _;

use jsonpath_rust::parser::model::{Segment, Selector, SingularQuerySegment};
use serde_json::Value;

/// One step of a singular query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Name(String),
    /// An array element; negative counts from the end (`-1` is the last).
    Index(i64),
}

/// A compiled singular query, relative to whatever value it is looked up in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Singular {
    steps: Vec<Step>,
}

impl Singular {
    /// The query `segments` make, when each selects one member or one element.
    pub fn from_segments(segments: &[Segment]) -> Option<Singular> {
        let steps = segments
            .iter()
            .map(|segment| match segment {
                Segment::Selector(selector) => step(selector),
                Segment::Selectors(selectors) => match selectors.as_slice() {
                    [selector] => step(selector),
                    _ => None,
                },
                Segment::Descendant(_) => None,
            })
            .collect::<Option<_>>()?;
        Some(Singular { steps })
    }

    /// The query of a comparison's singular query (`@.a[0]` on either side of `==`).
    pub fn from_singular(segments: &[SingularQuerySegment]) -> Singular {
        let steps = segments
            .iter()
            .map(|segment| match segment {
                SingularQuerySegment::Name(name) => Step::Name(name.clone()),
                SingularQuerySegment::Index(index) => Step::Index(*index),
            })
            .collect();
        Singular { steps }
    }

    /// Its steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The node this query selects in `root`, if any.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.steps.iter().try_fold(root, |node, step| match step {
            Step::Name(name) => node.as_object()?.get(name),
            Step::Index(index) => element(node.as_array()?, *index),
        })
    }
}

/// What walking a query's segments found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Walk<'a> {
    /// The node the singular query selects.
    Found(&'a Value),
    /// The query is singular and selects nothing here.
    Absent,
    /// The query may select several nodes; it cannot be walked.
    NotSingular,
}

/// Walks `segments` from `root`, without compiling them, when they make a singular
/// query.
pub fn walk<'a>(segments: &[Segment], root: &'a Value) -> Walk<'a> {
    let mut node = Some(root);
    for segment in segments {
        let selector = match segment {
            Segment::Selector(selector) => selector,
            Segment::Selectors(selectors) if selectors.len() == 1 => &selectors[0],
            _ => return Walk::NotSingular,
        };
        node = match selector {
            Selector::Name(name) => node.and_then(|node| node.as_object()?.get(name)),
            Selector::Index(index) => node.and_then(|node| element(node.as_array()?, *index)),
            _ => return Walk::NotSingular,
        };
    }
    node.map_or(Walk::Absent, Walk::Found)
}

/// The element at `index` (negative: from the end), if the array has it.
pub fn element(items: &[Value], index: i64) -> Option<&Value> {
    let at = if index >= 0 {
        usize::try_from(index).ok()?
    } else {
        let back = usize::try_from(index.unsigned_abs()).ok()?;
        items.len().checked_sub(back)?
    };
    items.get(at)
}

fn step(selector: &Selector) -> Option<Step> {
    match selector {
        Selector::Name(name) => Some(Step::Name(name.clone())),
        Selector::Index(index) => Some(Step::Index(*index)),
        _ => None,
    }
}

/// Appends the normalized-path selector of member `name` (RFC 9535, 2.7), as
/// jsonpath-rust writes it in the locations it reports: `['name']`, with only `'`,
/// `\` and the C0 controls escaped.
pub fn push_name(out: &mut String, name: &str) {
    out.push_str("['");
    for c in name.chars() {
        match c {
            '\u{0008}' => out.push_str("\\b"),
            '\u{000C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c < '\u{0020}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push_str("']");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(text: &str) -> Singular {
        let parsed = jsonpath_rust::parser::parse_json_path(text).unwrap();
        Singular::from_segments(&parsed.segments).unwrap()
    }

    #[test]
    fn looks_up_names_and_indexes() {
        let value = json!({"a": {"b": [10, 20, 30]}, "a.b": 1, "ünï": {"x y": true}});
        assert_eq!(query("$.a.b[1]").get(&value), Some(&json!(20)));
        assert_eq!(
            query("$['a.b']").get(&value),
            Some(&json!(1)),
            "a quoted key with a dot"
        );
        assert_eq!(query("$.ünï['x y']").get(&value), Some(&json!(true)));
        assert_eq!(query("$").get(&value), Some(&value));
        assert_eq!(query("$.a.missing").get(&value), None);
        assert_eq!(
            query("$.a.b.c").get(&value),
            None,
            "a name selects in objects only"
        );
        assert_eq!(
            query("$.a[0]").get(&value),
            None,
            "an index selects in arrays only"
        );
    }

    #[test]
    fn negative_and_out_of_range_indexes() {
        let value = json!([1, 2, 3]);
        assert_eq!(query("$[-1]").get(&value), Some(&json!(3)));
        assert_eq!(query("$[-3]").get(&value), Some(&json!(1)));
        assert_eq!(query("$[-4]").get(&value), None);
        assert_eq!(query("$[3]").get(&value), None);
        assert_eq!(element(&[], i64::MIN), None);
    }

    #[test]
    fn only_single_node_selections_are_singular() {
        for text in ["$[*]", "$.a[*]", "$..a", "$['a','b']", "$[0:2]", "$[?@.a]"] {
            let parsed = jsonpath_rust::parser::parse_json_path(text).unwrap();
            assert_eq!(Singular::from_segments(&parsed.segments), None, "{text}");
        }
    }

    #[test]
    fn walks_singular_segments_without_compiling_them() {
        let value = json!({"a": [{"b": 1}], "é": null});
        let walked = |text: &str| {
            let parsed = jsonpath_rust::parser::parse_json_path(text).unwrap();
            walk(&parsed.segments, &value)
        };
        assert_eq!(walked("$.a[-1].b"), Walk::Found(&json!(1)));
        assert_eq!(walked("$['é']"), Walk::Found(&Value::Null));
        assert_eq!(walked("$.a[1].b"), Walk::Absent);
        assert_eq!(walked("$.a.b"), Walk::Absent);
        assert_eq!(walked("$.missing[0]"), Walk::Absent);
        for text in ["$.a[*].b", "$..b", "$.a[0:1]", "$['a','é']"] {
            assert_eq!(walked(text), Walk::NotSingular, "{text}");
        }
    }

    #[test]
    fn names_are_written_as_normalized_paths() {
        let mut out = String::from("$");
        push_name(&mut out, "it's a\\b\n\u{1}é");
        assert_eq!(out, "$['it\\'s a\\\\b\\n\\u0001é']");
    }
}
