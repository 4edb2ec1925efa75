//! SQLite only: `kmsd check` (`authority::check_store`) reads a data directory's SQLite file
//! (it has no PostgreSQL form yet); here it verifies split keys against their agent set on
//! copies of the directory, one with share rows moved or deleted through SQLite.

use pki::quorum::AgentSecretKey;

use super::agents::{admin, copy_dir, enroll};
use super::fixture;

#[test]
fn kmsd_check_verifies_split_keys_against_their_agent_set_without_opening_a_share() {
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
    f.clock.advance(std::time::Duration::from_secs(5));
    enroll(a, &adm, "alice@example.com", "alice-sign.key.pem");
    enroll(a, &adm, "bob@example.com", "bob-sign.key.pem");
    let secret = escrow::Credential::password("start-up password");
    let tmp = tempfile::tempdir().unwrap();
    let check = |name: &str| {
        let copy = tmp.path().join(name);
        copy_dir(&f.dir, &copy);
        copy
    };

    let sound = authority::check_store(&check("sound"), &secret).unwrap();
    assert!(sound.is_sound(), "{sound:?}");
    assert_eq!((sound.split.keys, sound.split.shares), (2, 6));
    assert_eq!((sound.split.threshold, sound.split.agents), (Some(2), 3));
    assert!(sound.split.needs_reshare.is_empty());

    // A share row moved onto another agent's fails its authentication; a deleted share is
    // missing; either makes the store unsound.
    let moved = check("moved");
    let db = rusqlite::Connection::open(moved.join(escrow::DB_FILE_NAME)).unwrap();
    db.execute(
        "UPDATE key_shares SET ciphertext = (SELECT ciphertext FROM key_shares
         WHERE agent_id = 1 ORDER BY key_id LIMIT 1) WHERE agent_id = 2",
        [],
    )
    .unwrap();
    db.execute(
        "DELETE FROM key_shares WHERE agent_id = 3 AND key_id = (SELECT max(key_id) FROM split_keys)",
        [],
    )
    .unwrap();
    drop(db);
    let r = authority::check_store(&moved, &secret).unwrap();
    assert!(!r.is_sound());
    let text = r.split.problems.join("\n");
    assert_eq!(r.split.problems.len(), 4, "{text}");
    assert_eq!(
        text.matches("share of agent agent1 failed authentication")
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains("share of agent agent2 is missing"), "{text}");
    // The key left with one sound share cannot be rebuilt: said so.
    assert!(
        text.contains("1 sound shares of active agents, fewer than its threshold 2"),
        "{text}"
    );

    // An agent added: every key needs a re-share, and the store is sound.
    a.add_agent(&adm, "agent3", &agents[3].public_key().unwrap().to_hex())
        .unwrap();
    let r = authority::check_store(&check("added"), &secret).unwrap();
    assert!(r.is_sound(), "{r:?}");
    assert_eq!(r.split.needs_reshare.len(), 2);
}
