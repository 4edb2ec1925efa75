//! The pool of logged-in read-only sessions a [`crate::TokenKey`] signs through: up to `size`
//! sessions, opened on demand and reused. When the token goes away every session of the pool
//! is dropped at once (a generation number marks the ones still lent out), so that the next
//! caller opens fresh sessions and logs in again. Sessions from before a re-initialisation of
//! the module (an older module epoch) are forgotten, never closed (see `module.rs`).

use std::sync::{Condvar, Mutex, MutexGuard};

use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::Slot;

/// One logged-in session with the key's handle in it.
pub(crate) struct Conn {
    /// The session (read-only, the user logged in).
    pub(crate) session: Session,
    /// The slot the token was found in.
    pub(crate) slot: Slot,
    /// The private key's handle, valid in this session.
    pub(crate) key: ObjectHandle,
    /// The pool generation the session was opened in.
    generation: u64,
    /// The module epoch the session was opened in.
    epoch: u64,
}

impl Conn {
    /// A session opened for the pool's generation `generation` (see [`Lease::Open`]) in the
    /// module epoch `epoch`.
    pub(crate) fn new(
        session: Session,
        slot: Slot,
        key: ObjectHandle,
        generation: u64,
        epoch: u64,
    ) -> Self {
        Conn {
            session,
            slot,
            key,
            generation,
            epoch,
        }
    }

    /// Closes the session, or forgets it when the module was re-initialised since it was
    /// opened (its handle may now name another session). Call under the module's read lock
    /// with its current epoch.
    pub(crate) fn close(self, epoch: u64) {
        if self.epoch == epoch {
            drop(self);
        } else {
            std::mem::forget(self);
        }
    }
}

struct State {
    /// Sessions ready for use.
    idle: Vec<Conn>,
    /// Sessions open, idle or lent out, and slots reserved for sessions being opened.
    open: usize,
    /// Bumped when the token went away: sessions of older generations are dropped.
    generation: u64,
}

/// A bounded pool of [`Conn`]s.
pub(crate) struct Pool {
    size: usize,
    state: Mutex<State>,
    freed: Condvar,
}

/// What [`Pool::take`] hands out: a ready session, or the right to open one.
pub(crate) enum Lease {
    /// An idle session.
    Ready(Conn),
    /// No idle session but room for one: open it for this generation, then hand it back
    /// with [`Pool::put`] (or [`Pool::cancel`] when opening failed).
    Open(u64),
}

impl Pool {
    /// An empty pool of up to `size` sessions (at least one).
    pub(crate) fn new(size: usize) -> Self {
        Pool {
            size: size.max(1),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                generation: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many sessions the pool may hold.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// An idle session of module epoch `epoch`, or the right to open one; waits while every
    /// session is lent out. Idle sessions of an older epoch are forgotten on the way.
    pub(crate) fn take(&self, epoch: u64) -> Lease {
        let mut st = self.lock();
        loop {
            while let Some(conn) = st.idle.pop() {
                if conn.epoch == epoch {
                    return Lease::Ready(conn);
                }
                st.open -= 1;
                conn.close(epoch);
            }
            if st.open < self.size {
                st.open += 1;
                return Lease::Open(st.generation);
            }
            st = self.freed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Gives a session back after use; one of an older generation or epoch is closed.
    pub(crate) fn put(&self, conn: Conn, epoch: u64) {
        let mut st = self.lock();
        if conn.generation == st.generation && conn.epoch == epoch {
            st.idle.push(conn);
            drop(st);
        } else {
            st.open -= 1;
            drop(st);
            conn.close(epoch);
        }
        self.freed.notify_one();
    }

    /// Gives back the right to open a session (opening it failed).
    pub(crate) fn cancel(&self) {
        self.lock().open -= 1;
        self.freed.notify_one();
    }

    /// The token went away under `conn`: closes it and every idle session of its generation,
    /// and moves the pool to a new generation (sessions lent out are closed when returned).
    pub(crate) fn discard(&self, conn: Conn, epoch: u64) {
        let mut st = self.lock();
        st.open -= 1;
        let stale = if conn.generation == st.generation {
            st.generation += 1;
            let idle = std::mem::take(&mut st.idle);
            st.open -= idle.len();
            idle
        } else {
            Vec::new()
        };
        drop(st);
        // Closing sessions of a token that went away may take the module a moment: not
        // under the pool's lock.
        conn.close(epoch);
        for c in stale {
            c.close(epoch);
        }
        self.freed.notify_all();
    }

    /// Every idle session, taken out (when the key is dropped).
    pub(crate) fn drain(&self) -> Vec<Conn> {
        let mut st = self.lock();
        let idle = std::mem::take(&mut st.idle);
        st.open -= idle.len();
        idle
    }

    /// Sessions open now (idle or lent out).
    pub(crate) fn open_now(&self) -> usize {
        self.lock().open
    }
}
