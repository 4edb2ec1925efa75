//! Key recovery agents: escrowed keys split at collection, recovery only with M agents'
//! shares, shares bound to one key and one request, and a copy of the data directory with
//! the start-up secret that cannot produce a user's key.

use std::path::Path;

use authority::{Admin, Authority, Error, reseal_for_request};
use db::PgConfig;
use escrow::Password;
use pki::quorum::{self, AgentSecretKey};

use super::{ADMIN_PW, csr, fixture, open_store_in};

pub(crate) fn admin(a: &Authority) -> Admin {
    a.login("admin", &Password::new(ADMIN_PW)).unwrap().admin
}

fn shares_pending<T: std::fmt::Debug>(r: authority::Result<T>) -> (i64, Vec<String>, i64) {
    match r {
        Err(Error::AgentSharesPending {
            request_id,
            released_by,
            needed,
            ..
        }) => (request_id, released_by, needed),
        other => panic!("expected a request waiting for agent shares, got {other:?}"),
    }
}

/// Enrolls `email` and returns the PKCS#8 of the encryption key it received.
pub(crate) fn enroll(a: &Authority, admin: &Admin, email: &str, sign_key: &str) -> Vec<u8> {
    let (_, token) = a.add_user(admin, email, "Someone", &[]).unwrap();
    let e = a
        .enroll(token.token.expose(), &csr(sign_key, email))
        .unwrap();
    let epki = pkcs8::EncryptedPrivateKeyInfoRef::try_from(e.encrypted_key.as_slice()).unwrap();
    epki.decrypt(token.token.expose().as_bytes())
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// A release by `agent` for request `id`: fetch, open on the agent's side, re-seal.
fn release(a: &Authority, admin: &Admin, agent: &AgentSecretKey, id: i64) -> usize {
    let pk = agent.public_key().unwrap().to_hex();
    let got = a.agent_shares(admin, id, &pk).unwrap();
    let resealed = reseal_for_request(agent, id, &got.request_public_key, &got.shares).unwrap();
    a.release_shares(admin, id, &pk, &resealed).unwrap();
    got.shares.len()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn two_of_three_agents_recover_one_alone_gets_nothing_and_a_stolen_copy_opens_nothing() {
    let f = fixture();
    let a = &f.auth;
    let adm = admin(a);
    let agents: Vec<AgentSecretKey> = (0..3)
        .map(|_| AgentSecretKey::generate().unwrap())
        .collect();
    for (i, k) in agents.iter().enumerate() {
        a.add_agent(
            &adm,
            &format!("agent{i}"),
            &k.public_key().unwrap().to_hex(),
        )
        .unwrap();
    }
    // A threshold above the agents, or below 2, is refused; a duplicate key too.
    assert_eq!(
        a.set_agent_threshold(&adm, 4).unwrap_err().code(),
        "AUTH-132"
    );
    assert_eq!(
        a.set_agent_threshold(&adm, 1).unwrap_err().code(),
        "AUTH-009"
    );
    assert_eq!(
        a.add_agent(&adm, "again", &agents[0].public_key().unwrap().to_hex())
            .unwrap_err()
            .code(),
        "AUTH-132"
    );
    a.set_agent_threshold(&adm, 2).unwrap();
    let set = a.agents(&adm).unwrap();
    assert_eq!((set.threshold, set.agents.len()), (Some(2), 3));

    let alice_key = enroll(a, &adm, "alice@example.com", "alice-sign.key.pem");
    let bob_key = enroll(a, &adm, "bob@example.com", "bob-sign.key.pem");
    let set = a.agents(&adm).unwrap();
    assert_eq!((set.split_keys, set.master_only_keys), (2, 0));
    assert!(set.agents.iter().all(|g| g.shares == 2));

    // Recovery opens an agent request; one agent's shares are not enough.
    let pw = Password::new("recovery password");
    let (id, released, needed) =
        shares_pending(a.recover_key(&adm, "alice@example.com", &pw, false, None));
    assert_eq!((released.len(), needed), (0, 2));
    assert_eq!(
        release(a, &adm, &agents[0], id),
        1,
        "exactly alice's one key"
    );
    let (again, released, _) =
        shares_pending(a.recover_key(&adm, "alice@example.com", &pw, false, None));
    assert_eq!((again, released), (id, vec!["agent0".to_string()]));
    assert_eq!(a.agent_requests(&adm).unwrap().len(), 1);

    // Shares fetched for alice do not open bob's key: the HPKE info binds the key id, and
    // the request refuses a key that is not its own.
    let pk0 = agents[0].public_key().unwrap();
    let got = a.agent_shares(&adm, id, &pk0.to_hex()).unwrap();
    let (alice_id, sealed) = got.shares[0].clone();
    let bob_id = alice_id + 1;
    assert!(quorum::open(&agents[0], &quorum::share_info(bob_id, &pk0), &sealed).is_err());
    let forged = reseal_for_request(
        &agents[0],
        id,
        &got.request_public_key,
        &[(alice_id, sealed)],
    )
    .unwrap();
    let as_bob = vec![(bob_id, forged[0].1.clone())];
    assert_eq!(
        a.release_shares(&adm, id, &pk0.to_hex(), &as_bob)
            .unwrap_err()
            .code(),
        "AUTH-132"
    );
    // A share sealed to another request does not open for this one.
    let other_req = quorum::seal(
        &pki::quorum::AgentPublicKey::from_hex(&got.request_public_key).unwrap(),
        &quorum::release_info(id + 1, alice_id, &pk0),
        &[1u8; 33],
    )
    .unwrap();
    assert!(
        a.release_shares(&adm, id, &pk0.to_hex(), &[(alice_id, other_req)])
            .is_err()
    );

    // The second agent: the bundle holds alice's key, and only hers.
    release(a, &adm, &agents[2], id);
    let r = a
        .recover_key(&adm, "alice@example.com", &pw, false, None)
        .unwrap();
    assert_eq!(r.keys, 1);
    let p12 = pki::pkcs12::parse(&r.pkcs12, pw.expose()).unwrap();
    assert_eq!(
        p12.keys[0].key.to_pkcs8_der().unwrap().as_bytes(),
        &alice_key[..]
    );
    // The request is done: another recovery needs the agents again.
    assert!(a.agent_requests(&adm).unwrap().is_empty());
    shares_pending(a.recover_key(&adm, "alice@example.com", &pw, false, None));

    // A copy of the data directory and the start-up secret: the store opens, every key is
    // there, and none of them is a private key; no file holds alice's or bob's PKCS#8.
    let copy = f.dir.parent().unwrap().join("stolen");
    copy_dir(&f.dir, &copy);
    // (On PostgreSQL the copy is the data directory's files with the same database.)
    let store = open_store_in(f.pg.as_ref(), &copy);
    let un = store
        .unlock_with_password(&Password::new("start-up password"))
        .unwrap();
    for owner in ["alice@example.com", "bob@example.com"] {
        let keys = un.keys_of(owner).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].private_key_der.is_empty());
        assert!(keys[0].agent_split.is_some());
        assert!(pki::PrivateKey::from_der(keys[0].private_key_der.expose()).is_err());
    }
    for e in std::fs::read_dir(&copy).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        for k in [&alice_key, &bob_key] {
            assert!(!contains(&bytes, &k[..64]));
        }
    }
    // Direct SQLite access: the share rows are ciphertext under the master key; opened with
    // it, each is sealed to an agent; one agent's shares rebuild no key.
    let shares = un
        .agent_shares(set.agents[0].id, &[escrow::KeyId(alice_id)])
        .unwrap();
    let one = quorum::open(
        &agents[0],
        &quorum::share_info(alice_id, &pk0),
        &shares[0].1,
    )
    .unwrap();
    let lone = quorum::Share::from_bytes(&one).unwrap();
    assert!(quorum::combine(std::slice::from_ref(&lone)).is_err());
}

