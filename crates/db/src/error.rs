//! The crate's one error type, [`DbError`]: what went wrong as a caller can act on it (full,
//! read-only, busy, damaged, I/O, unreachable, conflict, retry, ...), classified from SQLite's
//! result codes and PostgreSQL's SQLSTATEs, with a stable code and a message that never holds
//! an SQL parameter, a password or a connection string with a password.

use std::fmt;

/// A `Result` with [`DbError`].
pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// What kind of failure a [`DbError`] is: what the caller does about it.
///
/// The first five match the escrow store's storage-fault classes (`escrow::StorageFault`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The disk under the database is full (SQLite `FULL`, PostgreSQL 53100): HTTP 507.
    Full,
    /// The database cannot be written: a read-only file or file system, or a PostgreSQL
    /// standby (25006): HTTP 503.
    ReadOnly,
    /// Another program holds the lock this statement needs (SQLite `BUSY`/`LOCKED`,
    /// PostgreSQL 55P03 lock not available): retry later.
    Busy,
    /// The database is damaged (SQLite `CORRUPT`/`NOTADB`, PostgreSQL XX001/XX002): HTTP 503,
    /// restore from a backup.
    Damaged,
    /// The disk reported an input/output error, or the database file could not be opened
    /// (SQLite `IOERR`/`CANTOPEN`, PostgreSQL 58030): HTTP 503.
    Io,
    /// The connection to PostgreSQL is gone or could not be made (08xxx, 57P01..57P03, a
    /// closed socket): HTTP 503, then [`crate::Connection::reconnect`].
    Unreachable,
    /// A unique or primary-key constraint refused the row (SQLite `CONSTRAINT_UNIQUE`/
    /// `CONSTRAINT_PRIMARYKEY`, PostgreSQL 23505): HTTP 409.
    Conflict,
    /// The transaction lost a race (PostgreSQL 40001 serialization failure, 40P01
    /// deadlock): roll back and run the whole transaction again.
    Retry,
    /// `query_row` found no row.
    NotFound,
    /// The database's schema is newer than this binary: upgrade the program.
    Newer,
    /// Another constraint refused the row (foreign key, CHECK, NOT NULL, a trigger's
    /// refusal).
    Constraint,
    /// A value does not convert between Rust and the column (wrong type, out of range, NULL
    /// where a value is needed).
    Type,
    /// The database configuration is wrong (a malformed URL, a password inside it, an
    /// unreadable password file).
    Config,
    /// PostgreSQL refused the credentials (28000, 28P01).
    Auth,
    /// A migration failed to apply (its transaction was rolled back).
    Migration,
    /// An applied migration's text changed since it was applied.
    MigrationChanged,
    /// Any other error the database reported (syntax, an unknown table: a program error).
    Sql,
    /// The API was used in a way it does not support (a transaction inside a transaction,
    /// a backend-only helper on the other backend).
    Misuse,
    /// The TLS connection to PostgreSQL could not be set up (a CA file unreadable, a
    /// handshake refused).
    Tls,
}

impl ErrorKind {
    /// The stable code an operator may see (`DB-001`..`DB-019`; see the crate docs).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Full => "DB-001",
            ErrorKind::ReadOnly => "DB-002",
            ErrorKind::Busy => "DB-003",
            ErrorKind::Damaged => "DB-004",
            ErrorKind::Io => "DB-005",
            ErrorKind::Unreachable => "DB-006",
            ErrorKind::Conflict => "DB-007",
            ErrorKind::Retry => "DB-008",
            ErrorKind::NotFound => "DB-009",
            ErrorKind::Newer => "DB-010",
            ErrorKind::Constraint => "DB-011",
            ErrorKind::Type => "DB-012",
            ErrorKind::Config => "DB-013",
            ErrorKind::Auth => "DB-014",
            ErrorKind::Migration => "DB-015",
            ErrorKind::MigrationChanged => "DB-016",
            ErrorKind::Sql => "DB-017",
            ErrorKind::Misuse => "DB-018",
            ErrorKind::Tls => "DB-019",
        }
    }

    /// Whether a node should report itself unable to serve (HTTP 503) for this kind.
    pub fn is_unavailable(self) -> bool {
        matches!(
            self,
            ErrorKind::ReadOnly | ErrorKind::Damaged | ErrorKind::Io | ErrorKind::Unreachable
        )
    }
}

/// A database error: its [`ErrorKind`] and a message fit for an operator's log.
///
/// The message is built by this crate from the database's own text where that text holds no
/// data (constraint and table names, SQLite's messages, PostgreSQL's message for syntax and
/// constraint errors); PostgreSQL's `DETAIL` (which quotes row values) is never kept.
#[derive(Clone, PartialEq, Eq)]
pub struct DbError {
    kind: ErrorKind,
    message: String,
    /// PostgreSQL's SQLSTATE, when the error came from the server.
    sqlstate: Option<String>,
    /// The constraint named by a constraint violation, when the database says.
    constraint: Option<String>,
}

