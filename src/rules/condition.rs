//! `when`: an RFC 9535 filter expression over the event (`@` is the event), plus
//! optional header and path-parameter equalities, compiled once at load.

use http::{HeaderMap, HeaderName};
use serde_json::Value;

use super::filter::Filter;
use crate::model::PathParams;

/// A compiled `when`.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The filter as written.
    pub text: Option<String>,
    filter: Option<Filter>,
    headers: Vec<(HeaderName, String)>,
    params: Vec<(String, String)>,
}

/// The filter parser's message about `expression`, which it parsed wrapped in
/// `$[?...]`, told in terms of what was written: the column within the expression,
/// and what the parser expected there.
fn filter_error(expression: &str, parser: &str) -> String {
    const WRAPPER: usize = "$[?".len();
    let column = parser
        .split_once("--> ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|at| at.split(':').nth(1))
        .and_then(|column| column.parse::<usize>().ok())
        .map(|column| {
            column
                .saturating_sub(WRAPPER)
                .clamp(1, expression.chars().count() + 1)
        });
    let expected = parser
        .lines()
        .find_map(|line| line.trim().strip_prefix("= "))
        .unwrap_or("a valid expression");
    let example = "expected an RFC 9535 filter expression such as `@.eventName == 'x'`";
    match column {
        Some(column) => format!("{example}; in `{expression}` at character {column}: {expected}"),
        None => format!("{example}; `{expression}`: {expected}"),
    }
}

impl Condition {
    /// Compiles `filter` (e.g. `search(@.eventName, '^consent_')`), header and
    /// parameter equalities.
    pub fn compile(
        filter: Option<&str>,
        headers: Vec<(HeaderName, String)>,
        params: Vec<(String, String)>,
    ) -> Result<Condition, String> {
        let compiled = match filter {
            Some(expression) => Some(Filter::compile(
                &jsonpath_rust::parser::parse_json_path(&format!("$[?{expression}]"))
                    .map_err(|error| filter_error(expression, &error.to_string()))?,
            )),
            None => None,
        };
        Ok(Condition {
            text: filter.map(str::to_owned),
            filter: compiled,
            headers,
            params,
        })
    }

    /// Whether `event` (with this request's headers and parameters) matches.
    pub fn matches(&self, event: &Value, headers: &HeaderMap, params: &PathParams) -> bool {
        let headers_match = self
            .headers
            .iter()
            .all(|(name, value)| headers.get(name).and_then(|v| v.to_str().ok()) == Some(value.as_str()));
        let params_match = self
            .params
            .iter()
            .all(|(name, value)| params.get(name) == Some(value.as_str()));
        if !(headers_match && params_match) {
            return false;
        }
        self.filter.as_ref().is_none_or(|filter| filter.matches(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn when(filter: &str) -> Condition {
        Condition::compile(Some(filter), vec![], vec![]).unwrap()
    }

    #[test]
    fn filters_over_the_event() {
        let (headers, params) = (HeaderMap::new(), PathParams::default());
        let consent = json!({"eventName": "consent_authorised", "n": 3, "tags": ["a"]});
        let product = json!({"eventName": "product_generated_success"});
        let consents = when("search(@.eventName, '^consent_')");
        assert!(consents.matches(&consent, &headers, &params));
        assert!(!consents.matches(&product, &headers, &params));
        let products =
            when("@.eventName == 'product_generated_success' || @.eventName == 'product_generated_failed'");
        assert!(products.matches(&product, &headers, &params));
        assert!(!products.matches(&consent, &headers, &params));
        assert!(when("@.n > 2").matches(&consent, &headers, &params));
        assert!(
            !when("@.missing == 'x'").matches(&consent, &headers, &params),
            "a missing path does not match"
        );
        assert!(
            when("@.ünï == 'ok'").matches(&json!({"ünï": "ok"}), &headers, &params),
            "unicode keys"
        );
        assert!(Condition::compile(Some("@.a ==="), vec![], vec![]).is_err());
    }

    #[test]
    fn headers_and_params_must_equal() {
        let condition = Condition::compile(
            None,
            vec![(HeaderName::from_static("x-event"), "created".into())],
            vec![("kind".into(), "customer".into())],
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-event", "created".parse().unwrap());
        let params = PathParams(vec![("kind".into(), "customer".into())]);
        assert!(condition.matches(&json!({}), &headers, &params));
        assert!(!condition.matches(&json!({}), &HeaderMap::new(), &params));
        assert!(!condition.matches(&json!({}), &headers, &PathParams::default()));
    }

    #[test]
    fn a_bad_filter_is_located_in_what_was_written() {
        let error = Condition::compile(Some("@.a == "), Vec::new(), Vec::new()).unwrap_err();
        assert_eq!(
            error,
            "expected an RFC 9535 filter expression such as `@.eventName == 'x'`; in `@.a == ` at character 8: expected comparable"
        );
        assert!(!error.contains("$[?"), "{error}");
    }
}
