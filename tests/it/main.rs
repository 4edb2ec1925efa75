//! The workspace's cross-binary suites: the real `kmsd`, `kmsctl` and `lockbox` end to end
//! (`e2e`, `e2e_views`), a `kmsd` killed with SIGKILL under load (`crash`), the admin console
//! in Chromium (`console_browser`), the README's quick start as written (`readme`), and the
//! repository's own rules (`layout`: nothing refers outside the repository, dependency arrows
//! point down).

mod console_browser;
mod crash;
mod e2e;
mod e2e_fetch;
mod e2e_views;
mod governance_e2e;
mod layout;
mod limits_e2e;
mod readme;
mod support;
