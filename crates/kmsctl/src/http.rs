//! The server, reached through [`api::KmsClient`]: its errors turned into [`Failure`]s with
//! the exit code they imply. [`Extra`] carries the few requests whose newer wire shapes the
//! `api` crate does not have yet (see [`crate::wire`]), typed all the same.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use api::{ClientError, Secret};

use crate::output::{Failure, code, exit};

/// Turns a client error into the failure `kmsctl` reports.
pub fn fail(e: ClientError) -> Failure {
    match e {
        ClientError::Pending(p) => waiting(&serde_json::to_value(&*p).unwrap_or(Value::Null)),
        ClientError::Api {
            status,
            code,
            message,
        } => api_failure(status, &code, message),
        ClientError::Transport { .. } => Failure::new(code::UNREACHABLE, e.to_string()),
        ClientError::Decode { .. } => Failure::new(code::ANSWER, e.to_string()),
        other => Failure::local(other.to_string()),
    }
}

/// The failure of an error answer: its code kept, the exit code from the status or code.
fn api_failure(status: u16, code: &str, message: String) -> Failure {
    if code.starts_with("HTTP-") || code == "KMS-404" {
        // No error body, or an unknown route: most likely a server older than kmsctl.
        let what = if status == 404 {
            "the server does not know this request (is it older than this kmsctl?)".to_string()
        } else {
            format!("the server answered HTTP {status} without an error body")
        };
        let code = if code == "KMS-404" {
            code
        } else {
            code::ANSWER
        };
        return Failure::new(code, what);
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

/// Typed requests the `api` crate has no method for yet (newer routes and fields); the
/// same error handling as [`KmsClient`]'s.
pub struct Extra {
    base: String,
    agent: ureq::Agent,
}

impl Extra {
    /// An agent for `base`, trusting `ca_pem` for HTTPS when given.
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> Result<Self, Failure> {
        let mut config = ureq::Agent::config_builder().http_status_as_error(false);
        if let Some(pem) = ca_pem {
            let roots: Vec<_> = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
                    .build(),
            );
        }
        Ok(Extra {
            base: base.trim_end_matches('/').to_string(),
            agent: config.build().into(),
        })
    }

    /// `GET` (no body) or `POST` (a JSON body) under `/api/v1`, the answer decoded as `T`.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        token: &Secret,
        body: Option<&dyn ErasedJson>,
    ) -> Result<T, Failure> {
        let url = format!("{}{}{path}", self.base, api::API_PREFIX);
        let auth = format!("Bearer {}", token.expose());
        let result = match body {
            None if method == "GET" => self.agent.get(&url).header("Authorization", &auth).call(),
            None => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_empty(),
            Some(b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(b.value()),
        };
        let mut resp = result.map_err(|e| {
            Failure::new(
                code::UNREACHABLE,
                format!("cannot reach the server at {}: {e}", self.base),
            )
        })?;
        let status = resp.status().as_u16();
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
        if !(200..300).contains(&status) || status == 202 {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status == 202 {
                return Err(waiting(&v));
            }
            return Err(match v["error"]["code"].as_str() {
                Some(c) => api_failure(
                    status,
                    c,
                    v["error"]["message"].as_str().unwrap_or("").to_string(),
                ),
                None => api_failure(status, &format!("HTTP-{status}"), String::new()),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::new(
                code::ANSWER,
                format!("the server's answer to {method} {path} could not be read: {e}"),
            )
        })
    }
}

impl Extra {
    /// A public document (`/ca`, `/crl`, `/crl/delta`): served on the API listener and on
    /// the plain-HTTP public listener alike, no session.
    pub fn public(&self, path: &str) -> Result<Vec<u8>, Failure> {
        let mut resp = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .map_err(|e| {
                Failure::new(
                    code::UNREACHABLE,
                    format!("cannot reach the server at {}: {e}", self.base),
                )
            })?;
        let status = resp.status().as_u16();
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
        if status != 200 {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(match v["error"]["code"].as_str() {
                Some(c) => api_failure(
                    status,
                    c,
                    v["error"]["message"].as_str().unwrap_or("").to_string(),
                ),
                None => api_failure(status, &format!("HTTP-{status}"), String::new()),
            });
        }
        Ok(bytes)
    }
}

/// A request body, behind an object-safe trait.
pub trait ErasedJson {
    /// The body as JSON.
    fn value(&self) -> Value;
}

impl<T: Serialize> ErasedJson for T {
    fn value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Percent-encodes a path segment (e-mail addresses, backup names).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(status: u16, code: &str) -> Failure {
        fail(ClientError::Api {
            status,
            code: code.into(),
            message: "m".into(),
        })
    }

    #[test]
    fn answers_map_to_exit_codes() {
        let f = api(404, "HTTP-404");
        assert_eq!((f.exit, f.code.as_str()), (1, code::ANSWER));
        assert!(f.message.contains("older"), "{}", f.message);
        assert_eq!(api(423, "KMS-423").exit, 5);
        assert_eq!(api(401, "AUTH-003").exit, 6);
        assert_eq!(api(401, "AUTH-001").exit, 1);
        assert_eq!(api(428, "KMS-428").exit, 7);
        let w = waiting(
            &json!({"status": "pending", "request_id": 4, "approved_by": ["a"],
                    "needed": 2, "operation": "restore", "target": "b1",
                    "error": {"code": "AUTH-023"}}),
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
