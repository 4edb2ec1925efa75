//! Loading a PKCS#11 module once per process (`C_Initialize` with OS locking; a module is
//! initialised once and shared by every key opened through it) and finding a token by label.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::Slot;

use crate::error::{HsmError, from_ck};

/// The modules loaded by this process, by path. A module is never finalised or unloaded:
/// PKCS#11 allows one `C_Initialize` per process, and sessions of other keys may be open.
fn modules() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The module at `path`, loaded and initialised (once per process).
pub(crate) fn load(path: &Path) -> Result<Pkcs11, HsmError> {
    let fail = |reason: String| HsmError::ModuleLoad {
        module: path.display().to_string(),
        reason,
    };
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut loaded = modules().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = loaded.get(&key) {
        return Ok(ctx.clone());
    }
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let ctx = Pkcs11::new(path).map_err(|e| fail(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Initialised already by another user of the module in this process: share it.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(format!("C_Initialize: {e}"))),
    }
    loaded.insert(key, ctx.clone());
    Ok(ctx)
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
