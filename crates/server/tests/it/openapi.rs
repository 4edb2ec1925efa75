//! The generated OpenAPI document against the router: every documented operation is served
//! with its method (and no other), every route the server code registers is documented, and
//! the schemas are the real ones (they name the fields the live answers carry).

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{add_and_enroll, call, fixture, j, login};

async fn document(app: &Router) -> Value {
    let (s, doc) = call(app, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    doc
}

/// `(method, path)` of every operation in the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn concrete(path: &str) -> String {
    path.replace("{email}", "nobody@example.com")
        .replace("{name}", "nobody")
        .replace("{id}", "999999")
        .replace("{serial}", "abcdef")
        .replace("{operation}", "recover-key")
}

async fn status_of(app: &Router, method: &str, uri: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn every_documented_operation_is_served_with_its_method_only() {
    let f = fixture();
    let app = &f.app;
    let doc = document(app).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 40, "{}", ops.len());
    for (method, path) in &ops {
        let uri = concrete(path);
        let (s, code) = status_of(app, method, &uri).await;
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(s == StatusCode::NOT_FOUND && (code.is_empty() || code == "KMS-404")),
            "{method} {path} is documented but not served ({s}, {code:?})"
        );
        // The other method is not served on this path unless documented too.
        let other = if method == "GET" { "POST" } else { "GET" };
        if !ops.iter().any(|(m, p)| m == other && p == path) {
            let (s, _) = status_of(app, other, &uri).await;
            assert_eq!(
                s,
                StatusCode::METHOD_NOT_ALLOWED,
                "{other} {path} is served but not documented"
            );
        }
    }
}

/// Every route the server registers comes from a `routes!` of described handlers: no plain
/// `.route(` outside the console, and one documented operation per handler listed.
#[test]
fn every_route_in_the_code_is_documented() {
    let lib = include_str!("../../src/lib.rs");
    let main = include_str!("../../src/main.rs");
    for (name, src) in [("lib.rs", lib), ("main.rs", main)] {
        assert!(
            !src.contains(".route(\""),
            "{name} registers a route outside routes!(): describe it with #[utoipa::path]"
        );
    }
    let mut handlers = 0;
    for part in lib.split("routes!(").skip(1) {
        let list = &part[..part.find(')').unwrap()];
        handlers += list.split(',').filter(|h| !h.trim().is_empty()).count();
    }
    let doc: Value =
        serde_json::to_value(tokio::runtime::Runtime::new().unwrap().block_on(async {
            let f = fixture();
            document(&f.app).await
        }))
        .unwrap();
    // `/ca`, `/crl` and `/crl/delta` are listed twice (public and under /api/v1), as served.
    assert_eq!(
        operations(&doc).len(),
        handlers,
        "handlers in routes!() vs operations"
    );
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            let s = &doc["components"]["schemas"][name];
            assert!(!s.is_null(), "{r} is not in the components");
            resolve(doc, s)
        }
        None => schema,
    }
}

/// The properties and required fields of an object schema, through `allOf`.
fn object_fields(doc: &Value, schema: &Value) -> (serde_json::Map<String, Value>, Vec<String>) {
    let schema = resolve(doc, schema);
    let mut props = serde_json::Map::new();
    let mut required = Vec::new();
    if let Some(parts) = schema["allOf"].as_array() {
        for p in parts {
            let (pp, rr) = object_fields(doc, p);
            props.extend(pp);
            required.extend(rr);
        }
    }
    if let Some(p) = schema["properties"].as_object() {
        props.extend(p.clone());
    }
    if let Some(r) = schema["required"].as_array() {
        required.extend(r.iter().map(|v| v.as_str().unwrap().to_string()));
    }
    (props, required)
}

fn type_ok(schema: &Value, value: &Value) -> bool {
    let name = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    match &schema["type"] {
        Value::String(t) => t == name || (t == "number" && name == "integer"),
        Value::Array(ts) => ts.iter().any(|t| t == name),
        _ => true,
    }
}

