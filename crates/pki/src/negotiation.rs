//! Content-encryption algorithm negotiation for a set of recipients: the strongest algorithm
//! (by the ranking of `docs/CONTRACTS.md`, [`ContentAlgorithm::RANKING`]) that every recipient
//! supports, under a policy floor, with a report of who forced a weaker choice and who was
//! skipped; and the check of an algorithm the user forced (`--algorithm NAME`).
//!
//! # Rules
//!
//! * A recipient's capabilities are a set: the order it lists them in (its preference) is not
//!   used; the ranking alone decides.
//! * A recipient with **no capabilities at all** (no SMIMECapabilities extension and none given)
//!   has *unknown* capabilities. Under negotiation it is assumed to support
//!   [`ASSUMED_CAPABILITIES`], i.e. AES-256-CBC (RFC 8551 §2.7.1.2: a sender with no
//!   knowledge of the recipient uses AES-256-CBC, which every S/MIME 4.0 client decrypts), and
//!   is listed in [`Negotiation::assumed`]. AES-GCM is therefore chosen only when every
//!   recipient is *known* to support it (AuthEnvelopedData is not something an unknown client
//!   can be assumed to read). A policy floor above `aes256` refuses (or skips) such a
//!   recipient, which makes the assumption visible. (Before RFC 8551 this crate assumed 3DES,
//!   the RFC 5751 rule.)
//! * A **policy floor** forbids every algorithm weaker than it. A recipient with no algorithm
//!   at or above the floor is *below the floor*: with [`BelowFloor::Refuse`] (the default)
//!   negotiation fails naming every such recipient ([`Error::BelowFloor`]); with
//!   [`BelowFloor::Skip`] they are listed in [`Negotiation::skipped`] and the others are
//!   negotiated for ([`Error::NoRecipientAtFloor`] when nobody is left).
//! * The chosen algorithm is the strongest one, at or above the floor, in every remaining
//!   recipient's capabilities ([`Error::NoCommonAlgorithm`] when there is none).
//! * **Who forced a weaker choice.** Let `C` be the chosen algorithm and `R` the recipients
//!   encrypted for. For every algorithm `A` stronger than `C`, allowed by the floor and
//!   supported by at least one recipient of `R`, let `L(A)` be the recipients of `R` that lack
//!   `A` (never empty, since `C` is the strongest algorithm all share). Let `k` be the smallest
//!   size of such an `L(A)`. The recipients reported in [`Negotiation::forced_weaker`] are the
//!   union of the sets `L(A)` of size `k`: the fewest recipients without whom everyone else
//!   would share something stronger than `C`. When `k = 1` these are exactly the recipients
//!   each of whom alone lacks an algorithm stronger than `C` that all the others have (so a
//!   CAST-40-only recipient among CAST-64 ones is reported); when two or more share the
//!   limitation (`k > 1`) they are reported together; when no such `A` exists (one recipient,
//!   or all alike) nobody is reported.
//! * An algorithm **forced** by the user must be at or above the floor
//!   ([`Error::AlgorithmBelowFloor`]). It is honoured for every recipient whose capabilities
//!   are unknown (RFC 8551 leaves the choice to the sender). A recipient whose *published*
//!   capabilities exclude it is an [`Error::AlgorithmNotSupported`] naming every such
//!   recipient, unless [`Policy::force`] is set: then the algorithm is used anyway and those
//!   recipients are listed in [`Negotiation::overridden`]. Recipients below the floor are
//!   refused or skipped first, as above (only recipients with published capabilities can be
//!   below the floor here: the forced algorithm itself is at or above it). Nobody is reported
//!   as forcing a weaker choice.

use core::fmt;
use core::str::FromStr;

use x509_cert::Certificate;

use crate::algorithms::ContentAlgorithm;
use crate::certificate::CertificateInfo;
use crate::error::{Error, Result};

/// What a recipient with unknown capabilities is assumed to support under negotiation
/// (RFC 8551 §2.7.1.2; see the module documentation).
pub const ASSUMED_CAPABILITIES: [ContentAlgorithm; 1] = [ContentAlgorithm::Aes256];

/// One recipient: an identifier for messages (an e-mail address, usually) and the
/// content-encryption algorithms its client supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// How the recipient is named in results and errors.
    pub id: String,
    /// The algorithms it supports, in any order.
    pub capabilities: Vec<ContentAlgorithm>,
}

impl Recipient {
    /// A recipient with explicit capabilities (`--caps`).
    pub fn new(id: impl Into<String>, capabilities: impl Into<Vec<ContentAlgorithm>>) -> Self {
        Self {
            id: id.into(),
            capabilities: capabilities.into(),
        }
    }

