//! Conversions between the neutral [`Value`] and PostgreSQL's wire formats.
//!
//! Parameters are converted to the type the server inferred for them when it prepared the
//! statement (an `INT4` column gets a 4-byte integer from a [`Value::Int`]); result columns are
//! read by their type.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt::Write as _;

use bytes::BytesMut;
use dbos_storage_core::{Error, ErrorKind, Result, Value};
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type};

use crate::error::BACKEND;

/// One statement parameter, ready to send.
#[derive(Debug)]
pub(super) enum Param<'a> {
    /// NULL (any type).
    Null,
    /// `bool`.
    Bool(bool),
    /// `int2`.
    I16(i16),
    /// `int4`.
    I32(i32),
    /// `int8`.
    I64(i64),
    /// `float4`.
    F32(f32),
    /// `float8`.
    F64(f64),
    /// `bytea`.
    Bytes(&'a [u8]),
    /// Sent in the text format: the server reads it with the type's input function (text,
    /// varchar, json, jsonb, numeric, uuid, dates, enums, arrays in `{…}` form…).
    Text(Cow<'a, str>),
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Bool(v) => v.to_sql(ty, out),
            Param::I16(v) => v.to_sql(ty, out),
            Param::I32(v) => v.to_sql(ty, out),
            Param::I64(v) => v.to_sql(ty, out),
            Param::F32(v) => v.to_sql(ty, out),
            Param::F64(v) => v.to_sql(ty, out),
            Param::Bytes(v) => {
                out.extend_from_slice(v);
                Ok(IsNull::No)
            }
            Param::Text(v) => {
                out.extend_from_slice(v.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    /// Every type: [`to_param`] already chose the form that fits the parameter's type.
    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        match self {
            Param::Text(_) => Format::Text,
            _ => Format::Binary,
        }
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The base type of a domain (domains travel in their base type's format).
fn base_type(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(inner) => base_type(inner),
        _ => ty,
    }
}

/// Converts `value` to the form parameter `:name` of type `ty` takes.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] when the value cannot be that type: an integer out of range,
/// a fractional float for an integer, bytes for anything but `bytea`, text for `bytea`.
pub(super) fn to_param<'a>(value: &'a Value, ty: &Type, name: &str) -> Result<Param<'a>> {
    let base = base_type(ty);
    let refuse = |why: &str| {
        Error::invalid_input(format!(
            "cannot bind {} to parameter :{name}, which PostgreSQL reads as {}: {why}",
            describe(value),
            ty.name()
        ))
        .with_backend(BACKEND)
    };
    let int = |i: i64| -> Result<Param<'a>> {
        Ok(match *base {
            Type::INT2 => Param::I16(
                i16::try_from(i).map_err(|_| refuse("out of range for a 2-byte integer"))?,
            ),
            Type::INT4 => Param::I32(
                i32::try_from(i).map_err(|_| refuse("out of range for a 4-byte integer"))?,
            ),
            Type::INT8 => Param::I64(i),
            Type::FLOAT4 => Param::F32(i as f32),
            Type::FLOAT8 => Param::F64(i as f64),
            Type::BOOL => match i {
                0 => Param::Bool(false),
                1 => Param::Bool(true),
                _ => return Err(refuse("only 0 and 1 convert to a boolean")),
            },
            Type::BYTEA => return Err(refuse("bind bytes (Vec<u8>) to a bytea parameter")),
            _ => Param::Text(Cow::Owned(i.to_string())),
        })
    };
    match value {
        Value::Null => Ok(Param::Null),
        Value::Int(i) => int(*i),
        Value::Bool(b) => match *base {
            Type::BOOL => Ok(Param::Bool(*b)),
            Type::INT2 | Type::INT4 | Type::INT8 => int(i64::from(*b)),
            Type::BYTEA => Err(refuse("bind bytes (Vec<u8>) to a bytea parameter")),
            _ => Ok(Param::Text(Cow::Borrowed(if *b {
                "true"
            } else {
                "false"
            }))),
        },
        Value::Float(f) => match *base {
            Type::FLOAT4 => Ok(Param::F32(*f as f32)),
            Type::FLOAT8 => Ok(Param::F64(*f)),
            Type::INT2 | Type::INT4 | Type::INT8 => {
                // Whole numbers in i64's range (-2^63 is exact as a float, 2^63 is out).
                let min = i64::MIN as f64;
                if f.fract() == 0.0 && *f >= min && *f < -min {
                    int(*f as i64)
                } else {
                    Err(refuse("not a whole number in range of the integer type"))
                }
            }
            Type::BOOL => Err(refuse("a float does not convert to a boolean")),
            Type::BYTEA => Err(refuse("bind bytes (Vec<u8>) to a bytea parameter")),
            _ => Ok(Param::Text(Cow::Owned(float_text(*f)))),
        },
        Value::Text(s) => match *base {
            Type::BYTEA => Err(refuse("bind bytes (Vec<u8>) to a bytea parameter")),
            _ => Ok(Param::Text(Cow::Borrowed(s))),
        },
        Value::Bytes(b) => match *base {
            Type::BYTEA => Ok(Param::Bytes(b)),
            _ => Err(refuse("bytes bind only to bytea parameters")),
        },
    }
}

/// A float in PostgreSQL's text form (`NaN`, `Infinity` and `-Infinity` spelled its way).
fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        f.to_string()
    }
}

