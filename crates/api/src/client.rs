//! [`KmsClient`]: a typed blocking client of kmsd's API over ureq and rustls.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::*;

/// Largest answer read (a PKCS#12 bundle of many keys, a long audit log).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// A typed blocking client of kmsd. Each method is one route; a quorum operation that waits
/// for approvals fails with [`ClientError::Pending`].
///
/// ```no_run
/// let client = api::KmsClient::new("https://kms.example.com:8443", None)?;
/// let session = client.login("admin", &api::Secret::new("admin password"))?;
/// let client = client.with_token(session.token);
/// let status = client.status()?;
/// println!("{} users active", status.users.active);
/// # Ok::<(), api::ClientError>(())
/// ```
#[derive(Clone)]
pub struct KmsClient {
    base: String,
    agent: ureq::Agent,
    token: Option<Secret>,
}

impl std::fmt::Debug for KmsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsClient")
            .field("base", &self.base)
            .field("signed_in", &self.token.is_some())
            .finish()
    }
}

/// A path segment, percent-encoded (e-mail addresses, names, serials).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query struct as `(name, value)` pairs, unset parameters left out.
fn query_pairs(q: &impl Serialize) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(q) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect()
}

enum Body<'a> {
    None,
    Json(&'a dyn erased::Json),
}

/// Request bodies behind one object-safe trait, so `send` is not generic over them.
mod erased {
    pub trait Json {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
            serde_json::to_value(self)
        }
    }
}