    /// A recipient whose capabilities are those of its certificate's SMIMECapabilities
    /// extension (none when the extension is absent).
    pub fn from_certificate(id: impl Into<String>, cert: &Certificate) -> Result<Self> {
        Ok(Self::new(
            id,
            CertificateInfo::from_certificate(cert)?.capabilities,
        ))
    }
}

/// What to do with recipients that have no algorithm at or above the policy floor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BelowFloor {
    /// Refuse to encrypt, naming them (`--below-floor refuse`, the default).
    #[default]
    Refuse,
    /// Encrypt only for the others and report them as skipped (`--below-floor skip`).
    Skip,
}

impl BelowFloor {
    /// The name used on the command line (`refuse`, `skip`).
    pub fn name(self) -> &'static str {
        match self {
            BelowFloor::Refuse => "refuse",
            BelowFloor::Skip => "skip",
        }
    }
}

impl fmt::Display for BelowFloor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BelowFloor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "refuse" => Ok(BelowFloor::Refuse),
            "skip" => Ok(BelowFloor::Skip),
            _ => Err(Error::Invalid {
                what: "below-floor policy",
                why: format!("\"{s}\" is not one of refuse, skip"),
            }),
        }
    }
}

/// The negotiation policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The weakest algorithm allowed, if any.
    pub floor: Option<ContentAlgorithm>,
    /// What to do with recipients below the floor.
    pub below_floor: BelowFloor,
    /// An algorithm the user requires instead of negotiating (`--algorithm NAME`).
    pub forced: Option<ContentAlgorithm>,
    /// Use [`Policy::forced`] even for recipients whose published capabilities exclude it
    /// (`--force`); they are reported in [`Negotiation::overridden`].
    pub force: bool,
}

/// The outcome of a negotiation. Recipient lists keep the order of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiation {
    /// The content-encryption algorithm to use.
    pub algorithm: ContentAlgorithm,
    /// The recipients to encrypt for.
    pub recipients: Vec<String>,
    /// The recipients that forced a weaker algorithm than the others share (see the module
    /// documentation for the exact rule).
    pub forced_weaker: Vec<String>,
    /// The recipients left out because they have nothing at or above the floor
    /// ([`BelowFloor::Skip`]).
    pub skipped: Vec<String>,
    /// The recipients whose capabilities are unknown: under negotiation they were assumed to
    /// support [`ASSUMED_CAPABILITIES`]; with a forced algorithm it was used for them as is.
    pub assumed: Vec<String>,
    /// The recipients whose published capabilities exclude the forced algorithm, which was
    /// used for them anyway ([`Policy::force`]).
    pub overridden: Vec<String>,
}

