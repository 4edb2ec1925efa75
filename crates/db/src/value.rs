//! Values crossing the API: [`Value`] (NULL, integer, text, bytes: SQLite's storage classes,
//! which PostgreSQL's BIGINT/TEXT/BYTEA columns mirror), the [`ToSql`]/[`FromSql`] conversions
//! for the Rust types the code binds and reads, the [`Params`] forms a statement accepts, and
//! the [`params!`](crate::params) macro.

use crate::error::{DbError, Result};

/// One SQL value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer (SQLite INTEGER, PostgreSQL BIGINT; booleans are 0/1).
    Int(i64),
    /// Text (UTF-8).
    Text(String),
    /// Bytes (SQLite BLOB, PostgreSQL BYTEA).
    Blob(Vec<u8>),
}

impl Value {
    /// The value's class, for messages: `NULL`, `integer`, `text`, `blob`.
    pub fn class(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "integer",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

/// A Rust value that binds as an SQL parameter.
pub trait ToSql {
    /// The SQL value (fails for a `u64` above `i64::MAX`).
    fn to_value(&self) -> Result<Value>;
}

/// A Rust value that reads from an SQL column.
pub trait FromSql: Sized {
    /// Converts the column's value (fails with [`crate::ErrorKind::Type`] when it does not
    /// fit).
    fn from_value(v: Value) -> Result<Self>;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> Result<Value> {
        (**self).to_value()
    }
}

impl ToSql for Value {
    fn to_value(&self) -> Result<Value> {
        Ok(self.clone())
    }
}

impl FromSql for Value {
    fn from_value(v: Value) -> Result<Self> {
        Ok(v)
    }
}

fn mismatch<T>(v: &Value, want: &str) -> Result<T> {
    Err(DbError::type_error(format!(
        "a {} value does not convert to {want}",
        v.class()
    )))
}

macro_rules! int_conversions {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> Result<Value> {
                i64::try_from(*self).map(Value::Int).map_err(|_| {
                    DbError::type_error(concat!("a ", stringify!($t), " parameter is above the range of a 64-bit integer"))
                })
            }
        }
        impl FromSql for $t {
            fn from_value(v: Value) -> Result<Self> {
                match v {
                    Value::Int(i) => <$t>::try_from(i).map_err(|_| {
                        DbError::type_error(concat!("an integer is out of the range of ", stringify!($t)))
                    }),
                    other => mismatch(&other, stringify!($t)),
                }
            }
        }
    )*};
}

int_conversions!(i64, i32, i16, u32, u16, u8, u64, usize);

impl ToSql for bool {
    fn to_value(&self) -> Result<Value> {
        Ok(Value::Int(i64::from(*self)))
    }
}

impl FromSql for bool {
    /// Any integer (0 is false), as SQLite and rusqlite read booleans.
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Int(i) => Ok(i != 0),
            other => mismatch(&other, "bool"),
        }
    }
}

impl ToSql for str {
    fn to_value(&self) -> Result<Value> {
        Ok(Value::Text(self.to_owned()))
    }
}

impl ToSql for String {
    fn to_value(&self) -> Result<Value> {
        Ok(Value::Text(self.clone()))
    }
}

impl FromSql for String {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Text(s) => Ok(s),
            other => mismatch(&other, "String"),
        }
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> Result<Value> {
        Ok(Value::Blob(self.to_vec()))
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_value(&self) -> Result<Value> {
        Ok(Value::Blob(self.to_vec()))
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> Result<Value> {
        Ok(Value::Blob(self.clone()))
    }
}

impl FromSql for Vec<u8> {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Blob(b) => Ok(b),
            other => mismatch(&other, "Vec<u8>"),
        }
    }
}

