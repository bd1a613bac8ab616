//! `${VAR}` and `${VAR:-default}` in config string values, resolved before the typed
//! parse so that every section sees final values. `$${` writes a literal `${`.

use serde_yaml::Value;

use super::error::Collector;
use super::source::{join_index, join_key};

/// Resolves variables in every string of `value`, in place. An unset variable without
/// a default is reported at the path of the string that uses it.
pub(crate) fn interpolate(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Collector<'_>,
) {
    match value {
        Value::String(text) if text.contains('$') => match expand(text, env) {
            Ok((expanded, defaulted)) => {
                *text = expanded;
                for variable in defaulted {
                    errors.defaulted(path, &variable);
                }
            }
            Err(message) => errors.at(path, message),
        },
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                interpolate(item, &join_index(path, index), env, errors);
            }
        }
        Value::Mapping(entries) => {
            for (key, item) in entries.iter_mut() {
                let key = key.as_str().unwrap_or("?");
                interpolate(item, &join_key(path, key), env, errors);
            }
        }
        Value::Tagged(tagged) => interpolate(&mut tagged.value, path, env, errors),
        _ => {}
    }
}

/// Expands one string; also returns the variables whose written default was used.
fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(text.len());
    let mut defaulted = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in `{text}`; expected e.g. `${{API_KEY}}`"))?;
            let expression = &tail[..end];
            let (name, default) = match expression.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expression, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid variable name `{name}` in `${{{expression}}}`; expected letters, digits and `_`, e.g. `${{API_KEY}}`"
                ));
            }
            match (env(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => {
                    out.push_str(default);
                    defaulted.push(name.to_owned());
                }
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set; set it or give a default, e.g. `${{{name}:-value}}`"
                    ))
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok((out, defaulted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "SET").then(|| "value".to_owned())
    }

    fn text(text: &str) -> Result<String, String> {
        expand(text, &env).map(|(expanded, _)| expanded)
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        assert_eq!(text("a ${SET} b").as_deref(), Ok("a value b"));
        assert_eq!(text("${UNSET:-dflt}").as_deref(), Ok("dflt"));
        assert_eq!(text("${SET:-dflt}").as_deref(), Ok("value"));
        assert_eq!(text("${UNSET:-}").as_deref(), Ok(""));
        assert_eq!(
            expand("${SET:-a}${UNSET:-b}", &env),
            Ok(("valueb".to_owned(), vec!["UNSET".to_owned()])),
            "the defaults used are named"
        );
    }

    #[test]
    fn keeps_lone_dollars_and_escapes() {
        assert_eq!(text("cost $5").as_deref(), Ok("cost $5"));
        assert_eq!(text("$${SET}").as_deref(), Ok("${SET}"));
    }

    #[test]
    fn unset_variable_names_the_variable() {
        let error = expand("${MISSING}", &env).unwrap_err();
        assert!(error.contains("`MISSING` is not set"), "{error}");
    }

    #[test]
    fn malformed_expressions_are_errors() {
        assert!(expand("${OPEN", &env).is_err());
        assert!(expand("${A-B}", &env).is_err());
    }
}
