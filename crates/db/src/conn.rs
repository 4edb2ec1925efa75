//! The connection: [`Connection`] over SQLite (rusqlite) or PostgreSQL (the sync `postgres`
//! client), with rusqlite's shape (`execute`, `query_row`, `query_map`, `prepare`,
//! `execute_batch`, `transaction`), [`Row`], [`Statement`], [`Transaction`] (rolled back when
//! dropped), PostgreSQL advisory locks, sequences, and reconnecting with capped backoff.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{DbConfig, PgConfig, TlsMode};
use crate::error::{DbError, ErrorKind, Result, from_postgres, from_sqlite};
use crate::placeholder;
use crate::value::{FromSql, Params, Value};

/// Which database engine a [`Connection`] talks to, for the few places where the dialects
/// truly differ (PRAGMAs, `BEGIN IMMEDIATE`, advisory locks, catalog queries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, embedded (the single-machine default).
    Sqlite,
    /// PostgreSQL, over the network (several nodes on one database).
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The isolation of a transaction.
///
/// SQLite runs every write transaction `BEGIN IMMEDIATE` (one writer at a time: serializable
/// already), whatever is asked. On PostgreSQL:
/// - [`Isolation::ReadCommitted`] (the default) suits operations whose conflicts the schema
///   itself catches (unique keys, `ON CONFLICT`, `SELECT ... FOR UPDATE` on the rows they
///   change): each statement sees what committed before it ran.
/// - [`Isolation::Serializable`] suits read-then-write operations that decide on what they
///   read (a quorum counted before it is carried out, a check that no row exists before one is
///   written without a unique key to stop a twin): PostgreSQL aborts one of two transactions
///   that could not have run one after the other, with [`ErrorKind::Retry`]; the caller runs
///   the whole transaction again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// PostgreSQL `READ COMMITTED`.
    ReadCommitted,
    /// PostgreSQL `SERIALIZABLE`.
    Serializable,
}

/// How long to wait between attempts to reach a database that is down: doubling from
/// `initial` up to `max`, giving up after `give_up_after` (then the last error is returned).
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// How long to keep trying in all.
    pub give_up_after: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling up to 5 s, for up to 60 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            give_up_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The waits in order (unbounded; the caller stops at `give_up_after`).
    pub fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let max = self.max;
        std::iter::successors(Some(self.initial.min(max)), move |d| {
            Some((*d * 2).min(max))
        })
    }
}

/// Most prepared statements kept per PostgreSQL connection (the cache is emptied when full).
const PG_STATEMENT_CACHE: usize = 256;

struct Pg {
    /// The client (`None` only while it is dropped: see `Drop`).
    client: RefCell<Option<postgres::Client>>,
    /// Prepared statements by their SQL as written (with `?N`).
    statements: RefCell<HashMap<String, postgres::Statement>>,
    config: PgConfig,
}

impl Pg {
    fn client(&self) -> std::cell::RefMut<'_, postgres::Client> {
        std::cell::RefMut::map(self.client.borrow_mut(), |c| {
            c.as_mut()
                .expect("a PostgreSQL client is open until it is dropped")
        })
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Closing the session runs the client's own runtime: see `pg_blocking`.
        if let Some(client) = self.client.get_mut().take() {
            pg_blocking(move || drop(client));
        }
    }
}

/// Runs a call of the synchronous PostgreSQL client, which drives a small runtime of its own:
/// on a worker thread of a multi-threaded tokio runtime (kmsd's request handlers call the
/// authority directly for quick reads), through `block_in_place`, which hands the worker's
/// other tasks to another thread first (a runtime started inside a runtime's worker panics);
/// anywhere else (plain threads, `spawn_blocking`), directly.
fn pg_blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Pg>),
}

