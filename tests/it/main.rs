//! The workspace's cross-binary suites: the real `kmsd`, `kmsctl` and `lockbox` end to end
//! (`e2e`, `e2e_views`, `e2e_enroll`, `e2e_fetch`, `crl_cache_e2e`; key recovery agents in
//! `agents_e2e`, a stolen copy of their data directory in `agents_copy`), the URLs in certificates
//! fetched by `openssl` and `gpgsm` (`public_urls`), a `kmsd` killed with
//! SIGKILL under load (`crash`), two nodes on one PostgreSQL database with a node killed and the
//! database restarted under load (`cluster_e2e`), storage faults and a damaged store (`faults`),
//! the audit anchor against a lost WAL or an older store (`anchor`), `kmsd migrate` between
//! SQLite and PostgreSQL and backups restored into either (`migrate_e2e`), the CA key in
//! SoftHSM (`hsm_e2e`), the admin console in Chromium
//! (`console_browser`), the README's quick start as written (`readme`), and the repository's
//! own rules (`layout`: nothing refers outside the repository, dependency arrows point down).

mod agents_copy;
mod agents_e2e;
mod anchor;
mod bulk_revoke_e2e;
mod cluster_e2e;
mod console_browser;
mod crash;
mod crl_cache_e2e;
mod e2e;
mod e2e_enroll;
mod e2e_fetch;
mod e2e_sbr;
mod e2e_views;
mod faults;
mod governance_e2e;
mod hsm_e2e;
mod layout;
mod limits_e2e;
mod migrate_e2e;
mod ocsp_e2e;
mod public_urls;
mod readme;
mod support;