/// The TLS settings every HTTPS client of this workspace starts from: rustls over the
/// aws-lc-rs provider (the one C crypto library the product carries), trusting the web roots
/// until told otherwise.
pub fn tls_config() -> ureq::tls::TlsConfigBuilder {
    ureq::tls::TlsConfig::builder()
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

impl KmsClient {
    /// A client of the server at `base_url` (`https://host:port`, or `http://` for a server on
    /// this machine). `tls_ca_pem`: the CA certificate(s) to trust, PEM; without it the
    /// platform's web roots are trusted.
    pub fn new(base_url: &str, tls_ca_pem: Option<&[u8]>) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(ClientError::Config(format!(
                "the server URL {base_url:?} must start with http:// or https://"
            )));
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls_config().build());
        if let Some(pem) = tls_ca_pem {
            let mut roots = Vec::new();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => roots.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(ClientError::Config(format!(
                            "the CA certificate is not valid PEM: {e}"
                        )));
                    }
                }
            }
            if roots.is_empty() {
                return Err(ClientError::Config(
                    "the CA certificate file holds no PEM certificate".into(),
                ));
            }
            config = config.tls_config(
                tls_config()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
                    .build(),
            );
        }
        Ok(KmsClient {
            base,
            agent: config.build().into(),
            token: None,
        })
    }

    /// The same client, signed in with the session token `session`.
    pub fn with_token(mut self, session: Secret) -> Self {
        self.token = Some(session);
        self
    }

    /// Sets or clears the session token.
    pub fn set_token(&mut self, session: Option<Secret>) {
        self.token = session;
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Body<'_>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let url = format!("{}{}", self.base, path);
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose()));
        let transport = |e: ureq::Error| ClientError::Transport {
            url: self.base.clone(),
            message: e.to_string(),
        };
        let result = if method == "GET" {
            let mut r = self.agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            for (k, v) in query {
                r = r.query(k, v);
            }
            r.call()
        } else {
            let mut r = self.agent.post(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            match body {
                Body::None => r.send_empty(),
                Body::Json(b) => {
                    let value = b.to_value().map_err(|e| {
                        ClientError::Config(format!("cannot encode the request: {e}"))
                    })?;
                    r.send_json(value)
                }
            }
        };
        let mut resp = result.map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| ClientError::Decode {
                what: path.to_string(),
                message: e.to_string(),
            })?;
        if status == 202 {
            return Err(match serde_json::from_slice::<Pending>(&bytes) {
                Ok(p) => ClientError::Pending(Box::new(p)),
                Err(e) => ClientError::Decode {
                    what: path.to_string(),
                    message: format!("a 202 answer that is not a pending approval: {e}"),
                },
            });
        }
        if !(200..300).contains(&status) {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(b) => ClientError::Api {
                    status,
                    code: b.error.code,
                    message: b.error.message,
                },
                Err(_) => ClientError::Api {
                    status,
                    code: format!("HTTP-{status}"),
                    message: format!("the server answered {status} without an error body"),
                },
            });
        }
        Ok((status, bytes))
    }

    fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Body<'_>,
    ) -> Result<T, ClientError> {
        let (_, bytes) = self.raw(method, path, query, body)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            what: format!("{method} {path}"),
            message: e.to_string(),
        })
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json("GET", &format!("{API_PREFIX}{path}"), &[], Body::None)
    }

    fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
    ) -> Result<T, ClientError> {
        let pairs = query_pairs(query);
        self.json("GET", &format!("{API_PREFIX}{path}"), &pairs, Body::None)
    }

    fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json("POST", &format!("{API_PREFIX}{path}"), &[], Body::None)
    }

    fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.json(
            "POST",
            &format!("{API_PREFIX}{path}"),
            &[],
            Body::Json(body),
        )
    }

    fn bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        Ok(self.raw("GET", path, &[], Body::None)?.1)
    }

    // -- Public ----------------------------------------------------------------------------

    /// `GET /healthz`.
    pub fn health(&self) -> Result<Health, ClientError> {
        self.json("GET", "/healthz", &[], Body::None)
    }

    /// `GET /ca`: the CA certificate, PEM (a public URL: served on the main listener and on
    /// the plain-HTTP public listener, which has no `/api/v1`).
    pub fn ca_pem(&self) -> Result<String, ClientError> {
        let bytes = self.bytes("/ca")?;
        String::from_utf8(bytes).map_err(|e| ClientError::Decode {
            what: "GET /ca".into(),
            message: e.to_string(),
        })
    }

    /// `GET /ca.der`: the CA certificate, DER.
    pub fn ca_der(&self) -> Result<Vec<u8>, ClientError> {
        self.bytes("/ca.der")
    }

    /// `GET /crl`: the full CRL, DER (a public URL, as [`KmsClient::ca_pem`]).
    pub fn crl(&self) -> Result<Vec<u8>, ClientError> {
        self.bytes("/crl")
    }

    /// `GET /crl/delta`: the delta CRL, DER (a public URL).
    pub fn delta_crl(&self) -> Result<Vec<u8>, ClientError> {
        self.bytes("/crl/delta")
    }

    /// `GET /api/v1/openapi.json`: the API's description.
    pub fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/openapi.json")
    }

    // -- Unlock and sessions --------------------------------------------------------------

    /// `POST /unlock`.
    pub fn unlock(&self, req: &UnlockRequest) -> Result<StatusMessage, ClientError> {
        self.post_json("/unlock", req)
    }

    /// `POST /login`: a new session (use [`KmsClient::with_token`] with its token).
    pub fn login(&self, name: &str, password: &Secret) -> Result<LoginResponse, ClientError> {
        self.login_with_totp(name, password, None)
    }

    /// `POST /login` with a TOTP code, for an account with a second factor.
    pub fn login_with_totp(
        &self,
        name: &str,
        password: &Secret,
        totp: Option<&Secret>,
    ) -> Result<LoginResponse, ClientError> {
        self.post_json(
            "/login",
            &LoginRequest {
                name: name.to_string(),
                password: password.clone(),
                totp: totp.cloned(),
            },
        )
    }

    /// `POST /logout`: ends this client's session.
    pub fn logout(&self) -> Result<StatusMessage, ClientError> {
        self.post("/logout")
    }

    // -- Administrators -------------------------------------------------------------------

    /// `POST /admins` (under the `admin-change` quorum).
    pub fn add_admin(&self, req: &AddAdminRequest) -> Result<AdminResponse, ClientError> {
        self.post_json("/admins", req)
    }

    /// `GET /admins`.
    pub fn admins(&self) -> Result<AdminList, ClientError> {
        self.get("/admins")
    }

    /// `POST /admins/{name}/remove` (under the `admin-change` quorum).
    pub fn remove_admin(&self, name: &str) -> Result<AdminRemoved, ClientError> {
        self.post(&format!("/admins/{}/remove", seg(name)))
    }

    /// `POST /admins/{name}/unlock`: clears a lock-out after failed sign-ins.
    pub fn unlock_admin(&self, name: &str) -> Result<AdminUnlocked, ClientError> {
        self.post(&format!("/admins/{}/unlock", seg(name)))
    }

    /// `POST /admins/{name}/role` (under the `admin-change` quorum).
    pub fn set_role(&self, name: &str, role: Role) -> Result<AdminResponse, ClientError> {
        self.post_json(
            &format!("/admins/{}/role", seg(name)),
            &SetRoleRequest { role },
        )
    }

    /// `POST /admins/me/password`: other sessions end.
    pub fn change_password(
        &self,
        req: &ChangePasswordRequest,
    ) -> Result<StatusMessage, ClientError> {
        self.post_json("/admins/me/password", req)
    }

    /// `POST /admins/me/totp`: turns on a TOTP second factor for this account.
    pub fn enable_totp(&self) -> Result<TotpEnabled, ClientError> {
        self.post("/admins/me/totp")
    }

    /// `POST /admins/me/totp/disable`: turns off this account's second factor.
    pub fn disable_own_totp(&self) -> Result<TotpDisabled, ClientError> {
        self.post("/admins/me/totp/disable")
    }

    /// `POST /admins/{name}/totp/disable` (administrator role, under the `admin-change`
    /// quorum): turns off another administrator's second factor.
    pub fn disable_totp(&self, name: &str) -> Result<TotpDisabled, ClientError> {
        self.post(&format!("/admins/{}/totp/disable", seg(name)))
    }

    // -- Views ----------------------------------------------------------------------------

    /// `GET /status`.
    pub fn status(&self) -> Result<Status, ClientError> {
        self.get("/status")
    }

    /// `GET /certificates`: a page of a search.
    pub fn certificates(&self, query: &CertListQuery) -> Result<CertPage, ClientError> {
        self.get_query("/certificates", query)
    }

    /// `GET /certificates/{serial}`.
    pub fn certificate(&self, serial: &str) -> Result<CertDetail, ClientError> {
        self.get(&format!("/certificates/{}", seg(serial)))
    }

    /// `POST /lint`: checks a certificate against the S/MIME Baseline Requirements profiles.
    pub fn lint(&self, req: &LintRequest) -> Result<LintReport, ClientError> {
        self.post_json("/lint", req)
    }

    /// `GET /certificates/{serial}/der`: the certificate, DER.
    pub fn certificate_der(&self, serial: &str) -> Result<Vec<u8>, ClientError> {
        self.bytes(&format!("{API_PREFIX}/certificates/{}/der", seg(serial)))
    }

    // -- Policies, approvals, recovery ----------------------------------------------------

    /// `GET /policies`.
    pub fn policies(&self) -> Result<PolicyList, ClientError> {
        self.get("/policies")
    }

    /// `POST /policies/{operation}` (under the `policy-change` quorum).
    pub fn set_policy(
        &self,
        operation: &QuorumOperation,
        quorum: i64,
    ) -> Result<PolicyResponse, ClientError> {
        self.post_json(
            &format!("/policies/{}", seg(operation.as_str())),
            &SetPolicyRequest { quorum },
        )
    }

    /// `GET /approvals`: open requests.
    pub fn approvals(&self) -> Result<ApprovalList, ClientError> {
        self.get("/approvals")
    }

    /// `POST /approvals/{id}/approve`.
    pub fn approve(&self, id: i64) -> Result<ApprovalResponse, ClientError> {
        self.post(&format!("/approvals/{id}/approve"))
    }

    /// `POST /approvals/{id}/cancel`.
    pub fn cancel_approval(&self, id: i64) -> Result<ApprovalResponse, ClientError> {
        self.post(&format!("/approvals/{id}/cancel"))
    }

    /// `POST /users/{email}/recover` (under the `recover-key` quorum).
    pub fn recover(&self, email: &str, req: &RecoverRequest) -> Result<Recovered, ClientError> {
        self.post_json(&format!("/users/{}/recover", seg(email)), req)
    }

    // -- Key recovery agents --------------------------------------------------------------

    /// `GET /agents`.
    pub fn agents(&self) -> Result<AgentList, ClientError> {
        self.get("/agents")
    }

    /// `POST /agents`.
    pub fn add_agent(&self, req: &AddAgentRequest) -> Result<AgentResponse, ClientError> {
        self.post_json("/agents", req)
    }

    /// `POST /agents/{name}/remove`.
    pub fn remove_agent(&self, name: &str) -> Result<AgentList, ClientError> {
        self.post(&format!("/agents/{}/remove", seg(name)))
    }

    /// `POST /agents/threshold`.
    pub fn set_agent_threshold(&self, threshold: i64) -> Result<AgentList, ClientError> {
        self.post_json("/agents/threshold", &AgentThresholdRequest { threshold })
    }

    /// `POST /agents/reshare`.
    pub fn agent_reshare(&self) -> Result<ReshareAnswer, ClientError> {
        self.post("/agents/reshare")
    }

    /// `GET /agent-requests`.
    pub fn agent_requests(&self) -> Result<AgentRequestList, ClientError> {
        self.get("/agent-requests")
    }

    /// `POST /agent-requests/{id}/fetch`: the agent's sealed shares of the request's keys.
    pub fn fetch_agent_shares(
        &self,
        id: i64,
        agent_public_key: &str,
    ) -> Result<AgentSharesAnswer, ClientError> {
        self.post_json(
            &format!("/agent-requests/{id}/fetch"),
            &ReleaseSharesRequest {
                agent: agent_public_key.into(),
                shares: Vec::new(),
            },
        )
    }

    /// `POST /agent-requests/{id}/shares`.
    pub fn release_agent_shares(
        &self,
        id: i64,
        req: &ReleaseSharesRequest,
    ) -> Result<AgentRequestResponse, ClientError> {
        self.post_json(&format!("/agent-requests/{id}/shares"), req)
    }

    // -- Unlock methods -------------------------------------------------------------------

    /// `GET /unlock-methods`.
    pub fn unlock_methods(&self) -> Result<UnlockMethodList, ClientError> {
        self.get("/unlock-methods")
    }

    /// `POST /unlock-methods` (under the `admin-change` quorum).
    pub fn add_unlock_method(
        &self,
        req: &AddUnlockMethodRequest,
    ) -> Result<UnlockMethodAdded, ClientError> {
        self.post_json("/unlock-methods", req)
    }

    /// `POST /unlock-methods/{id}/remove` (under the `admin-change` quorum).
    pub fn remove_unlock_method(&self, id: i64) -> Result<UnlockMethodRemoved, ClientError> {
        self.post(&format!("/unlock-methods/{id}/remove"))
    }

    // -- Backups --------------------------------------------------------------------------

    /// `POST /backups`: a backup now.
    pub fn backup_now(&self) -> Result<BackupTaken, ClientError> {
        self.post("/backups")
    }

    /// `GET /backups`.
    pub fn backups(&self) -> Result<BackupList, ClientError> {
        self.get("/backups")
    }

    /// `POST /backups/verify`.
    pub fn verify_backup(&self, name: &str) -> Result<BackupCheck, ClientError> {
        self.post_json(
            "/backups/verify",
            &VerifyBackupRequest {
                name: name.to_string(),
            },
        )
    }

    /// `POST /backups/{name}/restore` (under the `restore` quorum); every session ends.
    /// Without `confirm` the server answers 428 and changes nothing.
    pub fn restore_backup(&self, name: &str, confirm: bool) -> Result<Restored, ClientError> {
        self.post_json(
            &format!("/backups/{}/restore", seg(name)),
            &RestoreRequest { confirm },
        )
    }

    /// `GET /backups/schedule`: the backup schedule in effect.
    pub fn backup_schedule(&self) -> Result<ScheduleResponse, ClientError> {
        self.get("/backups/schedule")
    }

    /// `POST /backups/schedule` (under the `backup-schedule` quorum): `every` seconds
    /// (`None`: off), `keep` backups (`None`: the number in effect).
    pub fn set_backup_schedule(
        &self,
        every: Option<u64>,
        keep: Option<u64>,
    ) -> Result<ScheduleResponse, ClientError> {
        self.post_json("/backups/schedule", &SetScheduleRequest { every, keep })
    }

    // -- Settings -------------------------------------------------------------------------

    /// `GET /settings/public-url`: the public URL in effect.
    pub fn public_url(&self) -> Result<PublicUrlResponse, ClientError> {
        self.get("/settings/public-url")
    }

    /// `POST /settings/public-url` (under the `public-url` quorum): certificates issued
    /// afterwards name `url`.
    pub fn set_public_url(&self, url: &str) -> Result<PublicUrlResponse, ClientError> {
        self.post_json(
            "/settings/public-url",
            &SetPublicUrlRequest {
                url: url.to_string(),
            },
        )
    }

    // -- The audit log --------------------------------------------------------------------

    /// `GET /audit`: a list (no filter but `since`) or a paged search.
    pub fn audit(&self, query: &AuditQuery) -> Result<AuditList, ClientError> {
        self.get_query("/audit", query)
    }

    /// `GET /audit/verify`.
    pub fn audit_verify(&self) -> Result<AuditReport, ClientError> {
        self.get("/audit/verify")
    }

    /// `POST /audit/sign`: a signed checkpoint now.
    pub fn audit_sign(&self) -> Result<AuditSigned, ClientError> {
        self.post("/audit/sign")
    }

    // -- Users ----------------------------------------------------------------------------

    /// `POST /users`: the user and their first enrollment token.
    pub fn add_user(&self, req: &AddUserRequest) -> Result<UserAdded, ClientError> {
        self.post_json("/users", req)
    }

    /// `GET /users`: every user (empty query) or a paged search.
    pub fn users(&self, query: &UserListQuery) -> Result<UserList, ClientError> {
        self.get_query("/users", query)
    }

    /// `GET /users/{email}`.
    pub fn user(&self, email: &str) -> Result<UserDetail, ClientError> {
        self.get(&format!("/users/{}", seg(email)))
    }

    /// `POST /users/{email}/disable`.
    pub fn disable_user(&self, email: &str) -> Result<UserResponse, ClientError> {
        self.post(&format!("/users/{}/disable", seg(email)))
    }

    /// `POST /users/{email}/token`: a new enrollment token.
    pub fn new_token(&self, email: &str) -> Result<NewToken, ClientError> {
        self.post(&format!("/users/{}/token", seg(email)))
    }

    /// `POST /enroll` (no session: the enrollment token is the credential).
    pub fn enroll(&self, req: &EnrollRequest) -> Result<Enrolled, ClientError> {
        self.post_json("/enroll", req)
    }

    /// `GET /directory/{email}` (no session).
    pub fn directory(&self, email: &str) -> Result<DirectoryEntry, ClientError> {
        self.get(&format!("/directory/{}", seg(email)))
    }

    /// `POST /revoke`.
    pub fn revoke(&self, req: &RevokeRequest) -> Result<Revoked, ClientError> {
        self.post_json("/revoke", req)
    }

    /// `POST /revocations/bulk`.
    pub fn revoke_bulk(&self, req: &BulkRevokeRequest) -> Result<BulkRevoked, ClientError> {
        self.post_json("/revocations/bulk", req)
    }

    /// `POST /renew`.
    pub fn renew(&self, req: &RenewRequest) -> Result<RenewResponse, ClientError> {
        self.post_json("/renew", req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_and_queries_are_encoded() {
        assert_eq!(seg("alice+tag@example.com"), "alice%2Btag@example.com");
        assert_eq!(seg("a/../b"), "a%2F..%2Fb");
        let q = UserListQuery {
            q: Some("ali ce".into()),
            limit: Some(5),
            ..Default::default()
        };
        let mut pairs = query_pairs(&q);
        pairs.sort();
        assert_eq!(
            pairs,
            vec![("limit".into(), "5".into()), ("q".into(), "ali ce".into())]
        );
    }

    #[test]
    fn bad_urls_and_bad_ca_files_are_config_errors() {
        let e = KmsClient::new("kms.example.com", None).unwrap_err();
        assert_eq!(e.code(), "API-003");
        let e = KmsClient::new("https://kms.example.com", Some(b"not pem")).unwrap_err();
        assert_eq!(e.code(), "API-003", "{e}");
        let c = KmsClient::new("https://kms.example.com/", None)
            .unwrap()
            .with_token(Secret::new("sekrit-token"));
        assert_eq!(c.base_url(), "https://kms.example.com");
        assert!(!format!("{c:?}").contains("sekrit"));
    }

    #[test]
    fn an_unreachable_server_is_a_transport_error() {
        // Port 9 on loopback (discard): nothing listens in the test environment.
        let c = KmsClient::new("http://127.0.0.1:9", None).unwrap();
        let e = c.health().unwrap_err();
        assert!(matches!(e, ClientError::Transport { .. }), "{e:?}");
        assert_eq!(e.code(), "API-001");
    }
}