impl<const N: usize> FromSql for [u8; N] {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Blob(b) => <[u8; N]>::try_from(b.as_slice()).map_err(|_| {
                DbError::type_error(format!("a blob of {} bytes is not {N} bytes", b.len()))
            }),
            other => mismatch(&other, "a byte array"),
        }
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> Result<Value> {
        match self {
            Some(v) => v.to_value(),
            None => Ok(Value::Null),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// The parameters of one statement: `[]`, `[a, b]` (one type), `params![a, "b", c]` (mixed),
/// `&[&dyn ToSql]`, or a `Vec<Value>` (a list built at run time).
pub trait Params {
    /// The parameters as values, in order (`?1` is the first).
    fn to_values(&self) -> Result<Vec<Value>>;
}

impl Params for [&dyn ToSql; 0] {
    fn to_values(&self) -> Result<Vec<Value>> {
        Ok(Vec::new())
    }
}

impl Params for &[&dyn ToSql] {
    fn to_values(&self) -> Result<Vec<Value>> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl<const N: usize> Params for &[&dyn ToSql; N] {
    fn to_values(&self) -> Result<Vec<Value>> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl Params for Vec<Value> {
    fn to_values(&self) -> Result<Vec<Value>> {
        Ok(self.clone())
    }
}

impl Params for &[Value] {
    fn to_values(&self) -> Result<Vec<Value>> {
        Ok(self.to_vec())
    }
}

macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn to_values(&self) -> Result<Vec<Value>> {
                self.iter().map(ToSql::to_value).collect()
            }
        }
    )*};
}

array_params!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

/// Mixed-type parameters, as rusqlite's `params!`: `params![id, "name", blob]`.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::ToSql]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::ToSql),+] as &[&dyn $crate::ToSql]
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn integers_convert_with_range_checks() {
        assert_eq!(u64::MAX.to_value().unwrap_err().kind(), ErrorKind::Type);
        assert_eq!((i64::MAX as u64).to_value().unwrap(), Value::Int(i64::MAX));
        assert_eq!(
            u32::from_value(Value::Int(-1)).unwrap_err().kind(),
            ErrorKind::Type
        );
        assert_eq!(
            i32::from_value(Value::Int(1 << 40)).unwrap_err().kind(),
            ErrorKind::Type
        );
        assert_eq!(u64::from_value(Value::Int(7)).unwrap(), 7);
        assert!(bool::from_value(Value::Int(1)).unwrap());
        assert!(!bool::from_value(Value::Int(0)).unwrap());
        assert_eq!(true.to_value().unwrap(), Value::Int(1));
    }

    #[test]
    fn classes_do_not_mix() {
        assert_eq!(
            String::from_value(Value::Int(1)).unwrap_err().kind(),
            ErrorKind::Type
        );
        assert_eq!(
            i64::from_value(Value::Text("1".into())).unwrap_err().kind(),
            ErrorKind::Type
        );
        assert_eq!(
            i64::from_value(Value::Null).unwrap_err().kind(),
            ErrorKind::Type
        );
        assert_eq!(Option::<i64>::from_value(Value::Null).unwrap(), None);
        assert_eq!(
            <[u8; 2]>::from_value(Value::Blob(vec![1, 2])).unwrap(),
            [1, 2]
        );
        assert!(<[u8; 3]>::from_value(Value::Blob(vec![1, 2])).is_err());
    }

    #[test]
    fn params_forms() {
        let empty: &dyn Params = &[];
        assert!(empty.to_values().unwrap().is_empty());
        let same = [1i64, 2];
        assert_eq!(
            same.to_values().unwrap(),
            vec![Value::Int(1), Value::Int(2)]
        );
        let name = String::from("n");
        let mixed = crate::params![3u32, "a", name, b"xy".to_vec(), None::<i64>];
        assert_eq!(
            mixed.to_values().unwrap(),
            vec![
                Value::Int(3),
                Value::Text("a".into()),
                Value::Text("n".into()),
                Value::Blob(b"xy".to_vec()),
                Value::Null
            ]
        );
    }
}