#[test]
fn keys_escrowed_before_agents_are_split_by_the_reshare_and_removal_keeps_the_threshold() {
    let f = fixture();
    let a = &f.auth;
    let adm = admin(a);
    let alice_key = enroll(a, &adm, "alice@example.com", "alice-sign.key.pem");
    let agents: Vec<AgentSecretKey> = (0..3)
        .map(|_| AgentSecretKey::generate().unwrap())
        .collect();
    for (i, k) in agents.iter().enumerate() {
        a.add_agent(
            &adm,
            &format!("agent{i}"),
            &k.public_key().unwrap().to_hex(),
        )
        .unwrap();
    }
    a.set_agent_threshold(&adm, 2).unwrap();
    assert_eq!(a.agents(&adm).unwrap().master_only_keys, 1);
    let r = a.reshare(&adm).unwrap();
    assert_eq!((r.split, r.waiting_for_owner), (1, 0));
    let set = a.agents(&adm).unwrap();
    assert_eq!((set.split_keys, set.master_only_keys), (1, 0));

    // Removing one agent keeps 2 >= threshold; a second removal is refused.
    a.remove_agent(&adm, "agent1").unwrap();
    assert_eq!(
        a.remove_agent(&adm, "agent0").unwrap_err().code(),
        "AUTH-132"
    );
    // The removed agent can fetch nothing.
    let pw = Password::new("recovery password");
    let (id, _, _) = shares_pending(a.recover_key(&adm, "alice@example.com", &pw, false, None));
    let pk1 = agents[1].public_key().unwrap().to_hex();
    assert_eq!(
        a.agent_shares(&adm, id, &pk1).unwrap_err().code(),
        "AUTH-131"
    );
    release(a, &adm, &agents[0], id);
    release(a, &adm, &agents[2], id);
    let r = a
        .recover_key(&adm, "alice@example.com", &pw, false, None)
        .unwrap();
    let p12 = pki::pkcs12::parse(&r.pkcs12, pw.expose()).unwrap();
    assert_eq!(
        p12.keys[0].key.to_pkcs8_der().unwrap().as_bytes(),
        &alice_key[..]
    );
}