/// The kind of value, for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Int(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the float {f}"),
        Value::Text(_) => "text".to_owned(),
        Value::Bytes(b) => format!("{} bytes", b.len()),
    }
}

/// A column's raw bytes in the binary format, whatever its type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Reads column `index` (named `column`) of `row` as a [`Value`].
///
/// | PostgreSQL type | value |
/// |---|---|
/// | `bool` | `Bool` |
/// | `int2`, `int4`, `int8`, `oid` | `Int` |
/// | `float4`, `float8` | `Float` |
/// | `text`, `varchar`, `bpchar`, `name`, `"char"`, `citext`, `xml`, enums | `Text` |
/// | `json`, `jsonb` | `Text` (the JSON document) |
/// | `numeric` | `Text` (the exact decimal, `NaN`, `Infinity`) |
/// | `uuid` | `Text` (hyphenated) |
/// | `bytea` | `Bytes` |
/// | domains | as their base type |
///
/// # Errors
/// [`ErrorKind::Unsupported`] for any other type, naming the column, its type and a cast that
/// reads it; [`ErrorKind::Corrupt`] for bytes that do not decode.
pub(super) fn column_value(row: &tokio_postgres::Row, index: usize, column: &str) -> Result<Value> {
    let ty = row.columns()[index].type_();
    let raw: Option<Raw<'_>> = row
        .try_get(index)
        .map_err(|e| corrupt(column, ty, &e.to_string()))?;
    match raw {
        None => Ok(Value::Null),
        Some(Raw(bytes)) => decode(base_type(ty), bytes, column, ty),
    }
}

fn decode(base: &Type, raw: &[u8], column: &str, ty: &Type) -> Result<Value> {
    let bad = |e: Box<dyn StdError + Sync + Send>| corrupt(column, ty, &e.to_string());
    let text = |bytes: &[u8]| -> Result<Value> {
        std::str::from_utf8(bytes)
            .map(|s| Value::Text(s.to_owned()))
            .map_err(|e| corrupt(column, ty, &e.to_string()))
    };
    match *base {
        Type::BOOL => bool::from_sql(base, raw).map(Value::Bool).map_err(bad),
        Type::INT2 => i16::from_sql(base, raw)
            .map(|v| Value::Int(v.into()))
            .map_err(bad),
        Type::INT4 => i32::from_sql(base, raw)
            .map(|v| Value::Int(v.into()))
            .map_err(bad),
        Type::INT8 => i64::from_sql(base, raw).map(Value::Int).map_err(bad),
        Type::OID => u32::from_sql(base, raw)
            .map(|v| Value::Int(v.into()))
            .map_err(bad),
        Type::FLOAT4 => f32::from_sql(base, raw)
            .map(|v| Value::Float(v.into()))
            .map_err(bad),
        Type::FLOAT8 => f64::from_sql(base, raw).map(Value::Float).map_err(bad),
        Type::BYTEA => Ok(Value::Bytes(raw.to_vec())),
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::XML
        | Type::JSON => text(raw),
        Type::CHAR => Ok(Value::Text(
            raw.first()
                .map(|b| char::from(*b).to_string())
                .unwrap_or_default(),
        )),
        Type::JSONB => match raw.split_first() {
            Some((1, json)) => text(json),
            _ => Err(corrupt(column, ty, "unknown jsonb format version")),
        },
        Type::UUID => uuid::Uuid::from_slice(raw)
            .map(|u| Value::Text(u.hyphenated().to_string()))
            .map_err(|e| corrupt(column, ty, &e.to_string())),
        Type::NUMERIC => numeric_text(raw)
            .map(Value::Text)
            .ok_or_else(|| corrupt(column, ty, "malformed numeric")),
        _ if matches!(base.kind(), Kind::Enum(_)) || base.name() == "citext" => text(raw),
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "column {column:?} has type {}, which the neutral handle cannot read; cast it in \
                 the SQL (for example {column}::text) or use PostgresTransaction::client() for \
                 native types",
                ty.name()
            ),
        )
        .with_backend(BACKEND)),
    }
}

fn corrupt(column: &str, ty: &Type, why: &str) -> Error {
    Error::corrupt(format!(
        "column {column:?} of type {} cannot be decoded: {why}",
        ty.name()
    ))
    .with_backend(BACKEND)
}

