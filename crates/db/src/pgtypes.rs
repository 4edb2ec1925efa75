//! [`Value`] on PostgreSQL's wire: `postgres_types::ToSql` binding one `Value` to whatever
//! type the server inferred for a parameter (INT2/INT4/INT8, BOOL, NUMERIC, the text types,
//! BYTEA), and `postgres_types::FromSql` reading any of them (and domains over them) back.
//! Booleans read as 0/1 and integral NUMERICs (PostgreSQL's `sum` of a BIGINT) as integers,
//! so one code path reads both backends.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres_types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::value::Value;

type BoxError = Box<dyn StdError + Sync + Send>;

/// The type underneath domains.
fn base(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(inner) => base(inner),
        _ => ty,
    }
}

fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || ty.name() == "citext"
}

fn is_int(ty: &Type) -> bool {
    matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8)
}

fn supported(ty: &Type) -> bool {
    let ty = base(ty);
    is_text(ty) || is_int(ty) || matches!(*ty, Type::BOOL | Type::BYTEA | Type::NUMERIC | Type::OID)
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let ty = base(ty);
        match self {
            Value::Null => return Ok(IsNull::Yes),
            Value::Int(i) => {
                let i = *i;
                match *ty {
                    Type::INT8 => out.put_i64(i),
                    Type::INT4 => out.put_i32(
                        i32::try_from(i)
                            .map_err(|_| "an integer parameter does not fit an INTEGER column")?,
                    ),
                    Type::INT2 => out.put_i16(
                        i16::try_from(i)
                            .map_err(|_| "an integer parameter does not fit a SMALLINT column")?,
                    ),
                    Type::OID => out.put_u32(
                        u32::try_from(i).map_err(|_| "an integer parameter does not fit an OID")?,
                    ),
                    Type::BOOL => match i {
                        0 | 1 => out.put_u8(i as u8),
                        _ => return Err("only 0 and 1 bind to a BOOLEAN parameter".into()),
                    },
                    Type::NUMERIC => numeric_from_i64(i, out),
                    // SQLite's TEXT affinity stores an integer as its decimal text.
                    ref t if is_text(t) => out.put_slice(i.to_string().as_bytes()),
                    _ => return Err(mismatch("an integer", ty)),
                }
            }
            Value::Text(s) if is_text(ty) => out.put_slice(s.as_bytes()),
            Value::Text(_) => return Err(mismatch("a text", ty)),
            Value::Blob(b) if *ty == Type::BYTEA => out.put_slice(b),
            Value::Blob(_) => return Err(mismatch("a blob", ty)),
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        supported(ty)
    }

    to_sql_checked!();
}

fn mismatch(what: &str, ty: &Type) -> BoxError {
    format!("{what} parameter does not bind to a {} column", ty.name()).into()
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let ty = base(ty);
        let fixed = |n: usize| -> Result<&[u8], BoxError> {
            if raw.len() == n {
                Ok(raw)
            } else {
                Err(format!("a {} value of {} bytes", ty.name(), raw.len()).into())
            }
        };
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_be_bytes(fixed(8)?.try_into()?)),
            Type::INT4 => Value::Int(i64::from(i32::from_be_bytes(fixed(4)?.try_into()?))),
            Type::INT2 => Value::Int(i64::from(i16::from_be_bytes(fixed(2)?.try_into()?))),
            Type::OID => Value::Int(i64::from(u32::from_be_bytes(fixed(4)?.try_into()?))),
            Type::BOOL => Value::Int(i64::from(fixed(1)?[0] != 0)),
            Type::NUMERIC => Value::Int(numeric_to_i64(raw)?),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            ref t if is_text(t) => Value::Text(std::str::from_utf8(raw)?.to_owned()),
            _ => return Err(format!("a {} column does not read as a value", ty.name()).into()),
        })
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(ty: &Type) -> bool {
        supported(ty)
    }
}

/// PostgreSQL's binary NUMERIC for an integer: base-10000 digits, most significant first.
fn numeric_from_i64(i: i64, out: &mut BytesMut) {
    let mut n = i.unsigned_abs();
    let mut digits = Vec::new();
    while n > 0 {
        digits.push((n % 10_000) as i16);
        n /= 10_000;
    }
    digits.reverse();
    let weight = digits.len().saturating_sub(1) as i16;
    // Trailing zero groups are implied by the weight.
    while digits.last() == Some(&0) {
        digits.pop();
    }
    out.put_i16(digits.len() as i16);
    out.put_i16(weight);
    out.put_u16(if i < 0 { 0x4000 } else { 0 });
    out.put_u16(0); // display scale
    for d in digits {
        out.put_i16(d);
    }
}

/// An integral NUMERIC as an `i64`; one with a fraction, NaN or out of range is refused.
fn numeric_to_i64(raw: &[u8]) -> Result<i64, BoxError> {
    let word = |k: usize| -> Result<i16, BoxError> {
        raw.get(2 * k..2 * k + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated NUMERIC".into())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "a malformed NUMERIC")?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    if sign != 0 && sign != 0x4000 {
        return Err("a NUMERIC that is not a number (NaN or infinity)".into());
    }
    let digit = |k: usize| -> Result<i128, BoxError> {
        if k < ndigits {
            Ok(i128::from(word(4 + k)?))
        } else {
            Ok(0)
        }
    };
    let mut acc: i128 = 0;
    for k in 0..=weight.max(-1) {
        acc = acc * 10_000 + digit(k as usize)?;
        if acc > i128::from(i64::MAX) + 1 {
            return Err("a NUMERIC out of the range of a 64-bit integer".into());
        }
    }
    let first_fraction = usize::try_from(weight + 1).unwrap_or(0);
    for k in first_fraction..ndigits {
        if digit(k)? != 0 {
            return Err("a NUMERIC with a fraction does not read as an integer".into());
        }
    }
    let acc = if sign == 0x4000 { -acc } else { acc };
    i64::try_from(acc).map_err(|_| "a NUMERIC out of the range of a 64-bit integer".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_round_trips_integers() {
        for i in [
            0,
            1,
            -1,
            9_999,
            10_000,
            10_001,
            123_456_789,
            -100_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            let mut b = BytesMut::new();
            numeric_from_i64(i, &mut b);
            assert_eq!(numeric_to_i64(&b).unwrap(), i, "{i}");
        }
    }

    #[test]
    fn numeric_with_fraction_is_refused() {
        // 1.5: ndigits 2, weight 0, sign +, dscale 1, digits [1, 5000].
        let raw = [0, 2, 0, 0, 0, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert!(numeric_to_i64(&raw).is_err());
        // 0.0 with a zero fractional digit is 0.
        let raw = [0, 1, 0xff, 0xff, 0, 0, 0, 1, 0, 0];
        assert_eq!(numeric_to_i64(&raw).unwrap(), 0);
        // NaN.
        let raw = [0, 0, 0, 0, 0xc0, 0, 0, 0];
        assert!(numeric_to_i64(&raw).is_err());
    }
}