/// An agent's share of `key_id` fetched for request `id` and opened on the agent's side.
fn open_share(
    a: &Authority,
    admin: &Admin,
    agent: &AgentSecretKey,
    id: i64,
    key_id: i64,
) -> Vec<u8> {
    let pk = agent.public_key().unwrap();
    let got = a.agent_shares(admin, id, &pk.to_hex()).unwrap();
    let (_, sealed) = got.shares.iter().find(|(k, _)| *k == key_id).unwrap();
    quorum::open(agent, &quorum::share_info(key_id, &pk), sealed)
        .unwrap()
        .to_vec()
}

/// The agent-split form of `owner`'s only key, read from a copy of the data directory
/// unlocked with the start-up secret (on PostgreSQL: with the same database `pg`).
fn wrapped_in_copy(pg: Option<&PgConfig>, dir: &Path, to: &Path, owner: &str) -> (i64, Vec<u8>) {
    copy_dir(dir, to);
    let store = open_store_in(pg, to);
    let un = store
        .unlock_with_password(&Password::new("start-up password"))
        .unwrap();
    let keys = un.keys_of(owner).unwrap();
    let k = &keys[0];
    (
        k.info.id.0,
        k.agent_split.as_ref().unwrap().expose().to_vec(),
    )
}

fn unwraps(shares: &[&[u8]], key_id: i64, owner: &str, wrapped: &[u8]) -> bool {
    let shares: Vec<quorum::Share> = shares
        .iter()
        .map(|s| quorum::Share::from_bytes(s).unwrap())
        .collect();
    let Ok(w) = quorum::combine(&shares) else {
        return false;
    };
    let label = quorum::KeyLabel {
        id: key_id,
        owner,
        usage: "encryption",
    };
    quorum::unwrap(&w, &label, wrapped).is_ok()
}