impl DbError {
    /// An error of `kind` with `message` (which must hold no secret and no SQL parameter).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DbError {
            kind,
            message: message.into(),
            sqlstate: None,
            constraint: None,
        }
    }

    pub(crate) fn with_sqlstate(mut self, code: &str) -> Self {
        self.sqlstate = Some(code.to_owned());
        self
    }

    pub(crate) fn with_constraint(mut self, constraint: Option<&str>) -> Self {
        self.constraint = constraint.map(str::to_owned);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code (`DB-0NN`).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The message, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// PostgreSQL's SQLSTATE (five characters), for errors the server reported.
    pub fn sqlstate(&self) -> Option<&str> {
        self.sqlstate.as_deref()
    }

    /// The violated constraint's name, when the database named it.
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    /// `query_row` found no row.
    pub fn not_found() -> Self {
        DbError::new(ErrorKind::NotFound, "the query returned no row")
    }

    /// A [`ErrorKind::Misuse`] error (a caller's step that failed inside a database call).
    pub fn misuse(message: impl Into<String>) -> Self {
        DbError::new(ErrorKind::Misuse, message)
    }

    /// A [`ErrorKind::Type`] error (a value that does not convert).
    pub fn type_error(message: impl Into<String>) -> Self {
        DbError::new(ErrorKind::Type, message)
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        DbError::new(ErrorKind::Config, message)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message)?;
        if let Some(state) = &self.sqlstate {
            write!(f, " (SQLSTATE {state})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("sqlstate", &self.sqlstate)
            .field("constraint", &self.constraint)
            .finish()
    }
}

impl std::error::Error for DbError {}

/// `.optional()` on a query result, as rusqlite's `OptionalExtension`: `NotFound` becomes
/// `Ok(None)`.
pub trait OptionalExtension<T> {
    /// `Ok(Some(v))` for a row, `Ok(None)` for [`ErrorKind::NotFound`], other errors kept.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        from_sqlite(&e)
    }
}

/// Classifies a rusqlite error. SQLite's messages name tables, columns and constraints but
/// never bound values; rusqlite's `SqlInputError` (which carries the SQL text) is reduced to
/// its message.
pub(crate) fn from_sqlite(e: &rusqlite::Error) -> DbError {
    use rusqlite::Error as E;
    use rusqlite::ffi;
    match e {
        E::QueryReturnedNoRows => DbError::not_found(),
        E::SqliteFailure(err, msg) => {
            let msg = msg.clone().unwrap_or_else(|| err.to_string());
            let kind = match err.code {
                ffi::ErrorCode::DiskFull => ErrorKind::Full,
                ffi::ErrorCode::ReadOnly | ffi::ErrorCode::PermissionDenied => ErrorKind::ReadOnly,
                ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => ErrorKind::Busy,
                ffi::ErrorCode::DatabaseCorrupt | ffi::ErrorCode::NotADatabase => {
                    ErrorKind::Damaged
                }
                ffi::ErrorCode::SystemIoFailure | ffi::ErrorCode::CannotOpen => ErrorKind::Io,
                ffi::ErrorCode::ConstraintViolation => match err.extended_code {
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                        ErrorKind::Conflict
                    }
                    _ => ErrorKind::Constraint,
                },
                ffi::ErrorCode::TypeMismatch => ErrorKind::Type,
                _ => ErrorKind::Sql,
            };
            DbError::new(kind, msg)
        }
        E::SqlInputError { msg, .. } => DbError::new(ErrorKind::Sql, msg.clone()),
        E::FromSqlConversionFailure(i, ty, _) => DbError::type_error(format!(
            "column {i}: a {ty} value does not convert to the type asked for"
        )),
        E::IntegralValueOutOfRange(i, _) => {
            DbError::type_error(format!("column {i}: the integer is out of range"))
        }
        E::InvalidColumnType(i, name, ty) => DbError::type_error(format!(
            "column {i} ({name}): a {ty} value does not convert to the type asked for"
        )),
        E::InvalidColumnIndex(i) => DbError::misuse(format!("no column {i}")),
        E::InvalidParameterCount(got, want) => {
            DbError::misuse(format!("{got} parameters given, the statement has {want}"))
        }
        E::ToSqlConversionFailure(_) => DbError::type_error("a parameter does not convert"),
        E::Utf8Error(..) => DbError::type_error("a text value is not valid UTF-8"),
        E::ExecuteReturnedResults => {
            DbError::misuse("execute ran a statement that returns rows: use query_row")
        }
        other => DbError::new(ErrorKind::Sql, other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        from_postgres(&e)
    }
}

/// The kind for a PostgreSQL SQLSTATE.
pub fn kind_of_sqlstate(code: &str) -> ErrorKind {
    match code {
        "53100" => ErrorKind::Full,
        "25006" => ErrorKind::ReadOnly,
        "55P03" => ErrorKind::Busy,
        "40001" | "40P01" => ErrorKind::Retry,
        "XX001" | "XX002" => ErrorKind::Damaged,
        "58030" => ErrorKind::Io,
        "57P01" | "57P02" | "57P03" => ErrorKind::Unreachable,
        "23505" => ErrorKind::Conflict,
        "28000" | "28P01" => ErrorKind::Auth,
        c if c.starts_with("08") => ErrorKind::Unreachable,
        c if c.starts_with("23") => ErrorKind::Constraint,
        // 22xxx data exceptions (out of range, invalid text for a type).
        c if c.starts_with("22") => ErrorKind::Type,
        _ => ErrorKind::Sql,
    }
}

