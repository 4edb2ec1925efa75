//! Sign-in fairness: password checks at most one at a time per client address
//! ([`AppState::client_addr`]), in front of the global KDF permits (`AppState::kdf_permits`).
//!
//! Without the per-address step, a flood of sign-ins from one client takes every global
//! permit and everyone else queues behind it. With it, one client holds at most one global
//! permit: its other attempts wait on its own slot (at most [`MAX_WAITING_PER_ADDRESS`]; more
//! are refused at once with `KMS-429` and `Retry-After`), and another client's sign-in waits
//! only for the permits the other clients hold. Slots exist only while attempts hold or wait
//! for them, so the map is bounded by the connections in flight.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use crate::{ApiError, AppState};

/// Attempts of one client address waiting for its slot before further ones are refused.
pub const MAX_WAITING_PER_ADDRESS: usize = 8;

/// The per-address slots.
#[derive(Default)]
pub(crate) struct Slots {
    map: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

/// One attempt's reference to its slot; forgets the slot when the last attempt drops it.
struct SlotRef<'a> {
    slot: Arc<Semaphore>,
    key: IpAddr,
    slots: &'a Slots,
}

impl Drop for SlotRef<'_> {
    fn drop(&mut self) {
        let mut map = self.slots.map.lock().unwrap_or_else(|p| p.into_inner());
        // Held by the map and by this reference only: no other attempt holds or waits.
        if Arc::strong_count(&self.slot) <= 2 {
            map.remove(&self.key);
        }
    }
}

/// A password check's permits: one global permit and the client's slot (fields drop in this
/// order, the slot reference last).
pub(crate) struct KdfPermit<'a> {
    _global: SemaphorePermit<'a>,
    _own: OwnedSemaphorePermit,
    _slot: SlotRef<'a>,
}

impl AppState {
    /// Waits for `client`'s slot, then for a global KDF permit (see the module doc).
    pub(crate) async fn kdf_permit_for(&self, client: IpAddr) -> Result<KdfPermit<'_>, ApiError> {
        let key = authority::signin_address_key(client);
        let slot_ref = {
            let mut map = self
                .signin_slots
                .map
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let slot = map
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(1)));
            // Besides the map's, each attempt holds one or two references (its own, and the
            // permit's or the waiting acquisition's).
            let attempts = (Arc::strong_count(slot) - 1).div_ceil(2);
            if attempts > MAX_WAITING_PER_ADDRESS {
                return Err(ApiError::too_many_requests(
                    "too many sign-in attempts in flight from this address; try again shortly",
                    1,
                ));
            }
            SlotRef {
                slot: slot.clone(),
                key,
                slots: &self.signin_slots,
            }
        };
        let own = slot_ref
            .slot
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let global = self
            .kdf_permits
            .acquire()
            .await
            .map_err(ApiError::internal)?;
        Ok(KdfPermit {
            _global: global,
            _own: own,
            _slot: slot_ref,
        })
    }
}