#[test]
fn a_replaced_agent_is_reshared_out_by_two_old_agents_and_opens_nothing_new() {
    let f = fixture();
    let a = &f.auth;
    let adm = admin(a);
    let agents: Vec<AgentSecretKey> = (0..4)
        .map(|_| AgentSecretKey::generate().unwrap())
        .collect();
    for (i, k) in agents.iter().enumerate().take(3) {
        a.add_agent(
            &adm,
            &format!("agent{i}"),
            &k.public_key().unwrap().to_hex(),
        )
        .unwrap();
    }
    a.set_agent_threshold(&adm, 2).unwrap();
    let alice_key = enroll(a, &adm, "alice@example.com", "alice-sign.key.pem");
    f.clock.advance(std::time::Duration::from_secs(5));
    assert_eq!(a.agents(&adm).unwrap().needs_reshare, 0);
    let pw = Password::new("recovery password");

    // Before the change: agent0's and agent2's shares (fetched for a recovery, opened on
    // their machines) rebuild alice's wrap key.
    let (rec_id, _, _) = shares_pending(a.recover_key(&adm, "alice@example.com", &pw, false, None));
    let tmp = tempfile::tempdir().unwrap();
    let (key_id, wrapped_before) = wrapped_in_copy(
        f.pg.as_ref(),
        &f.dir,
        &tmp.path().join("before"),
        "alice@example.com",
    );
    let old0 = open_share(a, &adm, &agents[0], rec_id, key_id);
    let old2 = open_share(a, &adm, &agents[2], rec_id, key_id);
    assert!(unwraps(
        &[&old0, &old2],
        key_id,
        "alice@example.com",
        &wrapped_before
    ));

    // agent2 is replaced: agent3 added, agent2 removed (agent0 and agent1 still hold 2 = M
    // shares of alice's key). Removing agent1 too would leave her key one holder: refused.
    a.add_agent(&adm, "agent3", &agents[3].public_key().unwrap().to_hex())
        .unwrap();
    assert_eq!(a.agents(&adm).unwrap().needs_reshare, 1);
    a.remove_agent(&adm, "agent2").unwrap();
    let e = a.remove_agent(&adm, "agent1").unwrap_err();
    assert_eq!(e.code(), "AUTH-133", "{e}");
    assert_eq!(a.agents(&adm).unwrap().agents.len(), 3);

    // The re-share opens an agent request for the one key made for the old set.
    let (id, released, needed) = shares_pending(a.reshare(&adm));
    assert_eq!((released.len(), needed), (0, 2));
    let reqs = a.agent_requests(&adm).unwrap();
    let req = reqs.iter().find(|r| r.id == id).unwrap();
    assert_eq!((req.kind.as_str(), req.keys), ("reshare", 1));
    // The new agent holds no share of it: refused.
    let pk3 = agents[3].public_key().unwrap().to_hex();
    let got = a.agent_shares(&adm, id, &pk3).unwrap();
    assert!(got.shares.is_empty());
    assert_eq!(
        a.release_shares(&adm, id, &pk3, &[]).unwrap_err().code(),
        "AUTH-132"
    );
    // The removed agent cannot answer.
    let pk2 = agents[2].public_key().unwrap().to_hex();
    assert_eq!(
        a.agent_shares(&adm, id, &pk2).unwrap_err().code(),
        "AUTH-131"
    );

    // M-1 answers change nothing.
    release(a, &adm, &agents[0], id);
    let (again, released, _) = shares_pending(a.reshare(&adm));
    assert_eq!((again, released), (id, vec!["agent0".to_string()]));
    let set = a.agents(&adm).unwrap();
    assert_eq!(set.needs_reshare, 1);
    let shares: Vec<(String, i64)> = set
        .agents
        .iter()
        .map(|g| (g.name.clone(), g.shares))
        .collect();
    assert_eq!(
        shares,
        [
            ("agent0".into(), 1),
            ("agent1".into(), 1),
            ("agent3".into(), 0)
        ]
    );

    // The second old agent: the shares are re-made for agent0, agent1 and agent3.
    release(a, &adm, &agents[1], id);
    let r = a.reshare(&adm).unwrap();
    assert_eq!((r.remade, r.split), (1, 0));
    let set = a.agents(&adm).unwrap();
    assert_eq!(set.needs_reshare, 0);
    assert!(set.agents.iter().all(|g| g.shares == 1), "{set:?}");
    assert!(a.agent_requests(&adm).unwrap().iter().all(|r| r.id != id));
    // Nothing left to re-make: a second run changes nothing and opens no request.
    let r = a.reshare(&adm).unwrap();
    assert_eq!((r.remade, r.split), (0, 0));

    // The old shares (the removed agent's with another's) rebuild the old wrap key, which
    // opens nothing now: the key was wrapped again under a new one.
    let (_, wrapped_after) = wrapped_in_copy(
        f.pg.as_ref(),
        &f.dir,
        &tmp.path().join("after"),
        "alice@example.com",
    );
    assert_ne!(wrapped_after, wrapped_before);
    assert!(!unwraps(
        &[&old0, &old2],
        key_id,
        "alice@example.com",
        &wrapped_after
    ));
    // With one of today's shares either.
    let new0 = open_share(a, &adm, &agents[0], rec_id, key_id);
    assert_ne!(new0, old0);
    assert!(!unwraps(
        &[&new0, &old2],
        key_id,
        "alice@example.com",
        &wrapped_after
    ));
    let new3 = open_share(a, &adm, &agents[3], rec_id, key_id);
    assert!(unwraps(
        &[&new0, &new3],
        key_id,
        "alice@example.com",
        &wrapped_after
    ));

    // The new agent and a remaining one recover alice's key (the recovery opened before the
    // change still stands; its agents fetch the new shares).
    release(a, &adm, &agents[3], rec_id);
    release(a, &adm, &agents[1], rec_id);
    let r = a
        .recover_key(&adm, "alice@example.com", &pw, false, None)
        .unwrap();
    let p12 = pki::pkcs12::parse(&r.pkcs12, pw.expose()).unwrap();
    assert_eq!(
        p12.keys[0].key.to_pkcs8_der().unwrap().as_bytes(),
        &alice_key[..]
    );

    // The audit log names every release and its keys, never a share.
    let log = a.audit_list(&adm, None).unwrap();
    let releases: Vec<&str> = log
        .iter()
        .filter(|e| e.action == "agent.release" && e.outcome == "ok")
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(releases.len(), 4, "{releases:?}");
    assert!(
        releases
            .iter()
            .all(|t| t.contains(&format!("1 share (key {key_id})"))),
        "{releases:?}"
    );
    assert!(log.iter().any(|e| e.action == "agent.reshare"
        && e.outcome == "ok"
        && e.target.contains("shares of 1 keys re-made")));
}

