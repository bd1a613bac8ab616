//! The OpenAPI 3.1 document of the API, generated from [`ENDPOINTS`] and the schemas
//! of the types the handlers answer with, so it cannot drift from them.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::ENDPOINTS;

/// The document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "#/components/schemas/".into())
        .into_generator();
    let mut paths = Map::new();
    for endpoint in &ENDPOINTS {
        let schema = (endpoint.response)(&mut generator).to_value();
        let mut parameters: Vec<Value> = endpoint
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        parameters.extend(endpoint.query.iter().map(|param| {
            json!({ "name": param.name, "in": "query", "required": false, "description": param.description, "schema": { "type": "string" } })
        }));
        let success = if endpoint.operation == super::Operation::CreateSubscription {
            "201"
        } else {
            "200"
        };
        let mut responses = json!({
            success: { "description": "Success.", "content": { "application/json": { "schema": schema } } },
            "400": { "$ref": "#/components/responses/Problem" },
        });
        if !endpoint.roles.is_empty() {
            responses["401"] = json!({ "$ref": "#/components/responses/Problem" });
            responses["403"] = json!({ "$ref": "#/components/responses/Problem" });
        }
        let mut operation = json!({
            "operationId": endpoint.id,
            "summary": endpoint.summary,
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(body) = endpoint.request {
            let schema = body(&mut generator).to_value();
            operation["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": schema } } });
        }
        if endpoint.roles.is_empty() {
            operation["security"] = json!([]);
        } else {
            let roles: Vec<&str> = endpoint.roles.iter().map(|role| role.as_str()).collect();
            operation["security"] = json!([{ "bearer": [] }]);
            operation["x-hookgate-role"] = json!(roles.join(" | "));
        }
        let entry = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[endpoint.method.as_str().to_ascii_lowercase()] = operation;
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "hookgate admin API",
            "version": "v1",
            "description": "Served on the admin listener. Every call but this document needs `Authorization: Bearer <token>` with a token from `admin.tokens`, whose roles allow it (`x-hookgate-role`: viewer < operator; admin allows everything). Every refusal is an RFC 9457 problem document.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Problem": {
                    "description": "An RFC 9457 problem document.",
                    "content": { "application/problem+json": { "schema": {
                        "type": "object",
                        "required": ["type", "title", "status", "detail"],
                        "properties": {
                            "type": { "type": "string" },
                            "title": { "type": "string" },
                            "status": { "type": "integer" },
                            "detail": { "type": "string" },
                            "instance": { "type": "string" },
                            "request_id": { "type": "string" },
                        },
                    } } },
                },
            },
        },
    })
}