/// The text of a `numeric` in PostgreSQL's binary format: a digit count, a weight (the power
/// of 10000 of the first digit), a sign, a display scale, then base-10000 digits.
fn numeric_text(raw: &[u8]) -> Option<String> {
    let word =
        |i: usize| -> Option<u16> { raw.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]])) };
    let count = usize::from(word(0)?);
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let scale = usize::from(word(6)?);
    let digits = (0..count)
        .map(|k| word(8 + 2 * k))
        .collect::<Option<Vec<u16>>>()?;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Some("NaN".to_owned()),
        0xD000 => return Some("Infinity".to_owned()),
        0xF000 => return Some("-Infinity".to_owned()),
        _ => return None,
    }
    // Digit `k` is worth 10000^(weight - k); positions outside the stored digits are zeros.
    let digit = |k: i32| -> u16 {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                let _ = write!(out, "{}", digit(k));
            } else {
                let _ = write!(out, "{:04}", digit(k));
            }
        }
    }
    if scale > 0 {
        let mut fraction = String::with_capacity(scale + 4);
        let mut k = weight + 1;
        while fraction.len() < scale {
            let _ = write!(fraction, "{:04}", digit(k));
            k += 1;
        }
        fraction.truncate(scale);
        out.push('.');
        out.push_str(&fraction);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A numeric in the binary format.
    fn numeric(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&scale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_read_as_exact_text() {
        let cases: &[(Vec<u8>, &str)] = &[
            (numeric(0, 0, 0, &[]), "0"),
            (numeric(0, 0, 2, &[]), "0.00"),
            (numeric(0, 0, 1, &[12, 5000]), "12.5"),
            (numeric(1, 0x4000, 4, &[1, 2345, 6789]), "-12345.6789"),
            (numeric(-2, 0, 5, &[1000]), "0.00001"),
            (numeric(2, 0, 0, &[1]), "100000000"),
            (numeric(0, 0, 3, &[7]), "7.000"),
            (numeric(0, 0xC000, 0, &[]), "NaN"),
            (numeric(0, 0xD000, 0, &[]), "Infinity"),
            (numeric(0, 0xF000, 0, &[]), "-Infinity"),
        ];
        for (raw, text) in cases {
            assert_eq!(numeric_text(raw).as_deref(), Some(*text));
        }
        assert_eq!(numeric_text(&[0, 1]), None);
        assert_eq!(numeric_text(&numeric(0, 0x1234, 0, &[])), None);
    }

    #[test]
    fn parameters_take_the_inferred_type() {
        let int = Value::Int(7);
        assert!(matches!(
            to_param(&int, &Type::INT4, "x"),
            Ok(Param::I32(7))
        ));
        assert!(matches!(
            to_param(&int, &Type::INT2, "x"),
            Ok(Param::I16(7))
        ));
        assert!(matches!(
            to_param(&int, &Type::INT8, "x"),
            Ok(Param::I64(7))
        ));
        assert!(matches!(
            to_param(&int, &Type::FLOAT8, "x"),
            Ok(Param::F64(_))
        ));
        assert!(matches!(to_param(&int, &Type::NUMERIC, "x"), Ok(Param::Text(t)) if t == "7"));
        assert!(matches!(to_param(&int, &Type::TEXT, "x"), Ok(Param::Text(t)) if t == "7"));

        let big = Value::Int(i64::from(i32::MAX) + 1);
        let e = to_param(&big, &Type::INT4, "big").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains(":big"), "{e}");
        assert!(e.message().contains("int4"), "{e}");

        assert!(matches!(
            to_param(&Value::Float(3.0), &Type::INT4, "x"),
            Ok(Param::I32(3))
        ));
        assert!(to_param(&Value::Float(3.5), &Type::INT4, "x").is_err());
        assert!(to_param(&Value::Float(f64::NAN), &Type::INT8, "x").is_err());
        assert!(matches!(
            to_param(&Value::Float(f64::INFINITY), &Type::NUMERIC, "x"),
            Ok(Param::Text(t)) if t == "Infinity"
        ));
        assert!(matches!(
            to_param(&Value::Bool(true), &Type::INT4, "x"),
            Ok(Param::I32(1))
        ));
        assert!(matches!(
            to_param(&Value::Int(0), &Type::BOOL, "x"),
            Ok(Param::Bool(false))
        ));
        assert!(to_param(&Value::Int(2), &Type::BOOL, "x").is_err());
        assert!(to_param(&Value::from("x"), &Type::BYTEA, "x").is_err());
        assert!(to_param(&Value::Bytes(vec![1]), &Type::TEXT, "x").is_err());
        assert!(matches!(
            to_param(&Value::Bytes(vec![1]), &Type::BYTEA, "x"),
            Ok(Param::Bytes(_))
        ));
        assert!(matches!(
            to_param(&Value::Null, &Type::BYTEA, "x"),
            Ok(Param::Null)
        ));
        assert!(matches!(
            to_param(&Value::from("{\"a\":1}"), &Type::JSONB, "x"),
            Ok(Param::Text(_))
        ));
    }
}