/// Chooses the content-encryption algorithm for `recipients` under `policy` (rules in the
/// module documentation).
pub fn negotiate(recipients: &[Recipient], policy: &Policy) -> Result<Negotiation> {
    if recipients.is_empty() {
        return Err(Error::Invalid {
            what: "recipient list",
            why: "it is empty".into(),
        });
    }
    let allowed = |a: &ContentAlgorithm| policy.floor.is_none_or(|f| a.is_at_least(f));
    let mut assumed = Vec::new();
    let mut skipped = Vec::new();
    // (id, capabilities allowed by the floor) of the recipients to encrypt for.
    let mut kept: Vec<(&str, Vec<ContentAlgorithm>)> = Vec::new();
    for r in recipients {
        let caps: &[ContentAlgorithm] = if r.capabilities.is_empty() {
            assumed.push(r.id.clone());
            match &policy.forced {
                // Honoured as asked: the sender knows nothing against it.
                Some(forced) if allowed(forced) => core::slice::from_ref(forced),
                _ => &ASSUMED_CAPABILITIES,
            }
        } else {
            &r.capabilities
        };
        let usable: Vec<ContentAlgorithm> = caps.iter().copied().filter(allowed).collect();
        if usable.is_empty() {
            skipped.push(r.id.clone());
        } else {
            kept.push((&r.id, usable));
        }
    }
    let floor_name = policy.floor.map_or("", |f| f.name());
    if !skipped.is_empty() {
        match policy.below_floor {
            BelowFloor::Refuse => {
                return Err(Error::BelowFloor {
                    floor: floor_name,
                    recipients: skipped,
                });
            }
            BelowFloor::Skip if kept.is_empty() => {
                return Err(Error::NoRecipientAtFloor {
                    floor: floor_name,
                    skipped,
                });
            }
            BelowFloor::Skip => {}
        }
    }
    let ids = kept.iter().map(|(id, _)| id.to_string()).collect();

    if let Some(forced) = policy.forced {
        if !allowed(&forced) {
            return Err(Error::AlgorithmBelowFloor {
                algorithm: forced.name(),
                floor: floor_name,
            });
        }
        let lacking: Vec<String> = kept
            .iter()
            .filter(|(_, caps)| !caps.contains(&forced))
            .map(|(id, _)| id.to_string())
            .collect();
        if !lacking.is_empty() && !policy.force {
            return Err(Error::AlgorithmNotSupported {
                algorithm: forced.name(),
                recipients: lacking,
            });
        }
        return Ok(Negotiation {
            algorithm: forced,
            recipients: ids,
            forced_weaker: Vec::new(),
            skipped,
            assumed,
            overridden: lacking,
        });
    }

    let supported_by_all = |a: &ContentAlgorithm| kept.iter().all(|(_, caps)| caps.contains(a));
    let Some(chosen) = ContentAlgorithm::RANKING
        .into_iter()
        .filter(allowed)
        .find(supported_by_all)
    else {
        let detail = kept
            .iter()
            .map(|(id, caps)| {
                let mut caps = caps.clone();
                caps.sort_by_key(|a| a.rank());
                let names: Vec<&str> = caps.iter().map(|a| a.name()).collect();
                format!("{id}: {}", names.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let detail = match policy.floor {
            Some(f) => format!("{detail}; at or above the floor {}", f.name()),
            None => detail,
        };
        return Err(Error::NoCommonAlgorithm { detail });
    };

    Ok(Negotiation {
        algorithm: chosen,
        recipients: ids,
        forced_weaker: forced_weaker(&kept, chosen),
        skipped,
        assumed,
        overridden: Vec::new(),
    })
}

/// The recipients that forced `chosen` (module documentation, "Who forced a weaker choice").
fn forced_weaker(kept: &[(&str, Vec<ContentAlgorithm>)], chosen: ContentAlgorithm) -> Vec<String> {
    let lacking_sets: Vec<Vec<usize>> = ContentAlgorithm::RANKING[..chosen.rank()]
        .iter()
        .filter(|a| kept.iter().any(|(_, caps)| caps.contains(a)))
        .map(|a| {
            (0..kept.len())
                .filter(|i| !kept[*i].1.contains(a))
                .collect()
        })
        .collect();
    let Some(k) = lacking_sets.iter().map(Vec::len).min() else {
        return Vec::new();
    };
    let mut named = vec![false; kept.len()];
    for set in lacking_sets.iter().filter(|s| s.len() == k) {
        for i in set {
            named[*i] = true;
        }
    }
    (0..kept.len())
        .filter(|i| named[*i])
        .map(|i| kept[i].0.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentAlgorithm::*;

    fn ids(r: &[(&str, Vec<ContentAlgorithm>)], chosen: ContentAlgorithm) -> Vec<String> {
        forced_weaker(r, chosen)
    }

    #[test]
    fn one_recipient_forces_nothing() {
        assert!(ids(&[("a", vec![Cast40])], Cast40).is_empty());
        assert!(ids(&[("a", vec![Aes256, Cast40])], Aes256).is_empty());
    }

    #[test]
    fn the_only_one_lacking_is_named() {
        let r = [("a", vec![Aes256, Cast64, Cast40]), ("b", vec![Cast40])];
        assert_eq!(ids(&r, Cast40), ["b"]);
    }

    #[test]
    fn each_sole_obstacle_is_named() {
        // Without b, a and c share aes256; without c, a and b share cast64.
        let r = [
            ("a", ContentAlgorithm::RANKING.to_vec()),
            ("b", vec![Cast64, Cast40]),
            ("c", vec![Aes256, Cast40]),
        ];
        assert_eq!(ids(&r, Cast40), ["b", "c"]);
    }

    #[test]
    fn a_shared_limitation_names_the_group() {
        let r = [
            ("a", vec![Cast40]),
            ("b", vec![Aes256, Cast40]),
            ("c", vec![Cast40]),
        ];
        assert_eq!(ids(&r, Cast40), ["a", "c"]);
    }

    #[test]
    fn below_floor_names() {
        assert_eq!("skip".parse::<BelowFloor>().unwrap(), BelowFloor::Skip);
        assert_eq!(" Refuse".parse::<BelowFloor>().unwrap(), BelowFloor::Refuse);
        assert_eq!(BelowFloor::default(), BelowFloor::Refuse);
        assert!("drop".parse::<BelowFloor>().is_err());
    }
}