/// A connection to one database. Like rusqlite's `Connection` it is `Send` but not `Sync`
/// (one thread uses it at a time), and every method takes `&self`.
pub struct Connection {
    inner: Inner,
    /// A transaction is open on this connection.
    in_tx: Cell<bool>,
    /// A statement failed inside the open transaction: it can only roll back.
    tx_failed: Cell<bool>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Sqlite(_) => f.write_str("Connection(sqlite)"),
            Inner::Postgres(pg) => write!(f, "Connection({})", pg.config),
        }
    }
}

impl Connection {
    /// Opens (creating) a SQLite database file, with foreign keys on and a 10 s busy timeout.
    /// The store's own PRAGMAs (WAL, synchronous, secure_delete) stay the caller's.
    pub fn open_sqlite(path: &Path) -> Result<Self> {
        let conn = rusqlite::Connection::open(path)?;
        Self::from_rusqlite(conn)
    }

    /// A private in-memory SQLite database (tests).
    pub fn open_sqlite_in_memory() -> Result<Self> {
        Self::from_rusqlite(rusqlite::Connection::open_in_memory()?)
    }

    /// Wraps an open rusqlite connection (foreign keys switched on, busy timeout set).
    pub fn from_rusqlite(conn: rusqlite::Connection) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Connection {
            inner: Inner::Sqlite(conn),
            in_tx: Cell::new(false),
            tx_failed: Cell::new(false),
        })
    }

    /// Connects to PostgreSQL (one attempt; see [`Connection::reconnect`]).
    pub fn connect_postgres(config: &PgConfig) -> Result<Self> {
        let client = pg_blocking(|| pg_connect(config))?;
        Ok(Connection {
            inner: Inner::Postgres(Box::new(Pg {
                client: RefCell::new(Some(client)),
                statements: RefCell::new(HashMap::new()),
                config: config.clone(),
            })),
            in_tx: Cell::new(false),
            tx_failed: Cell::new(false),
        })
    }

    /// Opens the database `config` names.
    pub fn open(config: &DbConfig) -> Result<Self> {
        match config {
            DbConfig::Sqlite { path } => Self::open_sqlite(path),
            DbConfig::Postgres(pg) => Self::connect_postgres(pg),
        }
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The rusqlite connection underneath, for what only SQLite has (PRAGMAs, online backup);
    /// `None` on PostgreSQL.
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// [`Connection::as_sqlite`], writable (the online backup API's destination).
    pub fn as_sqlite_mut(&mut self) -> Option<&mut rusqlite::Connection> {
        match &mut self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// The PostgreSQL configuration this connection was made with; `None` on SQLite.
    pub fn postgres_config(&self) -> Option<&PgConfig> {
        match &self.inner {
            Inner::Sqlite(_) => None,
            Inner::Postgres(pg) => Some(&pg.config),
        }
    }

    /// Whether a transaction is open on this connection.
    pub fn in_transaction(&self) -> bool {
        self.in_tx.get()
    }

    /// Classifies a driver error, marking the open transaction failed.
    fn failed<E>(&self, e: E, convert: impl FnOnce(&E) -> DbError) -> DbError {
        let err = convert(&e);
        if self.in_tx.get() && err.kind() != ErrorKind::NotFound {
            self.tx_failed.set(true);
        }
        if err.kind() == ErrorKind::Unreachable || err.sqlstate() == Some("0A000") {
            // A new session, or a changed table, invalidates prepared statements.
            if let Inner::Postgres(pg) = &self.inner {
                pg.statements.borrow_mut().clear();
            }
        }
        err
    }

    fn sqlite_err(&self, e: rusqlite::Error) -> DbError {
        self.failed(e, from_sqlite)
    }

    fn pg_err(&self, e: postgres::Error) -> DbError {
        self.failed(e, from_postgres)
    }

    fn pg_statement(&self, pg: &Pg, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = pg.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let text = placeholder::to_postgres(sql)?;
        let stmt = pg_blocking(|| pg.client().prepare(&text)).map_err(|e| self.pg_err(e))?;
        let mut cache = pg.statements.borrow_mut();
        if cache.len() >= PG_STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        let values = params.to_values()?;
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(|e| self.sqlite_err(e))?;
                stmt.execute(rusqlite::params_from_iter(values.iter()))
                    .map_err(|e| self.sqlite_err(e))
            }
            Inner::Postgres(pg) => {
                let stmt = self.pg_statement(pg, sql)?;
                let n = pg_blocking(|| pg.client().execute(&stmt, &pg_params(&values)))
                    .map_err(|e| self.pg_err(e))?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs several statements separated by `;`, without parameters (DDL, migrations).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => c.execute_batch(sql).map_err(|e| self.sqlite_err(e)),
            Inner::Postgres(pg) => {
                // DDL may change what cached statements return.
                pg.statements.borrow_mut().clear();
                pg_blocking(|| pg.client().batch_execute(sql)).map_err(|e| self.pg_err(e))
            }
        }
    }

    /// Runs `sql` and calls `f` on its rows in order until `f` answers `false` or the rows
    /// end (rusqlite's `while let Some(row) = rows.next()?` loop, `break` being `Ok(false)`):
    /// the one row walker under every query call. SQLite streams; PostgreSQL holds the
    /// result's raw rows meanwhile (the client buffers a result as it arrives either way; the
    /// rows are read into the driver's compact form first so that `f` may use the connection
    /// itself; bounded memory needs a portal: see STORAGE.md). Errors of the database become
    /// `E` through `From`, marking an open transaction failed; errors of `f` are returned as
    /// they are.
    pub fn query_while<E, P, F>(&self, sql: &str, params: P, f: F) -> std::result::Result<(), E>
    where
        E: From<DbError>,
        P: Params,
        F: FnMut(&Row<'_>) -> std::result::Result<bool, E>,
    {
        let values = params.to_values()?;
        self.walk(sql, &values, f)
    }

    /// [`Connection::query_while`] on values already bound.
    fn walk<E, F>(&self, sql: &str, values: &[Value], mut f: F) -> std::result::Result<(), E>
    where
        E: From<DbError>,
        F: FnMut(&Row<'_>) -> std::result::Result<bool, E>,
    {
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql).map_err(|e| self.sqlite_err(e))?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(values.iter()))
                    .map_err(|e| self.sqlite_err(e))?;
                while let Some(r) = rows.next().map_err(|e| self.sqlite_err(e))? {
                    if !f(&Row(RowInner::Sqlite(r)))? {
                        break;
                    }
                }
                Ok(())
            }
            Inner::Postgres(pg) => {
                let stmt = self.pg_statement(pg, sql)?;
                let rows = pg_blocking(|| pg.client().query(&stmt, &pg_params(values)))
                    .map_err(|e| self.pg_err(e))?;
                for r in &rows {
                    if !f(&Row(RowInner::Postgres(r)))? {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// Every row `sql` returns, each mapped by `f`.
    pub fn query_map<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<Vec<T>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        self.query_and_then(sql, params, f)
    }

    /// [`Connection::query_map`] with a mapping that fails with the caller's own error type
    /// (rusqlite's `query_and_then`): a row that decrypts wrong is the caller's error, not the
    /// database's.
    pub fn query_and_then<T, E, P, F>(
        &self,
        sql: &str,
        params: P,
        mut f: F,
    ) -> std::result::Result<Vec<T>, E>
    where
        E: From<DbError>,
        P: Params,
        F: FnMut(&Row<'_>) -> std::result::Result<T, E>,
    {
        let values = params.to_values()?;
        let mut out = Vec::new();
        self.walk::<E, _>(sql, &values, |row| {
            out.push(f(row)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// Calls `f` on every row without collecting what `f` makes (a CRL over a million
    /// revocations, an integrity pass over every escrowed key): rusqlite's `stmt.query` loop.
    /// Stops at the first error `f` returns. `f` may run other statements on the same
    /// connection.
    pub fn query_each<P, F>(&self, sql: &str, params: P, f: F) -> Result<()>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<()>,
    {
        self.query_each_and_then(sql, params, f)
    }

    /// [`Connection::query_each`] with `f` failing with the caller's own error type.
    pub fn query_each_and_then<E, P, F>(
        &self,
        sql: &str,
        params: P,
        mut f: F,
    ) -> std::result::Result<(), E>
    where
        E: From<DbError>,
        P: Params,
        F: FnMut(&Row<'_>) -> std::result::Result<(), E>,
    {
        let values = params.to_values()?;
        self.walk::<E, _>(sql, &values, |row| f(row).map(|()| true))
    }

    /// The first row `sql` returns, mapped by `f`; [`ErrorKind::NotFound`] when there is none
    /// (`.optional()` turns that into `None`).
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.query_row_and_then(sql, params, f)
    }

    /// [`Connection::query_row`] with `f` failing with the caller's own error type (none is
    /// still [`ErrorKind::NotFound`], converted).
    pub fn query_row_and_then<T, E, P, F>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> std::result::Result<T, E>
    where
        E: From<DbError>,
        P: Params,
        F: FnOnce(&Row<'_>) -> std::result::Result<T, E>,
    {
        let values = params.to_values()?;
        let mut f = Some(f);
        let mut out = None;
        self.walk::<E, _>(sql, &values, |row| {
            if let Some(f) = f.take() {
                out = Some(f(row)?);
            }
            Ok(false)
        })?;
        out.ok_or_else(|| E::from(DbError::not_found()))
    }

    /// The first row mapped by `f`, or `None`.
    pub fn query_opt<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<Option<T>>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        crate::OptionalExtension::optional(self.query_row(sql, params, f))
    }

    /// Same as [`Connection::prepare`] (every statement is cached): rusqlite's name, kept so
    /// that code written for it reads the same.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare(sql)
    }

    /// A statement to run several times (prepared once per connection and cached).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        match &self.inner {
            Inner::Sqlite(c) => {
                // Checks the SQL now, as rusqlite's prepare does; runs use the cache.
                drop(c.prepare_cached(sql).map_err(|e| self.sqlite_err(e))?);
            }
            Inner::Postgres(pg) => {
                self.pg_statement(pg, sql)?;
            }
        }
        Ok(Statement {
            conn: self,
            sql: sql.to_owned(),
        })
    }

    /// Begins a write transaction: SQLite `BEGIN IMMEDIATE`, PostgreSQL `READ COMMITTED`.
    pub fn transaction(&self) -> Result<Transaction<'_>> {
        self.transaction_with(Isolation::ReadCommitted)
    }

    /// Begins a `SERIALIZABLE` transaction on PostgreSQL (`BEGIN IMMEDIATE` on SQLite); see
    /// [`Isolation`] for when.
    pub fn transaction_serializable(&self) -> Result<Transaction<'_>> {
        self.transaction_with(Isolation::Serializable)
    }

    /// Begins a transaction of the given isolation.
    pub fn transaction_with(&self, isolation: Isolation) -> Result<Transaction<'_>> {
        if self.in_tx.get() {
            return Err(DbError::misuse(
                "a transaction is already open on this connection",
            ));
        }
        let begin = match (self.backend(), isolation) {
            (Backend::Sqlite, _) => "BEGIN IMMEDIATE",
            (Backend::Postgres, Isolation::ReadCommitted) => "BEGIN ISOLATION LEVEL READ COMMITTED",
            (Backend::Postgres, Isolation::Serializable) => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        };
        self.raw_batch(begin)?;
        self.in_tx.set(true);
        self.tx_failed.set(false);
        Ok(Transaction {
            conn: self,
            open: true,
        })
    }

    /// Runs `f` in a transaction of `isolation` and commits, running the whole transaction
    /// again (up to `attempts` times in all) when PostgreSQL reports a lost race
    /// ([`ErrorKind::Retry`]: serialization failure, deadlock). Other errors, and the last
    /// `Retry`, are returned; `f` must do nothing outside the database that it cannot repeat.
    pub fn transact<T>(
        &self,
        isolation: Isolation,
        attempts: u32,
        mut f: impl FnMut(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut left = attempts.max(1);
        loop {
            left -= 1;
            let tx = self.transaction_with(isolation)?;
            let result = f(&tx).and_then(|v| tx.commit().map(|()| v));
            match result {
                Err(e) if e.kind() == ErrorKind::Retry && left > 0 => {
                    tracing::debug!(error = %e, "transaction lost a race; running it again");
                }
                other => return other,
            }
        }
    }

    /// `execute_batch` without touching the statement cache.
    fn raw_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => c.execute_batch(sql).map_err(|e| self.sqlite_err(e)),
            Inner::Postgres(pg) => {
                pg_blocking(|| pg.client().batch_execute(sql)).map_err(|e| self.pg_err(e))
            }
        }
    }

    fn end_transaction(&self, commit: bool) -> Result<()> {
        let failed = self.tx_failed.get();
        let sql = if commit && !failed {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let result = self.raw_batch(sql);
        self.in_tx.set(false);
        self.tx_failed.set(false);
        if commit && failed {
            result?;
            // PostgreSQL answers COMMIT on a failed transaction with a silent ROLLBACK; both
            // backends refuse alike, so code tested on SQLite behaves the same on PostgreSQL.
            return Err(DbError::misuse(
                "a statement failed inside this transaction, so it was rolled back: handle \
                 expected conflicts in SQL (ON CONFLICT) rather than by catching the error",
            ));
        }
        if commit && result.is_err() && self.backend() == Backend::Sqlite {
            // A failed SQLite COMMIT (SQLITE_BUSY, a deferred foreign key) leaves the
            // transaction open: end it so the connection is usable.
            if let Inner::Sqlite(c) = &self.inner
                && !c.is_autocommit()
            {
                let _ = c.execute_batch("ROLLBACK");
            }
        }
        result
    }

    /// Tries to take the session-level advisory lock `key` without waiting: `true` when this
    /// connection holds it now (again: the locks count). Held until
    /// [`Connection::advisory_unlock`] or until the connection ends — a node that dies
    /// releases it, and another node takes over. On SQLite (one process per database) it is
    /// always granted.
    pub fn try_advisory_lock(&self, key: i64) -> Result<bool> {
        match self.backend() {
            Backend::Sqlite => Ok(true),
            Backend::Postgres => {
                self.query_row("SELECT pg_try_advisory_lock(?1)", [key], |r| r.get(0))
            }
        }
    }

    /// Releases one hold of the advisory lock `key`: `false` if this connection did not hold
    /// it.
    pub fn advisory_unlock(&self, key: i64) -> Result<bool> {
        match self.backend() {
            Backend::Sqlite => Ok(true),
            Backend::Postgres => {
                self.query_row("SELECT pg_advisory_unlock(?1)", [key], |r| r.get(0))
            }
        }
    }

    /// Creates the sequence `name` if it does not exist, starting at `start`. On SQLite a row
    /// of the table `db_sequences` stands in for it.
    pub fn create_sequence(&self, name: &str, start: i64) -> Result<()> {
        check_identifier(name)?;
        match self.backend() {
            Backend::Postgres => self.execute_batch(&format!(
                "CREATE SEQUENCE IF NOT EXISTS {name} START {start}"
            )),
            Backend::Sqlite => {
                self.execute_batch(
                    "CREATE TABLE IF NOT EXISTS db_sequences (
                         name  TEXT    PRIMARY KEY,
                         value INTEGER NOT NULL
                     )",
                )?;
                self.execute(
                    "INSERT INTO db_sequences (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO NOTHING",
                    crate::params![name, start],
                )?;
                Ok(())
            }
        }
    }

    /// The next number of the sequence `name`: unique across every connection and node. On
    /// PostgreSQL it is not given back when the transaction rolls back (numbers may be
    /// skipped, never repeated); on SQLite it is (the write lock makes it single anyway).
    pub fn nextval(&self, name: &str) -> Result<i64> {
        check_identifier(name)?;
        match self.backend() {
            Backend::Postgres => {
                self.query_row(&format!("SELECT nextval('{name}')"), [], |r| r.get(0))
            }
            Backend::Sqlite => self
                .query_row(
                    "UPDATE db_sequences SET value = value + 1 WHERE name = ?1
                     RETURNING value - 1",
                    [name],
                    |r| r.get(0),
                )
                .map_err(|e| match e.kind() {
                    ErrorKind::NotFound => {
                        DbError::misuse(format!("no sequence {name}: create_sequence first"))
                    }
                    _ => e,
                }),
        }
    }

    /// Whether the database answers (`SELECT 1`).
    pub fn ping(&self) -> Result<()> {
        self.query_row("SELECT 1", [], |r| r.get::<i64>(0))
            .map(drop)
    }

    /// On PostgreSQL, replaces a connection that is gone by a new one, waiting as `backoff`
    /// says between attempts while the server is unreachable; other errors (credentials, the
    /// database dropped) are returned at once. A connection that still answers is kept. An
    /// open transaction is lost with the old connection. Does nothing on SQLite.
    pub fn reconnect(&mut self, backoff: &Backoff) -> Result<()> {
        let Inner::Postgres(pg) = &mut self.inner else {
            return Ok(());
        };
        let alive = pg_blocking(|| {
            let mut client = pg.client();
            !client.is_closed() && client.simple_query("SELECT 1").is_ok()
        });
        if alive {
            return Ok(());
        }
        let start = Instant::now();
        let mut delays = backoff.delays();
        loop {
            // No attempt outlives the time left (a cut network would otherwise hold one for
            // the whole `connect_timeout`); at least a second each.
            let mut attempt = pg.config.clone();
            let left = backoff.give_up_after.saturating_sub(start.elapsed());
            attempt.connect_timeout = attempt
                .connect_timeout
                .min(left.max(Duration::from_secs(1)));
            match pg_blocking(|| pg_connect(&attempt)) {
                Ok(client) => {
                    let old = pg.client.get_mut().replace(client);
                    pg_blocking(move || drop(old));
                    pg.statements.get_mut().clear();
                    self.in_tx.set(false);
                    self.tx_failed.set(false);
                    tracing::info!(database = %pg.config, "reconnected to the database");
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Unreachable => {
                    let wait = delays.next().unwrap_or(backoff.max);
                    if start.elapsed() + wait > backoff.give_up_after {
                        return Err(e);
                    }
                    tracing::warn!(database = %pg.config, error = %e, "database unreachable; retrying");
                    std::thread::sleep(wait);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Refuses anything but a plain lower-case SQL identifier (names are put into SQL text).
fn check_identifier(name: &str) -> Result<()> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(DbError::misuse(format!(
            "{name:?} is not a plain lower-case identifier"
        )))
    }
}

fn pg_params(values: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn pg_connect(config: &PgConfig) -> Result<postgres::Client> {
    let mut pc = config.to_postgres();
    let client = match &config.tls {
        TlsMode::Disable => pc
            .ssl_mode(postgres::config::SslMode::Disable)
            .connect(postgres::NoTls),
        TlsMode::Verify { ca_file } => {
            let tls = rustls_config(ca_file)?;
            pc.ssl_mode(postgres::config::SslMode::Require)
                .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        }
    };
    client.map_err(|e| from_postgres(&e))
}

/// A rustls client configuration on aws-lc-rs trusting the CA certificates in `ca_file`.
fn rustls_config(ca_file: &Path) -> Result<rustls::ClientConfig> {
    let tls_err = |m: String| DbError::new(ErrorKind::Tls, m);
    let pem = std::fs::read(ca_file).map_err(|e| {
        tls_err(format!(
            "cannot read the database CA file {}: {e}",
            ca_file.display()
        ))
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| {
            tls_err(format!(
                "the database CA file {} is not PEM: {e}",
                ca_file.display()
            ))
        })?;
        roots.add(cert).map_err(|e| {
            tls_err(format!(
                "a certificate in {} is refused: {e}",
                ca_file.display()
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(tls_err(format!(
            "the database CA file {} holds no certificate",
            ca_file.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

/// One result row.
pub struct Row<'a>(RowInner<'a>);

impl Row<'_> {
    /// Column `idx` (from 0) as `T`.
    pub fn get<T: FromSql>(&self, idx: usize) -> Result<T> {
        T::from_value(self.get_value(idx)?)
            .map_err(|e| DbError::new(e.kind(), format!("column {idx}: {}", e.message())))
    }

    /// Column `idx` as a [`Value`].
    pub fn get_value(&self, idx: usize) -> Result<Value> {
        match &self.0 {
            RowInner::Sqlite(r) => {
                use rusqlite::types::ValueRef;
                Ok(match r.get_ref(idx).map_err(|e| from_sqlite(&e))? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Int(i),
                    ValueRef::Real(_) => {
                        return Err(DbError::type_error(format!(
                            "column {idx} holds a floating-point value (not one of ours)"
                        )));
                    }
                    ValueRef::Text(t) => Value::Text(
                        std::str::from_utf8(t)
                            .map_err(|_| {
                                DbError::type_error(format!("column {idx} is not UTF-8 text"))
                            })?
                            .to_owned(),
                    ),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                })
            }
            RowInner::Postgres(r) => {
                if idx >= r.len() {
                    return Err(DbError::misuse(format!("no column {idx}")));
                }
                r.try_get::<_, Value>(idx).map_err(|e| from_postgres(&e))
            }
        }
    }

    /// How many columns the row has.
    pub fn len(&self) -> usize {
        match &self.0 {
            RowInner::Sqlite(r) => r.as_ref().column_count(),
            RowInner::Postgres(r) => r.len(),
        }
    }

    /// Whether the row has no column.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rows of [`Statement::query_map`], already mapped.
pub type MappedRows<T> = std::vec::IntoIter<Result<T>>;

/// A statement prepared on a connection, run with different parameters.
#[derive(Debug)]
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: String,
}

impl Statement<'_> {
    /// Runs it; the number of rows changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }

    /// Every row, mapped by `f`, as rusqlite's `query_map` gives them (an iterator of
    /// results, so `.collect::<Result<Vec<_>>>()` reads the same on both). The rows are read
    /// and mapped before it returns; use
    /// [`Connection::query_each`] for results too large to hold.
    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> Result<MappedRows<T>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        // An error of `f` comes out of this call rather than as the iterator's last item:
        // the same for a caller that collects with `?`.
        let rows = self.conn.query_map(&self.sql, params, f)?;
        Ok(rows.into_iter().map(Ok).collect::<Vec<_>>().into_iter())
    }

    /// The first row, mapped by `f`; [`ErrorKind::NotFound`] when none.
    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.conn.query_row(&self.sql, params, f)
    }
}

/// An open transaction; derefs to its [`Connection`]. [`Transaction::commit`] makes it
/// durable; dropping it rolls it back. After a statement failed inside it, it can only roll
/// back (PostgreSQL aborts the transaction at the first error; the same rule holds on SQLite
/// so that code tested there behaves alike).
#[derive(Debug)]
pub struct Transaction<'c> {
    conn: &'c Connection,
    open: bool,
}

impl Transaction<'_> {
    /// Commits. Fails (and rolls back) when a statement failed inside the transaction.
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        self.conn.end_transaction(true)
    }

    /// Rolls back.
    pub fn rollback(mut self) -> Result<()> {
        self.open = false;
        self.conn.end_transaction(false)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open
            && let Err(e) = self.conn.end_transaction(false)
        {
            // The connection is gone (the server rolls back by itself) or broken.
            tracing::warn!(error = %e, "rollback of a dropped transaction failed");
        }
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            give_up_after: Duration::from_secs(1),
        };
        let d: Vec<u128> = b.delays().take(5).map(|d| d.as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(check_identifier("crl_number").is_ok());
        for bad in ["", "1a", "A", "a;drop", "a'b", &"a".repeat(64)] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
    }
}
