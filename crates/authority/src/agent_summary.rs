//! A cheap summary of the key recovery agents for the console's dashboard: the threshold, how
//! many agents are active and how many agent requests wait for shares. Unlike
//! [`Authority::agents`] it counts no escrowed keys, so a dashboard view stays independent of
//! the number of keys in escrow.

use db::OptionalExtension;
use serde::Serialize;

use super::*;

/// The agent set in three numbers.
#[derive(Clone, Debug, Serialize)]
pub struct AgentSummary {
    /// M: agents needed to rebuild a key (none until set).
    pub threshold: Option<i64>,
    /// N: the active agents.
    pub agents: i64,
    /// Open, unexpired agent requests that can still complete (recoveries and re-shares
    /// waiting for agents' shares; not those a restart made void).
    pub requests_waiting: i64,
}

impl Authority {
    /// The agent set's threshold, size and open agent requests (any role).
    pub fn agent_summary(&self, _actor: &Admin) -> Result<AgentSummary> {
        let now = unix(self.now());
        let st = self.lock();
        let conn = st.store.store().connection();
        let threshold = conn
            .query_row("SELECT threshold FROM agent_policy WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let agents = conn.query_row(
            "SELECT count(*) FROM recovery_agents WHERE removed_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        // Only requests that can still complete: one whose one-time key a restart lost is
        // void (the pages say so) and waits for nothing.
        let open: Vec<i64> = {
            let mut stmt = conn.prepare(
                "SELECT id FROM agent_requests WHERE status = 'open' AND expires_at > ?1",
            )?;
            stmt.query_map([now], |r| r.get(0))?
                .collect::<db::Result<_>>()?
        };
        let requests_waiting = open
            .into_iter()
            .filter(|id| self.request_keys.is_live(*id))
            .count() as i64;
        Ok(AgentSummary {
            threshold,
            agents,
            requests_waiting,
        })
    }
}