/// Checks `value` against `schema`: every field is documented, required ones are present,
/// types and enums agree, recursively. Returns the first disagreement.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema[key].as_array() {
            return if branches.iter().any(|b| check(doc, b, value, at).is_ok()) {
                Ok(())
            } else {
                Err(format!("{at}: {value} matches no branch of {key}"))
            };
        }
    }
    if !type_ok(schema, value) {
        return Err(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    if let (Some(values), Value::String(s)) = (schema["enum"].as_array(), value)
        && !values.iter().any(|v| v == s)
    {
        return Err(format!("{at}: {s:?} is not one of {values:?}"));
    }
    match value {
        Value::Object(map) if schema["properties"].is_object() || schema["allOf"].is_array() => {
            let (props, required) = object_fields(doc, schema);
            for r in &required {
                if !map.contains_key(r) {
                    return Err(format!("{at}.{r} is required but absent"));
                }
            }
            for (k, v) in map {
                let s = props
                    .get(k)
                    .ok_or_else(|| format!("{at}.{k} is answered but not documented"))?;
                check(doc, s, v, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, v) in items.iter().enumerate() {
                check(doc, &schema["items"], v, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn ok_schema<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method.to_lowercase()];
    let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {path} has no 200 JSON schema");
    schema
}

#[tokio::test]
async fn schemas_are_the_real_ones() {
    let f = fixture();
    let app = &f.app;
    let doc = document(app).await;
    // Every JSON body (request or answer) is a named schema with fields, not a bare object.
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path}"
        );
        for (status, resp) in op["responses"].as_object().unwrap() {
            let Some(schema) = resp["content"]["application/json"]["schema"].as_object() else {
                continue;
            };
            if path == "/api/v1/openapi.json" {
                continue;
            }
            let schema = Value::Object(schema.clone());
            assert!(
                schema["$ref"].is_string(),
                "{method} {path} {status}: the answer's schema is not named: {schema}"
            );
            let (props, _) = object_fields(&doc, &schema);
            assert!(!props.is_empty(), "{method} {path} {status}: no fields");
        }
        if let Some(body) = op["requestBody"]["content"]["application/json"]["schema"].as_object() {
            let (props, _) = object_fields(&doc, &Value::Object(body.clone()));
            assert!(
                !props.is_empty(),
                "{method} {path}: request body without fields"
            );
        }
        if op["security"].is_array() {
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path}: no 401"
            );
        }
    }
    let (props, required) = object_fields(&doc, ok_schema(&doc, "POST", "/api/v1/users"));
    assert!(props.contains_key("enrollment_token"), "{props:?}");
    assert!(required.contains(&"enrollment_token".to_string()));
    let pending = &doc["paths"]["/api/v1/users/{email}/recover"]["post"]["responses"]["202"];
    let (props, _) = object_fields(&doc, &pending["content"]["application/json"]["schema"]);
    assert!(props.contains_key("request_id"), "{pending}");

    // Live answers match their documented schemas field by field.
    let t = login(app).await;
    let (_, v) = call(
        app,
        "POST",
        "/api/v1/login",
        None,
        j(json!({"name": "admin", "password": super::ADMIN_PW})),
    )
    .await;
    check(&doc, ok_schema(&doc, "POST", "/api/v1/login"), &v, "login").unwrap();
    let (s, v) = call(
        app,
        "POST",
        "/api/v1/users",
        Some(&t),
        j(json!({"email": "carol@example.com", "name": "Carol"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    check(
        &doc,
        ok_schema(&doc, "POST", "/api/v1/users"),
        &v,
        "add user",
    )
    .unwrap();
    let enrolled = add_and_enroll(app, &t, "alice@example.com", "alice-sign.key.pem").await;
    check(
        &doc,
        ok_schema(&doc, "POST", "/api/v1/enroll"),
        &enrolled,
        "enroll",
    )
    .unwrap();
    for (path, doc_path) in [
        ("/api/v1/users", "/api/v1/users"),
        ("/api/v1/users?limit=1", "/api/v1/users"),
        ("/api/v1/users/alice@example.com", "/api/v1/users/{email}"),
        ("/api/v1/status", "/api/v1/status"),
        ("/api/v1/certificates", "/api/v1/certificates"),
        ("/api/v1/audit", "/api/v1/audit"),
        ("/api/v1/audit?limit=2", "/api/v1/audit"),
        ("/api/v1/admins", "/api/v1/admins"),
        ("/api/v1/approvals", "/api/v1/approvals"),
        ("/api/v1/policies", "/api/v1/policies"),
        ("/api/v1/unlock-methods", "/api/v1/unlock-methods"),
        (
            "/api/v1/directory/alice@example.com",
            "/api/v1/directory/{email}",
        ),
    ] {
        let (s, v) = call(app, "GET", path, Some(&t), None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        check(&doc, ok_schema(&doc, "GET", doc_path), &v, path).unwrap();
    }
    let (_, v) = call(app, "GET", "/api/v1/certificates?limit=1", Some(&t), None).await;
    let serial = v["certificates"][0]["serial"].as_str().unwrap().to_string();
    let (_, v) = call(
        app,
        "GET",
        &format!("/api/v1/certificates/{serial}"),
        Some(&t),
        None,
    )
    .await;
    check(
        &doc,
        ok_schema(&doc, "GET", "/api/v1/certificates/{serial}"),
        &v,
        "certificate",
    )
    .unwrap();
    let (_, v) = call(app, "GET", "/healthz", None, None).await;
    check(&doc, ok_schema(&doc, "GET", "/healthz"), &v, "healthz").unwrap();
    // An error answer matches ErrorBody.
    let (s, v) = call(
        app,
        "GET",
        "/api/v1/users/nobody@example.com",
        Some(&t),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let e = &doc["paths"]["/api/v1/users/{email}"]["get"]["responses"]["404"];
    check(&doc, &e["content"]["application/json"]["schema"], &v, "404").unwrap();
    // The checker itself catches an undocumented field.
    let mut extra = v.clone();
    extra["error"]["extra"] = json!(1);
    assert!(
        check(
            &doc,
            &e["content"]["application/json"]["schema"],
            &extra,
            "x"
        )
        .is_err()
    );
}
