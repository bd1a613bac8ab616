//! `output: cloudevents`: the CloudEvents 1.0 structured envelope around an event,
//! its attributes filled from their templates. Serialised straight from the event,
//! which is not copied into it.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::error::EventError;
use super::CloudEvents;
use crate::model::template::Scope;

/// The envelope's attributes in the order they are written, then `data`.
struct Envelope<'a> {
    attributes: Vec<(&'a str, String)>,
    data: &'a Value,
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.attributes.len() + 1))?;
        for (name, value) in &self.attributes {
            map.serialize_entry(name, value)?;
        }
        map.serialize_entry("data", self.data)?;
        map.end()
    }
}

/// The bytes of `event` in its envelope; `scope` fills the attribute templates.
pub fn render(attributes: &CloudEvents, event: &Value, scope: Scope<'_>) -> Result<Vec<u8>, EventError> {
    let CloudEvents {
        source,
        kind,
        id,
        subject,
        extensions,
    } = attributes;
    let mut written = Vec::with_capacity(7 + extensions.len());
    written.push(("specversion", "1.0".to_owned()));
    let id = match id {
        Some(template) => template.render(scope)?,
        None => uuid::Uuid::now_v7().to_string(),
    };
    written.push(("id", id));
    written.push(("source", source.render(scope)?));
    written.push(("type", kind.render(scope)?));
    if let Some(subject) = subject {
        written.push(("subject", subject.render(scope)?));
    }
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
    written.push(("time", now.to_string()));
    written.push(("datacontenttype", "application/json".to_owned()));
    for (name, value) in extensions {
        written.push((name.as_str(), value.render(scope)?));
    }
    let envelope = Envelope {
        attributes: written,
        data: event,
    };
    serde_json::to_vec(&envelope).map_err(|error| EventError::Render(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::template::{Line, Template};
    use crate::model::PathParams;
    use http::{HeaderMap, Method, Uri};
    use serde_json::json;

    #[test]
    fn attributes_in_order_then_the_event_as_data() {
        let template = |text: &str| Template::parse(text).unwrap();
        let attributes = CloudEvents {
            source: template("https://bank/{$.bank}"),
            kind: template("com.bank.{$.name}"),
            id: Some(template("{$.id}")),
            subject: Some(template("{$.account}")),
            extensions: vec![("bankid".to_owned(), template("{$.bank}"))],
        };
        let event =
            json!({"bank": "b1", "name": "created", "id": "e1", "account": "a1", "n": [1, {"x": null}]});
        let (params, headers, uri) = (PathParams::default(), HeaderMap::new(), Uri::from_static("/"));
        let scope = Scope {
            event: &event,
            params: &params,
            headers: &headers,
            request: Line {
                method: &Method::POST,
                uri: &uri,
            },
        };
        let bytes = render(&attributes, &event, scope).unwrap();
        let envelope: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
        let names: Vec<&str> = envelope.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "specversion",
                "id",
                "source",
                "type",
                "subject",
                "time",
                "datacontenttype",
                "bankid",
                "data"
            ]
        );
        assert_eq!(envelope["source"], "https://bank/b1");
        assert_eq!(envelope["type"], "com.bank.created");
        assert_eq!(envelope["id"], "e1");
        assert_eq!(envelope["data"], event);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(r#"{"specversion":"1.0","id":"e1","#), "{text}");
        assert!(
            text.ends_with(
                r#""data":{"bank":"b1","name":"created","id":"e1","account":"a1","n":[1,{"x":null}]}}"#
            ),
            "{text}"
        );
    }
}
