//! `hookgate sign`: a ready-to-run curl command that a route accepts, so operators can
//! test a route's checks without the provider.

use std::path::Path;

use crate::auth::{sign_all, unix_now};
use crate::model::{ContentType, PathParams};
use crate::registry::Snapshot;

/// What to sign.
#[derive(Debug)]
pub struct SignOptions<'a> {
    /// The route's name.
    pub route: &'a str,
    /// The body file (sent with `--data-binary @file`).
    pub body_path: &'a Path,
    /// Path parameters, `name=value`.
    pub params: &'a [(String, String)],
    /// PEM private key for JWT checks.
    pub private_key: Option<&'a [u8]>,
    /// Base URL, e.g. `http://127.0.0.1:8080`; default from the config's `listen`.
    pub base_url: Option<&'a str>,
}

/// Builds the curl command, or says why it cannot.
pub fn curl_command(config: &Snapshot, options: &SignOptions<'_>) -> Result<String, String> {
    let live = config.route(options.route).ok_or_else(|| {
        let names: Vec<_> = config.routes.iter().map(|r| r.route.name.as_str()).collect();
        format!("no route named `{}`; routes: {}", options.route, names.join(", "))
    })?;
    let route = &live.route;
    let body = std::fs::read(options.body_path)
        .map_err(|error| format!("cannot read {}: {error}", options.body_path.display()))?;
    let params = PathParams(options.params.to_vec());
    let path = fill_path(&route.path, &params)?;
    let signed = sign_all(&live.verifiers, &body, &params, options.private_key, unix_now())?;
    let base = match options.base_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => {
            let listen = config.settings.listen;
            let host = if listen.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                listen.ip().to_string()
            };
            format!("http://{host}:{}", listen.port())
        }
    };
    let mut url = format!("{base}{path}");
    for (index, (name, value)) in signed.query.iter().enumerate() {
        url.push(if index == 0 { '?' } else { '&' });
        url.push_str(&percent_encode(name));
        url.push('=');
        url.push_str(&percent_encode(value));
    }
    let method = route.methods.first().map_or("POST", |m| m.as_str());
    let mut command = format!("curl -sS -i -X {method} {}", quote(&url));
    if route.content_type == ContentType::Json {
        command.push_str(" \\\n  -H 'content-type: application/json'");
    }
    for (name, value) in &signed.headers {
        command.push_str(&format!(" \\\n  -H {}", quote(&format!("{name}: {value}"))));
    }
    command.push_str(&format!(
        " \\\n  --data-binary {}\n",
        quote(&format!("@{}", options.body_path.display()))
    ));
    Ok(command)
}

/// `/customers/{customerId}/x` with `customerId=c1` → `/customers/c1/x`.
fn fill_path(pattern: &str, params: &PathParams) -> Result<String, String> {
    let mut out = String::new();
    for segment in pattern.split('/').skip(1) {
        out.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => out.push_str(
                params
                    .get(name)
                    .ok_or_else(|| format!("the route's path needs `{name}`: pass --param {name}=VALUE"))?,
            ),
            None => out.push_str(segment),
        }
    }
    Ok(out)
}

/// Single-quotes for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn percent_encode(text: &str) -> String {
    crate::model::percent::encode(text, crate::model::percent::UNRESERVED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_path_parameters() {
        let params = PathParams(vec![("customerId".into(), "cus_1".into())]);
        assert_eq!(
            fill_path("/customers/{customerId}/products", &params).unwrap(),
            "/customers/cus_1/products"
        );
        assert!(fill_path("/x/{missing}", &params).is_err());
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }
}