#[test]
fn a_reshare_follows_a_new_threshold_and_is_void_when_the_agents_change_meanwhile() {
    let f = fixture();
    let a = &f.auth;
    let adm = admin(a);
    let agents: Vec<AgentSecretKey> = (0..4)
        .map(|_| AgentSecretKey::generate().unwrap())
        .collect();
    for (i, k) in agents.iter().enumerate().take(3) {
        a.add_agent(
            &adm,
            &format!("agent{i}"),
            &k.public_key().unwrap().to_hex(),
        )
        .unwrap();
    }
    a.set_agent_threshold(&adm, 2).unwrap();
    let alice_key = enroll(a, &adm, "alice@example.com", "alice-sign.key.pem");

    // M raised to 3: the key's shares (made for 2) need re-making; the old threshold (2)
    // is what the re-share needs.
    a.set_agent_threshold(&adm, 3).unwrap();
    assert_eq!(a.agents(&adm).unwrap().needs_reshare, 1);
    let (id, _, needed) = shares_pending(a.reshare(&adm));
    assert_eq!(needed, 2);
    release(a, &adm, &agents[0], id);

    // An agent added meanwhile: the request is void (its shares would be made for a set
    // nobody asked for); the next run opens a new one for the four agents.
    a.add_agent(&adm, "agent3", &agents[3].public_key().unwrap().to_hex())
        .unwrap();
    release(a, &adm, &agents[1], id);
    let e = a.reshare(&adm).unwrap_err();
    assert_eq!(e.code(), "AUTH-134", "{e}");
    assert!(a.agent_requests(&adm).unwrap().is_empty());
    let pk0 = agents[0].public_key().unwrap().to_hex();
    assert!(a.agent_shares(&adm, id, &pk0).is_err());
    let (id2, released, needed) = shares_pending(a.reshare(&adm));
    assert!(id2 > id);
    assert_eq!((released.len(), needed), (0, 2));
    release(a, &adm, &agents[0], id2);
    release(a, &adm, &agents[2], id2);
    assert_eq!(a.reshare(&adm).unwrap().remade, 1);
    let set = a.agents(&adm).unwrap();
    assert_eq!(set.needs_reshare, 0);
    assert!(set.agents.iter().all(|g| g.shares == 1));

    // Now three of the four agents are needed: two are not enough.
    let pw = Password::new("recovery password");
    let (rid, _, needed) =
        shares_pending(a.recover_key(&adm, "alice@example.com", &pw, false, None));
    assert_eq!(needed, 3);
    release(a, &adm, &agents[3], rid);
    release(a, &adm, &agents[1], rid);
    shares_pending(a.recover_key(&adm, "alice@example.com", &pw, false, None));
    release(a, &adm, &agents[2], rid);
    let r = a
        .recover_key(&adm, "alice@example.com", &pw, false, None)
        .unwrap();
    let p12 = pki::pkcs12::parse(&r.pkcs12, pw.expose()).unwrap();
    assert_eq!(
        p12.keys[0].key.to_pkcs8_der().unwrap().as_bytes(),
        &alice_key[..]
    );
}

