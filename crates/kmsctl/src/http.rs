//! The HTTP client: one agent per run, the server's answers turned into JSON values or into
//! [`Failure`]s with the exit code the answer implies.

use std::path::Path;

use serde_json::{Value, json};

use crate::output::{Failure, code, exit};

/// The server and a configured agent.
pub struct Http {
    /// The base URL, without a trailing slash.
    pub base: String,
    agent: ureq::Agent,
}

impl Http {
    /// An agent for `server` (from `--server` or `KMS_URL`), trusting `ca_cert` for HTTPS
    /// when given.
    pub fn new(server: Option<&str>, ca_cert: Option<&Path>) -> Result<Self, Failure> {
        let base = server
            .ok_or_else(|| Failure::local("no server: give --server URL or set KMS_URL"))?
            .trim_end_matches('/')
            .to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(Failure::usage(
                "the server URL must start with http:// or https://",
            ));
        }
        let mut config = ureq::Agent::config_builder().http_status_as_error(false);
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| Failure::local(format!("reading {}: {e}", path.display())))?;
            let mut roots = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                if let ureq::tls::PemItem::Certificate(c) =
                    item.map_err(|e| Failure::local(format!("{}: {e}", path.display())))?
                {
                    roots.push(c);
                }
            }
            if roots.is_empty() {
                return Err(Failure::local(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
                    .build(),
            );
        }
        Ok(Http {
            base,
            agent: config.build().into(),
        })
    }

    /// Sends a request and returns the body of a 2xx answer (202, a waiting approval, is a
    /// [`Failure`] with exit 3).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Vec<u8>, Failure> {
        let url = format!("{}{}", self.base, path);
        let auth = token.map(|t| format!("Bearer {t}"));
        let result = if method == "GET" {
            let mut r = self.agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        } else {
            let mut r = self.agent.post(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send_json(body.unwrap_or_else(|| json!({})))
        };
        let mut resp = result.map_err(|e| {
            Failure::new(
                code::UNREACHABLE,
                format!("cannot reach the server at {}: {e}", self.base),
            )
        })?;
        let status = resp.status();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| {
                Failure::new(
                    code::UNREACHABLE,
                    format!("reading the server's answer: {e}"),
                )
            })?;
        if status.is_success() && status.as_u16() != 202 {
            return Ok(bytes);
        }
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(answer_failure(status.as_u16(), method, path, &v))
    }

    /// [`call`](Self::call), the answer parsed as JSON.
    pub fn json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let bytes = self.call(method, path, token, body)?;
        parse(&bytes)
    }

    /// A GET with the session token.
    pub fn get(&self, path: &str, token: &str) -> Result<Value, Failure> {
        self.json("GET", path, Some(token), None)
    }

    /// A POST with the session token.
    pub fn post(&self, path: &str, token: &str, body: Option<Value>) -> Result<Value, Failure> {
        self.json("POST", path, Some(token), body)
    }
}

/// The server's answer as JSON.
pub fn parse(bytes: &[u8]) -> Result<Value, Failure> {
    serde_json::from_slice(bytes)
        .map_err(|_| Failure::new(code::ANSWER, "the server's answer is not JSON"))
}

/// The failure a non-2xx (or 202) answer stands for.
pub fn answer_failure(status: u16, method: &str, path: &str, v: &Value) -> Failure {
    if matches!(v["status"].as_str(), Some("pending" | "waiting")) {
        return waiting(v);
    }
    let Some(code) = v["error"]["code"].as_str() else {
        let reason = match status {
            404 => format!(
                "the server has no {method} {} (is it older than this kmsctl?)",
                path.split('?').next().unwrap_or(path)
            ),
            _ => format!(
                "the server answered HTTP {status} to {method} {path} without an error body"
            ),
        };
        return Failure::new(code::ANSWER, reason);
    };
    let mut message = v["error"]["message"].as_str().map_or_else(
        || format!("the server answered HTTP {status}"),
        String::from,
    );
    if code == "KMS-404" {
        // An unknown route: say which, and the likely reason.
        message = format!(
            "{message}: {method} {} (is the server older than this kmsctl?)",
            path.split('?').next().unwrap_or(path)
        );
    }
    let exit = match (status, code) {
        (423, _) | (_, "KMS-423") => exit::LOCKED,
        (_, "AUTH-003") => exit::NOT_SIGNED_IN,
        (428, _) => exit::CONFIRM,
        _ => exit::FAILED,
    };
    Failure::new(code, message).exit(exit)
}

/// A quorum operation waits for approvals: exit 3; with `--json` the waiting answer (its
/// `status`, `request_id`, `operation`, `target`, `approved_by`, `needed`) is printed.
pub fn waiting(v: &Value) -> Failure {
    let id = &v["request_id"];
    let have = v["approved_by"].as_array().map_or(0, Vec::len) as i64;
    let missing = v["needed"].as_i64().map(|n| (n - have).max(1));
    let what = match (v["operation"].as_str(), v["target"].as_str()) {
        (Some(op), Some(t)) if !t.is_empty() => format!(" ({op} {t})"),
        (Some(op), _) => format!(" ({op})"),
        _ => String::new(),
    };
    let message = match missing {
        Some(n) => format!(
            "waiting for {n} more approval{}; request id {id}{what}: another administrator runs \
             kmsctl approve {id}, then run this command again",
            if n == 1 { "" } else { "s" }
        ),
        None => format!("waiting for approvals; request id {id}{what}"),
    };
    let mut shown = serde_json::Map::new();
    for key in [
        "status",
        "request_id",
        "operation",
        "target",
        "approved_by",
        "needed",
    ] {
        if let Some(x) = v.get(key) {
            shown.insert(key.into(), x.clone());
        }
    }
    Failure {
        exit: exit::WAITING,
        code: v["error"]["code"]
            .as_str()
            .unwrap_or("AUTH-023")
            .to_string(),
        message,
        json: Some(Value::Object(shown)),
    }
}

/// Percent-encodes a path segment (e-mail addresses and the like).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@+".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?a=b&c=d` from the pairs that have a value (values percent-encoded).
pub fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_exit_codes() {
        let f = answer_failure(404, "GET", "/api/v1/x", &Value::Null);
        assert_eq!((f.exit, f.code.as_str()), (1, code::ANSWER));
        assert!(f.message.contains("no GET /api/v1/x"), "{}", f.message);
        let body = |c: &str| json!({"error": {"code": c, "message": "m"}});
        assert_eq!(answer_failure(423, "POST", "/", &body("KMS-423")).exit, 5);
        assert_eq!(answer_failure(401, "POST", "/", &body("AUTH-003")).exit, 6);
        assert_eq!(answer_failure(401, "POST", "/", &body("AUTH-001")).exit, 1);
        assert_eq!(answer_failure(428, "POST", "/", &body("KMS-428")).exit, 7);
        let w = answer_failure(
            202,
            "POST",
            "/",
            &json!({"status": "pending", "request_id": 4, "approved_by": ["a"], "needed": 2,
                    "operation": "restore", "target": "b1", "error": {"code": "AUTH-023"}}),
        );
        assert_eq!(w.exit, 3);
        assert!(
            w.message
                .starts_with("waiting for 1 more approval; request id 4")
        );
        assert_eq!(w.json.as_ref().unwrap()["status"], "pending");
        assert!(w.human().starts_with("kmsctl: waiting"), "{}", w.human());
    }
}
