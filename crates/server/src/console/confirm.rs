//! Confirmation pages of the console's destructive actions (revoke, disable, bulk renewal,
//! removing an administrator or a start-up secret): a GET that says exactly what will happen,
//! computed by the authority, with a form that posts the action with `confirm=yes` (the
//! console's form of the API's `"confirm": true`). A destructive POST without it goes back
//! to its confirmation page and changes nothing.

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Gate, Layout};

/// The form field (and value) a confirmation page posts.
pub const CONFIRM_FIELD: &str = "confirm";
/// The value of [`CONFIRM_FIELD`] that confirms.
pub const CONFIRM_VALUE: &str = "yes";

/// A thing the action touches, or leaves out with why.
pub(super) struct Item {
    /// What it is (an address, a serial).
    pub name: String,
    /// Its link, or empty.
    pub href: String,
    /// More about it (kind and expiry, why it is left out).
    pub detail: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(super) struct ConfirmPage {
    pub layout: Layout,
    /// One sentence: what will happen.
    pub what: String,
    /// The caption of the list of what it touches.
    pub items_caption: String,
    /// What it touches.
    pub items: Vec<Item>,
    /// The caption of the list of what it leaves out.
    pub skipped_caption: String,
    /// What it leaves out, with why.
    pub skipped: Vec<Item>,
    /// Further consequences, one sentence each.
    pub notes: Vec<String>,
    /// Where the confirming form posts.
    pub action: String,
    /// The form's other fields (besides the CSRF token and `confirm`).
    pub fields: Vec<(String, String)>,
    /// The confirming button's label (starts with "Yes, ").
    pub button: String,
    /// Whether the administrator may confirm (and if not, why).
    pub gate: Gate,
    /// Where "Cancel" goes.
    pub back: String,
}

/// Whether a posted form confirmed.
pub(super) fn confirmed(value: Option<&str>) -> bool {
    value == Some(CONFIRM_VALUE)
}

/// The answer to a destructive POST without `confirm=yes`: back to its confirmation page
/// (`page` with `query`, urlencoded), nothing done.
pub(super) fn ask_first(page: &str, query: &[(&str, &str)]) -> Response {
    let q = serde_urlencoded::to_string(query).unwrap_or_default();
    let to = if q.is_empty() {
        page.to_string()
    } else {
        format!("{page}?{q}")
    };
    Redirect::to(&to).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn only_yes_confirms() {
        assert!(confirmed(Some("yes")));
        assert!(!confirmed(Some("")));
        assert!(!confirmed(Some("1")));
        assert!(!confirmed(None));
    }

    #[test]
    fn unconfirmed_posts_go_back_to_the_confirmation_page() {
        let r = ask_first(
            "/console/users/a%40b/revoke",
            &[("reason", "keyCompromise")],
        );
        assert_eq!(r.status(), axum::http::StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers().get(header::LOCATION).unwrap(),
            "/console/users/a%40b/revoke?reason=keyCompromise"
        );
        let r = ask_first("/console/admins/x/remove", &[]);
        assert_eq!(
            r.headers().get(header::LOCATION).unwrap(),
            "/console/admins/x/remove"
        );
    }
}
