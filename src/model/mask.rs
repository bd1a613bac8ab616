//! `redact` paths: the locations whose values never reach a log. A mask names one
//! location (`$.payload.taxId`) or many: a wildcard matches every member or element
//! at its level (`$.payload.*.taxId`, `$.items[*].cpf`), and recursive descent
//! matches at any depth (`$..taxId`). Masking replaces every match, wherever the
//! sender put it; a mask that matches nothing changes nothing.

use serde_json::Value;

/// What one step selects among a node's children.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Select {
    /// The member of this name.
    Key(String),
    /// The element at this index.
    Index(usize),
    /// Every member or element.
    Any,
}

/// One step of a mask.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Among the node's children.
    Child(Select),
    /// Among the node's descendants, at any depth.
    Descendant(Select),
}

/// A parsed `redact` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    text: String,
    steps: Vec<Step>,
}

impl Mask {
    /// Parses `$` followed by `.name`, `.*`, `[n]`, `['name']`, `[*]`, or any of
    /// these after `..` (at any depth).
    pub fn parse(text: &str) -> Result<Mask, String> {
        let error = |why: &str| {
            format!(
                "expected a path such as `$.payload.taxId`, `$.payload.*.taxId` or `$..taxId`: {why}, found `{text}`"
            )
        };
        let mut rest = text
            .strip_prefix('$')
            .ok_or_else(|| error("it must start with `$`"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            let (descend, after) = match rest.strip_prefix("..") {
                Some(after) => (true, after),
                None => (false, rest),
            };
            let (select, after) = if let Some(inside) = after.strip_prefix('[') {
                let close = inside.find(']').ok_or_else(|| error("`[` is not closed"))?;
                (
                    bracket(inside[..close].trim()).ok_or_else(|| {
                        error("only `*`, quoted names and non-negative indexes are allowed in `[...]`")
                    })?,
                    &inside[close + 1..],
                )
            } else {
                let after = match (descend, after.strip_prefix('.')) {
                    (true, _) => after,
                    (false, Some(after)) => after,
                    (false, None) => return Err(error("expected `.` or `[` between steps")),
                };
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                let select = match name {
                    "" => return Err(error("a member name is missing")),
                    "*" => Select::Any,
                    name => Select::Key(name.to_owned()),
                };
                (select, &after[end..])
            };
            steps.push(if descend {
                Step::Descendant(select)
            } else {
                Step::Child(select)
            });
            rest = after;
        }
        Ok(Mask {
            text: text.to_owned(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Replaces every value this mask matches in `root` with `with`.
    pub fn apply(&self, root: &mut Value, with: &Value) {
        mask(root, &self.steps, with);
    }

    /// Whether this mask matches anything in `root` (so masking it would change it).
    pub fn matches(&self, root: &Value) -> bool {
        found(root, &self.steps)
    }
}

fn bracket(inside: &str) -> Option<Select> {
    if inside == "*" {
        return Some(Select::Any);
    }
    let quoted = inside
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
    match quoted {
        Some(name) => Some(Select::Key(name.to_owned())),
        None => inside.parse().ok().map(Select::Index),
    }
}

/// Masks what `steps` match below `node`. Recursion is bounded by the depth of the
/// parsed JSON, which the parser limits.
fn mask(node: &mut Value, steps: &[Step], with: &Value) {
    let Some((step, rest)) = steps.split_first() else {
        *node = with.clone();
        return;
    };
    match step {
        Step::Child(select) => each_selected(node, select, |child| mask(child, rest, with)),
        Step::Descendant(select) => {
            each_selected(node, select, |child| mask(child, rest, with));
            each_selected(node, &Select::Any, |child| mask(child, steps, with));
        }
    }
}

/// Whether `steps` match anything below `node`.
fn found(node: &Value, steps: &[Step]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return true;
    };
    match step {
        Step::Child(select) => selected(node, select).any(|child| found(child, rest)),
        Step::Descendant(select) => {
            selected(node, select).any(|child| found(child, rest))
                || selected(node, &Select::Any).any(|child| found(child, steps))
        }
    }
}

/// The children of `node` that `select` picks.
fn selected<'a>(node: &'a Value, select: &'a Select) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
    match (select, node) {
        (Select::Key(key), Value::Object(map)) => Box::new(map.get(key).into_iter()),
        (Select::Index(index), Value::Array(items)) => Box::new(items.get(*index).into_iter()),
        (Select::Any, Value::Object(map)) => Box::new(map.values()),
        (Select::Any, Value::Array(items)) => Box::new(items.iter()),
        _ => Box::new(std::iter::empty()),
    }
}

fn each_selected(node: &mut Value, select: &Select, mut visit: impl FnMut(&mut Value)) {
    match (select, node) {
        (Select::Key(key), Value::Object(map)) => {
            if let Some(child) = map.get_mut(key) {
                visit(child);
            }
        }
        (Select::Index(index), Value::Array(items)) => {
            if let Some(child) = items.get_mut(*index) {
                visit(child);
            }
        }
        (Select::Any, Value::Object(map)) => map.values_mut().for_each(visit),
        (Select::Any, Value::Array(items)) => items.iter_mut().for_each(visit),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn masked(path: &str, mut value: Value) -> Value {
        let mask = Mask::parse(path).unwrap();
        let before = value.clone();
        mask.apply(&mut value, &json!("***"));
        assert_eq!(mask.matches(&before), value != before, "{path} on {before}");
        value
    }

    #[test]
    fn one_location() {
        let value = json!({"payload": {"taxId": "1", "other": "2"}, "taxId": "3"});
        assert_eq!(
            masked("$.payload.taxId", value.clone()),
            json!({"payload": {"taxId": "***", "other": "2"}, "taxId": "3"})
        );
        assert_eq!(masked("$.payload.missing", value.clone()), value);
        assert_eq!(
            masked("$['taxId']", value),
            json!({"payload": {"taxId": "1", "other": "2"}, "taxId": "***"})
        );
    }

    #[test]
    fn wildcards_match_every_member_or_element_at_their_level() {
        let value = json!({"payload": {"a": {"taxId": "1"}, "b": {"taxId": "2"}, "c": 3}, "list": [{"cpf": 1}, {"cpf": 2}]});
        assert_eq!(
            masked("$.payload.*.taxId", value.clone()),
            json!({"payload": {"a": {"taxId": "***"}, "b": {"taxId": "***"}, "c": 3}, "list": [{"cpf": 1}, {"cpf": 2}]})
        );
        assert_eq!(
            masked("$.list[*].cpf", value),
            json!({"payload": {"a": {"taxId": "1"}, "b": {"taxId": "2"}, "c": 3}, "list": [{"cpf": "***"}, {"cpf": "***"}]})
        );
    }

    #[test]
    fn recursive_descent_matches_at_any_depth() {
        let value = json!({
            "taxId": "0",
            "payload": {"requestBody": {"taxId": "1"}, "items": [{"taxId": "2", "deep": {"taxId": {"nested": true}}}]}
        });
        assert_eq!(
            masked("$..taxId", value),
            json!({
                "taxId": "***",
                "payload": {"requestBody": {"taxId": "***"}, "items": [{"taxId": "***", "deep": {"taxId": "***"}}]}
            })
        );
        assert_eq!(
            masked(
                "$.payload..items[0].taxId",
                json!({"payload": {"x": {"items": [{"taxId": 1}]}}})
            ),
            json!({"payload": {"x": {"items": [{"taxId": "***"}]}}})
        );
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in [
            "taxId",
            "$.",
            "$..",
            "$.a[0",
            "$[-1]",
            "$[?(@.a)]",
            "$a",
            "$.a..",
            "$..[x]",
        ] {
            assert!(Mask::parse(bad).is_err(), "{bad}");
        }
    }
}