/// Classifies a `postgres` error. Server errors keep their SQLSTATE and constraint name; the
/// server's message is kept only where it quotes no data (syntax and undefined-object errors,
/// constraint violations, a trigger's own `RAISE`); `DETAIL`, which quotes row values, never.
pub(crate) fn from_postgres(e: &postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = kind_of_sqlstate(code);
        let quotes_no_data = code.starts_with("42")
            || code.starts_with("23")
            || code == "P0001"
            || code.starts_with("08")
            || code.starts_with("57")
            || code.starts_with("28")
            || code == "25006"
            || code == "40001"
            || code == "40P01"
            || code == "55P03";
        let message = if quotes_no_data {
            db.message().to_owned()
        } else {
            match kind {
                ErrorKind::Full => "the database server's disk is full".to_owned(),
                ErrorKind::Damaged => "the database server reports damaged data".to_owned(),
                ErrorKind::Io => "the database server reported an I/O error".to_owned(),
                ErrorKind::Type => "a value does not fit the column's type".to_owned(),
                _ => "the database server refused the statement".to_owned(),
            }
        };
        return DbError::new(kind, message)
            .with_sqlstate(code)
            .with_constraint(db.constraint());
    }
    // Client-side errors: tokio-postgres's Display names the kind only (no data); its
    // kinds are private, so they are told apart by that text.
    let text = e.to_string();
    let kind = if e.is_closed()
        || text.starts_with("error communicating with the server")
        || text.starts_with("error connecting to server")
        || text.starts_with("timeout waiting for server")
        || text.starts_with("unexpected message from server")
        || text.starts_with("error parsing response from server")
    {
        ErrorKind::Unreachable
    } else if text.starts_with("error performing TLS handshake") {
        ErrorKind::Tls
    } else if text.starts_with("authentication error") {
        ErrorKind::Auth
    } else if text.starts_with("error serializing parameter")
        || text.starts_with("error deserializing column")
    {
        ErrorKind::Type
    } else if text.starts_with("invalid connection string")
        || text.starts_with("invalid configuration")
    {
        ErrorKind::Config
    } else if text.starts_with("expected ") || text.starts_with("invalid column") {
        ErrorKind::Misuse
    } else {
        ErrorKind::Sql
    };
    // The cause of a client-side error is an I/O error, or our own conversion message.
    let message = match std::error::Error::source(e) {
        Some(cause) => format!("{text}: {cause}"),
        None => text,
    };
    DbError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_kinds() {
        for (state, kind) in [
            ("53100", ErrorKind::Full),
            ("25006", ErrorKind::ReadOnly),
            ("55P03", ErrorKind::Busy),
            ("40001", ErrorKind::Retry),
            ("40P01", ErrorKind::Retry),
            ("XX001", ErrorKind::Damaged),
            ("XX002", ErrorKind::Damaged),
            ("08006", ErrorKind::Unreachable),
            ("08001", ErrorKind::Unreachable),
            ("57P01", ErrorKind::Unreachable),
            ("57P03", ErrorKind::Unreachable),
            ("23505", ErrorKind::Conflict),
            ("23503", ErrorKind::Constraint),
            ("23514", ErrorKind::Constraint),
            ("28P01", ErrorKind::Auth),
            ("22003", ErrorKind::Type),
            ("42601", ErrorKind::Sql),
        ] {
            assert_eq!(kind_of_sqlstate(state), kind, "{state}");
        }
    }

    #[test]
    fn codes_are_distinct_and_numbered() {
        let kinds = [
            ErrorKind::Full,
            ErrorKind::ReadOnly,
            ErrorKind::Busy,
            ErrorKind::Damaged,
            ErrorKind::Io,
            ErrorKind::Unreachable,
            ErrorKind::Conflict,
            ErrorKind::Retry,
            ErrorKind::NotFound,
            ErrorKind::Newer,
            ErrorKind::Constraint,
            ErrorKind::Type,
            ErrorKind::Config,
            ErrorKind::Auth,
            ErrorKind::Migration,
            ErrorKind::MigrationChanged,
            ErrorKind::Sql,
            ErrorKind::Misuse,
            ErrorKind::Tls,
        ];
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(k.code(), format!("DB-{:03}", i + 1));
        }
    }

    #[test]
    fn optional_maps_only_not_found() {
        let none: Result<i64> = Err(DbError::not_found());
        assert_eq!(none.optional().unwrap(), None);
        let other: Result<i64> = Err(DbError::misuse("x"));
        assert_eq!(other.optional().unwrap_err().kind(), ErrorKind::Misuse);
        assert_eq!(Ok::<_, DbError>(3).optional().unwrap(), Some(3));
    }
}
