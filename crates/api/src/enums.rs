//! The string enums of the wire: each known value a variant, and `Other` for a value this
//! build does not know (a newer server may add values), so answers still deserialize.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this build does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// Every known value, in documentation order.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// The wire text.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Other(s) => s,
                }
            }

            /// The known variant for `s`, or `Other`.
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $text => $name::$variant, )+
                    _ => $name::Other(s.to_string()),
                }
            }

            /// True for a value this build knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::parse(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Cow::<'de, str>::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some($name::KNOWN.iter().copied()))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

string_enum! {
    /// An administrator's role.
    Role {
        /// Everything.
        Administrator = "administrator",
        /// Users, tokens, revoke, renew.
        Officer = "officer",
        /// Reads only.
        Auditor = "auditor",
    }
}

string_enum! {
    /// A revocation reason, by its RFC 5280 name.
    RevocationReason {
        /// unspecified (0).
        Unspecified = "unspecified",
        /// keyCompromise (1).
        KeyCompromise = "keyCompromise",
        /// cACompromise (2).
        CaCompromise = "caCompromise",
        /// affiliationChanged (3).
        AffiliationChanged = "affiliationChanged",
        /// superseded (4).
        Superseded = "superseded",
        /// cessationOfOperation (5).
        CessationOfOperation = "cessationOfOperation",
        /// certificateHold (6).
        CertificateHold = "certificateHold",
        /// removeFromCRL (8).
        RemoveFromCrl = "removeFromCRL",
        /// privilegeWithdrawn (9).
        PrivilegeWithdrawn = "privilegeWithdrawn",
        /// aACompromise (10).
        AaCompromise = "aaCompromise",
    }
}

string_enum! {
    /// An S/MIME content-encryption algorithm, strongest first.
    ContentAlgorithm {
        /// AES-256 in GCM (AuthEnvelopedData).
        Aes256Gcm = "aes256-gcm",
        /// AES-128 in GCM.
        Aes128Gcm = "aes128-gcm",
        /// AES-256-CBC.
        Aes256 = "aes256",
        /// AES-192-CBC.
        Aes192 = "aes192",
        /// AES-128-CBC.
        Aes128 = "aes128",
        /// Triple DES (EDE3-CBC).
        TripleDes = "3des",
        /// CAST5 with a 128-bit key.
        Cast128 = "cast128",
        /// RC2 with a 128-bit key.
        Rc2_128 = "rc2-128",
        /// CAST5 with a 64-bit key.
        Cast64 = "cast64",
        /// RC2 with a 64-bit key.
        Rc2_64 = "rc2-64",
        /// Single DES.
        Des = "des",
        /// CAST5 with a 40-bit key.
        Cast40 = "cast40",
        /// RC2 with a 40-bit key.
        Rc2_40 = "rc2-40",
    }
}

string_enum! {
    /// The status of an approval request.
    RequestStatus {
        /// Waiting for approvals.
        Pending = "pending",
        /// Carried out.
        Done = "done",
        /// Cancelled by its opener or an administrator.
        Cancelled = "cancelled",
        /// Not completed in time.
        Expired = "expired",
    }
}

string_enum! {
    /// An operation a quorum policy can govern.
    QuorumOperation {
        /// Recovering a user's escrowed keys.
        RecoverKey = "recover-key",
        /// Re-enrolling a user.
        Reenroll = "reenroll",
        /// Adding, removing or changing administrators (and unlock methods).
        AdminChange = "admin-change",
        /// Changing a quorum policy.
        PolicyChange = "policy-change",
        /// Restoring a backup.
        Restore = "restore",
        /// Adding or removing an unlock method.
        UnlockMethod = "unlock-method",
        /// Changing the public URL.
        PublicUrl = "public-url",
        /// Changing the backup schedule.
        BackupSchedule = "backup-schedule",
        /// Changing an agent.
        AgentChange = "agent-change",
        /// Changing the HSM configuration.
        Hsm = "hsm",
    }
}

string_enum! {
    /// A user's status.
    UserStatus {
        /// May enroll and receive mail.
        Active = "active",
        /// Disabled: certificates revoked, no enrollment.
        Disabled = "disabled",
    }
}

string_enum! {
    /// A user's lifecycle state, computed by the server (each user is in exactly one; the
    /// first that applies wins, in this order: disabled, revoked, expired, expiring,
    /// enrolled, invitation-expired, invited, new).
    UserState {
        /// No certificate and no unused enrollment token.
        New = "new",
        /// No certificate; an enrollment token is pending.
        Invited = "invited",
        /// No certificate; the enrollment token expired unused.
        InvitationExpired = "invitation-expired",
        /// Has valid certificates.
        Enrolled = "enrolled",
        /// Has valid certificates, the earliest expiring within the server's window
        /// (`expiring_window_days`, default 30).
        Expiring = "expiring",
        /// Every current certificate not revoked has expired.
        Expired = "expired",
        /// Every current certificate is revoked.
        Revoked = "revoked",
        /// Disabled.
        Disabled = "disabled",
    }
}

string_enum! {
    /// A certificate's status (each certificate has exactly one).
    CertStatus {
        /// Valid now, not revoked, not replaced.
        Active = "active",
        /// Revoked.
        Revoked = "revoked",
        /// Past notAfter, not revoked.
        Expired = "expired",
        /// Replaced by a renewal, still valid, not revoked.
        Superseded = "superseded",
    }
}

string_enum! {
    /// What a certificate is for.
    CertKind {
        /// A user's signing certificate.
        Signing = "signing",
        /// A user's encryption certificate (its key is escrowed).
        Encryption = "encryption",
        /// The server's TLS certificate.
        Tls = "tls",
    }
}

string_enum! {
    /// How an audited action ended.
    AuditOutcome {
        /// Done.
        Ok = "ok",
        /// Refused.
        Refused = "refused",
        /// A quorum operation waiting for approvals.
        Pending = "pending",
    }
}

string_enum! {
    /// The kind of a start-up secret.
    UnlockMethodKind {
        /// A start-up password.
        Password = "password",
        /// A key file.
        KeyFile = "key-file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip_and_unknown_ones_are_kept() {
        for text in ContentAlgorithm::KNOWN {
            let v: ContentAlgorithm = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert!(v.is_known(), "{text}");
            assert_eq!(serde_json::to_value(&v).unwrap(), serde_json::json!(text));
        }
        let r: Role = serde_json::from_str("\"superuser\"").unwrap();
        assert_eq!(r, Role::Other("superuser".into()));
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"superuser\"");
        assert_eq!(
            RevocationReason::parse("keyCompromise"),
            RevocationReason::KeyCompromise
        );
        assert_eq!(QuorumOperation::KNOWN.len(), 10);
    }
}
