//! Request and response bodies of every route, by noun. Field names and shapes are the ones
//! scripts read (the design's registry); fields are only ever added.

mod admins;
mod agents;
mod audit;
mod backups;
mod certificates;
mod governance;
mod session;
mod settings;
mod status;
mod users;

pub use admins::*;
pub use agents::*;
pub use audit::*;
pub use backups::*;
pub use certificates::*;
pub use governance::*;
pub use session::*;
pub use settings::*;
pub use status::*;
pub use users::*;