#[test]
fn the_dashboard_summary_counts_requests_that_can_complete_not_those_a_restart_voided() {
    let f = fixture();
    let a = &f.auth;
    let adm = admin(a);
    let agents: Vec<AgentSecretKey> = (0..2)
        .map(|_| AgentSecretKey::generate().unwrap())
        .collect();
    for (i, k) in agents.iter().enumerate() {
        a.add_agent(
            &adm,
            &format!("agent{i}"),
            &k.public_key().unwrap().to_hex(),
        )
        .unwrap();
    }
    a.set_agent_threshold(&adm, 2).unwrap();
    enroll(a, &adm, "alice@example.com", "alice-sign.key.pem");
    let pw = Password::new("recovery password");
    let (id, _, _) = shares_pending(a.recover_key(&adm, "alice@example.com", &pw, false, None));
    let summary = a.agent_summary(&adm).unwrap();
    assert_eq!(
        (summary.threshold, summary.agents, summary.requests_waiting),
        (Some(2), 2, 1)
    );
    // A restart loses the request's one-time key: the request is void and waits for nothing.
    drop(f.auth);
    let store = open_store_in(f.pg.as_ref(), &f.dir);
    let b = authority::unlock(
        &store,
        &escrow::Credential::password("start-up password"),
        super::config(),
        f.clock.clone(),
    )
    .unwrap();
    let adm = admin(&b);
    let requests = b.agent_requests(&adm).unwrap();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.id, r.status.as_str()))
            .collect::<Vec<_>>(),
        vec![(id, "void")]
    );
    assert_eq!(b.agent_summary(&adm).unwrap().requests_waiting, 0);
}
