//! Loading a PKCS#11 module once per process (`C_Initialize` with OS locking; a module is
//! initialised once and shared by every key opened through it), finding a token by label,
//! and initialising the module again when a token went away: some modules (SoftHSM, network
//! HSM clients) only see a token that comes back after `C_Finalize` and `C_Initialize`.
//!
//! Every PKCS#11 call of this crate runs under the module's read lock; re-initialising takes
//! the write lock, so no call is in flight when the module is finalised. Sessions opened
//! before a re-initialisation carry the old epoch and are forgotten, never closed: their
//! handles may name new sessions of the new epoch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::Slot;

use crate::error::{HsmError, from_ck};

/// The shortest time between two re-initialisations of a module (each closes every session
/// of every key on it, and a module may take a while to initialise).
pub const REINIT_INTERVAL: Duration = Duration::from_secs(1);

/// A loaded module.
pub(crate) struct Module {
    state: RwLock<State>,
}

/// The module's context and how many times it was initialised.
pub(crate) struct State {
    /// The module's functions.
    pub(crate) ctx: Pkcs11,
    /// Bumped at each re-initialisation; sessions of older epochs are gone.
    pub(crate) epoch: u64,
    initialized: bool,
    last_reinit: Option<Instant>,
}

/// The modules loaded by this process, by path. A module is never unloaded: PKCS#11 allows
/// one initialisation per process, and sessions of other keys may be open.
fn modules() -> &'static Mutex<HashMap<PathBuf, Arc<Module>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// `C_Initialize` with OS locking; a module initialised already by another user in this
/// process is shared.
fn initialize(ctx: &Pkcs11) -> Result<(), CkError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The module at `path`, loaded and initialised (once per process).
pub(crate) fn load(path: &Path) -> Result<Arc<Module>, HsmError> {
    let fail = |reason: String| HsmError::ModuleLoad {
        module: path.display().to_string(),
        reason,
    };
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut loaded = modules().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(module) = loaded.get(&key) {
        return Ok(module.clone());
    }
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let ctx = Pkcs11::new(path).map_err(|e| fail(e.to_string()))?;
    initialize(&ctx).map_err(|e| fail(format!("C_Initialize: {e}")))?;
    let module = Arc::new(Module {
        state: RwLock::new(State {
            ctx,
            epoch: 0,
            initialized: true,
            last_reinit: None,
        }),
    });
    loaded.insert(key, module.clone());
    Ok(module)
}

impl Module {
    /// The module for PKCS#11 calls (held for their duration).
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Finalises and initialises the module again, after a token went away, so that it looks
    /// for its tokens afresh. Returns whether a caller that saw epoch `seen` should try again:
    /// true when this call or another one since re-initialised the module, false when the
    /// last re-initialisation is less than [`REINIT_INTERVAL`] old.
    pub(crate) fn reinitialize(&self, seen: u64) -> bool {
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        if st.epoch != seen {
            return true;
        }
        if st
            .last_reinit
            .is_some_and(|t| t.elapsed() < REINIT_INTERVAL)
        {
            return false;
        }
        if st.initialized {
            // Errors are of no use here: the module is initialised afresh next.
            let _ = st.ctx.clone().finalize();
        }
        st.initialized = initialize(&st.ctx).is_ok();
        st.epoch += 1;
        st.last_reinit = Some(Instant::now());
        true
    }
}

/// The slot holding the token labelled `label` (labels are blank-padded to 32 bytes on the
/// token; trailing blanks are ignored).
pub(crate) fn find_token(ctx: &Pkcs11, label: &str) -> Result<Slot, HsmError> {
    let slots = ctx.get_slots_with_token().map_err(|e| from_ck(label, e))?;
    let mut present = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue; // a slot whose token went away between the two calls
        };
        if !info.token_initialized() {
            continue;
        }
        let found = info.label().trim_end();
        if found == label {
            return Ok(slot);
        }
        present.push(format!("{found:?}"));
    }
    Err(HsmError::NoToken {
        label: label.to_string(),
        present: if present.is_empty() {
            "no initialised token is present".into()
        } else {
            format!("present: {}", present.join(", "))
        },
    })
}
