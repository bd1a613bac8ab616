//! `transform`: the steps that rewrite an event, in order. `set`, `copy`, `move`,
//! `remove` and `rename` edit it in place; `template` replaces it with a new document
//! built from a YAML shape whose strings are JSONPath references (`$.a.b`) or string
//! templates (`"{$.first} {$.last}"`). Compiled once; a missing value a step needs is
//! an error for that event.

use serde_json::{Map, Value};

use http::HeaderMap;

use super::error::EventError;
use crate::model::path::Path;
use crate::model::template::{Line, Scope, Template};
use crate::model::PathParams;

/// One compiled step.
#[derive(Debug, Clone)]
pub enum Step {
    /// Set each path to a fixed value.
    Set(Vec<(Path, Value)>),
    /// Copy each source to a destination (absent sources are skipped).
    Copy(Vec<(Path, Path)>),
    /// Move each source to a destination (absent sources are skipped).
    Move(Vec<(Path, Path)>),
    /// Remove these paths (absent ones are fine).
    Remove(Vec<Path>),
    /// Rename the member a path ends at, keeping its position.
    Rename(Vec<(Path, String)>),
    /// Replace the event with a document built from this shape.
    Template(Shape),
}

/// A document to build.
#[derive(Debug, Clone)]
pub enum Shape {
    /// The value at a path of the event (absent or null is an error).
    Path(Path),
    /// A string template.
    Text(Template),
    /// A fixed value.
    Literal(Value),
    /// An object of shapes, in order.
    Object(Vec<(String, Shape)>),
    /// An array of shapes.
    Array(Vec<Shape>),
}

impl Shape {
    /// Compiles a YAML/JSON value into a shape: strings starting with `$` are paths,
    /// strings with `{...}` placeholders are templates, everything else is literal.
    pub fn compile(value: &Value) -> Result<Shape, String> {
        Ok(match value {
            Value::String(text) if text.starts_with('$') => Shape::Path(Path::parse(text)?),
            Value::String(text) => {
                let template = Template::parse(text)?;
                if template.is_literal() {
                    Shape::Literal(value.clone())
                } else {
                    Shape::Text(template)
                }
            }
            Value::Object(map) => Shape::Object(
                map.iter()
                    .map(|(key, value)| Ok((key.clone(), Shape::compile(value)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(items) => Shape::Array(items.iter().map(Shape::compile).collect::<Result<_, _>>()?),
            other => Shape::Literal(other.clone()),
        })
    }

    fn build(&self, scope: Scope<'_>) -> Result<Value, EventError> {
        Ok(match self {
            Shape::Path(path) => match path.get(scope.event) {
                None | Some(Value::Null) => {
                    return Err(EventError::NoValue {
                        path: path.as_str().to_owned(),
                    })
                }
                Some(value) => value.clone(),
            },
            Shape::Text(template) => Value::String(template.render(scope)?),
            Shape::Literal(value) => value.clone(),
            Shape::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (key, shape) in members {
                    map.insert(key.clone(), shape.build(scope)?);
                }
                Value::Object(map)
            }
            Shape::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|shape| shape.build(scope))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

impl Step {
    /// Applies the step to `event`; templates also see the request's path
    /// parameters, headers, method and URI.
    pub fn apply(
        &self,
        event: &mut Value,
        params: &PathParams,
        headers: &HeaderMap,
        request: Line<'_>,
    ) -> Result<(), EventError> {
        match self {
            Step::Set(pairs) => {
                for (path, value) in pairs {
                    path.set(event, value.clone()).map_err(EventError::Write)?;
                }
            }
            Step::Copy(pairs) => {
                for (to, from) in pairs {
                    if let Some(value) = from.get(event).cloned() {
                        to.set(event, value).map_err(EventError::Write)?;
                    }
                }
            }
            Step::Move(pairs) => {
                for (to, from) in pairs {
                    if let Some(value) = from.remove(event) {
                        to.set(event, value).map_err(EventError::Write)?;
                    }
                }
            }
            Step::Remove(paths) => {
                for path in paths {
                    path.remove(event);
                }
            }
            Step::Rename(pairs) => {
                for (path, name) in pairs {
                    path.rename(event, name).map_err(EventError::Write)?;
                }
            }
            Step::Template(shape) => {
                let built = shape.build(Scope {
                    event,
                    params,
                    headers,
                    request,
                })?;
                *event = built;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> Path {
        Path::parse(text).unwrap()
    }

    fn run(step: &Step, event: &mut Value) -> Result<(), String> {
        let (params, headers) = (
            PathParams(vec![("customerId".into(), "cus_1".into())]),
            HeaderMap::new(),
        );
        let uri = http::Uri::from_static("/customers/cus_1/products?kind=upsert");
        let line = Line {
            method: &http::Method::PUT,
            uri: &uri,
        };
        step.apply(event, &params, &headers, line)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn set_copy_move_remove_rename() {
        let mut event = json!({"a": 1, "b": {"c": 2}, "gone": true});
        run(&Step::Set(vec![(path("$.source"), json!("klavi"))]), &mut event).unwrap();
        run(
            &Step::Copy(vec![
                (path("$.copy"), path("$.b.c")),
                (path("$.never"), path("$.absent")),
            ]),
            &mut event,
        )
        .unwrap();
        run(&Step::Move(vec![(path("$.moved"), path("$.a"))]), &mut event).unwrap();
        run(
            &Step::Remove(vec![path("$.gone"), path("$.not.there")]),
            &mut event,
        )
        .unwrap();
        run(&Step::Rename(vec![(path("$.b"), "bee".into())]), &mut event).unwrap();
        assert_eq!(
            event,
            json!({"bee": {"c": 2}, "source": "klavi", "copy": 2, "moved": 1})
        );
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"bee":{"c":2},"source":"klavi","copy":2,"moved":1}"#,
            "order kept"
        );
    }

    #[test]
    fn template_builds_a_new_document() {
        let shape = Shape::compile(&json!({
            "type": "product.deleted",
            "id": "$.id",
            "customer": "{path.customerId}",
            "label": "product {$.id}",
            "nested": {"list": ["$.id", 1]},
        }))
        .unwrap();
        let mut event = json!({"id": "prod_1"});
        run(&Step::Template(shape), &mut event).unwrap();
        assert_eq!(
            event,
            json!({"type": "product.deleted", "id": "prod_1", "customer": "cus_1", "label": "product prod_1", "nested": {"list": ["prod_1", 1]}})
        );
    }

    #[test]
    fn template_with_missing_values_is_an_error() {
        let shape = Shape::compile(&json!({"id": "$.missing"})).unwrap();
        let error = run(&Step::Template(shape), &mut json!({})).unwrap_err();
        assert!(error.contains("$.missing"), "{error}");
        let shape = Shape::compile(&json!({"x": "{header.x-none}"})).unwrap();
        assert!(run(&Step::Template(shape), &mut json!({})).is_err());
    }

    #[test]
    fn set_through_a_scalar_is_an_error() {
        let error = run(&Step::Set(vec![(path("$.a.b"), json!(1))]), &mut json!({"a": 5})).unwrap_err();
        assert!(error.contains("$.a.b"), "{error}");
    }
}
