//! The server, reached through [`api::KmsClient`]: its errors turned into [`Failure`]s with
//! the exit code they imply.

use serde_json::Value;

use api::ClientError;

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
    let agents = v["error"]["code"].as_str() == Some("AUTH-130");
    let message = match missing {
        Some(n) if agents => format!(
            "waiting for {n} more key recovery agent{}; agent request {id}{what}: each agent \
             runs kmsctl approve {id} --agent-key FILE, then run this command again",
            if n == 1 { "" } else { "s" }
        ),
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
            &json!({"status": "waiting", "request_id": 4, "approved_by": ["a"],
                    "needed": 2, "operation": "restore", "target": "b1",
                    "error": {"code": "AUTH-023"}}),
        );
        assert_eq!(w.exit, 3);
        assert!(
            w.message
                .starts_with("waiting for 1 more approval; request id 4")
        );
        assert_eq!(w.json.as_ref().unwrap()["status"], "waiting");
        assert!(w.human().starts_with("kmsctl: waiting"), "{}", w.human());
    }
}
