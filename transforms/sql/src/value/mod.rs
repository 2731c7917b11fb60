//! Values as Spark SQL types them, and the types themselves.
//!
//! A [`Value`] is what an expression node evaluates to: one variant per
//! Spark data type, owned and cheap to clone (strings and nested values are
//! reference-counted). [`DataType`] is what the compiler knows about a
//! node's value before any record is read; a field read from a record with
//! no `schema` is [`DataType::Any`] until a record shows what it holds, the
//! way Spark's JSON reader infers it (a JSON integer is a `Long` when it
//! fits, any other JSON number a `Double`).
//!
//! `render` turns a value into text the way Spark's `CAST(x AS STRING)`
//! does (`1.0E20`, `11114.0`, `2024-01-31 10:00:00`).

pub mod render;

use std::fmt;
use std::rc::Rc;

/// The members of a struct value, in order: name and value.
pub type Fields = Rc<[(Rc<str>, Value)]>;

/// One value, typed as Spark types it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// SQL NULL: JSON `null`, a missing field, or an unknown result.
    #[default]
    Null,
    /// `BOOLEAN`.
    Boolean(bool),
    /// `TINYINT`.
    Byte(i8),
    /// `SMALLINT`.
    Short(i16),
    /// `INT`.
    Int(i32),
    /// `BIGINT`: a JSON integer without a schema.
    Long(i64),
    /// `FLOAT`.
    Float(f32),
    /// `DOUBLE`: a JSON number with a fraction or exponent without a schema.
    Double(f64),
    /// `DECIMAL(p, s)`.
    Decimal(Decimal),
    /// `STRING`.
    String(Rc<str>),
    /// `BINARY`.
    Binary(Rc<[u8]>),
    /// `DATE`: days since 1970-01-01.
    Date(i32),
    /// `TIMESTAMP`: microseconds since 1970-01-01 00:00:00 UTC.
    Timestamp(i64),
    /// `ARRAY<T>`.
    Array(Rc<[Value]>),
    /// `STRUCT<...>`.
    Struct(Fields),
    /// `MAP<K, V>`: entries in insertion order.
    Map(Rc<[(Value, Value)]>),
    /// `INTERVAL`: months, days and microseconds, like Spark's calendar interval.
    Interval(Interval),
}

/// A decimal number: `unscaled * 10^-scale`, with at most `precision` digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The digits as an integer.
    pub unscaled: i128,
    /// Total digits allowed, 1 to 38.
    pub precision: u8,
    /// Digits after the point, 0 to `precision`.
    pub scale: u8,
}

/// Spark's largest decimal precision.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// An interval: Spark's `YEAR TO MONTH` intervals use `months`, `DAY TO
/// SECOND` ones `days` and `micros`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    /// Whole months.
    pub months: i32,
    /// Whole days.
    pub days: i32,
    /// Microseconds.
    pub micros: i64,
}

/// A Spark data type, as the compiler infers it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataType {
    /// Not known before a record is read (a field without a schema).
    Any,
    /// The type of the `NULL` literal.
    Null,
    Boolean,
    Byte,
    Short,
    Int,
    Long,
    Float,
    Double,
    /// `DECIMAL(precision, scale)`.
    Decimal(u8, u8),
    String,
    Binary,
    Date,
    Timestamp,
    /// `ARRAY<element>`.
    Array(Box<DataType>),
    /// `STRUCT<name: type, ...>`.
    Struct(Vec<StructField>),
    /// `MAP<key, value>`.
    Map(Box<DataType>, Box<DataType>),
    /// An interval.
    Interval,
}

/// One member of a struct type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StructField {
    /// The member's name as written.
    pub name: String,
    /// Its type.
    pub data_type: DataType,
}

impl Value {
    /// A string value.
    pub fn string(text: impl Into<Rc<str>>) -> Value {
        Value::String(text.into())
    }

    /// A three-valued truth as a value: `None` is NULL.
    pub fn from_truth(truth: Option<bool>) -> Value {
        truth.map_or(Value::Null, Value::Boolean)
    }

    /// Whether this is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string inside a `String` value, else `None`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value's integer when it is one of the integral types.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Byte(v) => Some(v.into()),
            Value::Short(v) => Some(v.into()),
            Value::Int(v) => Some(v.into()),
            Value::Long(v) => Some(v),
            _ => None,
        }
    }

    /// The type of this value as it stands (`Any` for nothing more precise:
    /// an empty array's element, a NULL).
    pub fn data_type(&self) -> DataType {
        match self {
            Value::Null => DataType::Null,
            Value::Boolean(_) => DataType::Boolean,
            Value::Byte(_) => DataType::Byte,
            Value::Short(_) => DataType::Short,
            Value::Int(_) => DataType::Int,
            Value::Long(_) => DataType::Long,
            Value::Float(_) => DataType::Float,
            Value::Double(_) => DataType::Double,
            Value::Decimal(d) => DataType::Decimal(d.precision, d.scale),
            Value::String(_) => DataType::String,
            Value::Binary(_) => DataType::Binary,
            Value::Date(_) => DataType::Date,
            Value::Timestamp(_) => DataType::Timestamp,
            Value::Array(items) => {
                DataType::Array(Box::new(items.iter().find(|v| !v.is_null()).map_or(DataType::Any, Value::data_type)))
            }
            Value::Struct(fields) => DataType::Struct(
                fields.iter().map(|(n, v)| StructField { name: n.to_string(), data_type: v.data_type() }).collect(),
            ),
            Value::Map(_) => DataType::Map(Box::new(DataType::Any), Box::new(DataType::Any)),
            Value::Interval(_) => DataType::Interval,
        }
    }
}

impl Decimal {
    /// The decimal as a double (rounded).
    pub fn to_f64(self) -> f64 {
        self.unscaled as f64 / 10f64.powi(self.scale.into())
    }
}

impl DataType {
    /// Whether values of this type are numbers.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            DataType::Byte
                | DataType::Short
                | DataType::Int
                | DataType::Long
                | DataType::Float
                | DataType::Double
                | DataType::Decimal(..)
        )
    }
}

impl fmt::Display for DataType {
    /// Spark's name for the type in messages: `INT`, `ARRAY<STRING>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Any => f.write_str("ANY"),
            DataType::Null => f.write_str("VOID"),
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::Byte => f.write_str("TINYINT"),
            DataType::Short => f.write_str("SMALLINT"),
            DataType::Int => f.write_str("INT"),
            DataType::Long => f.write_str("BIGINT"),
            DataType::Float => f.write_str("FLOAT"),
            DataType::Double => f.write_str("DOUBLE"),
            DataType::Decimal(p, s) => write!(f, "DECIMAL({p},{s})"),
            DataType::String => f.write_str("STRING"),
            DataType::Binary => f.write_str("BINARY"),
            DataType::Date => f.write_str("DATE"),
            DataType::Timestamp => f.write_str("TIMESTAMP"),
            DataType::Array(e) => write!(f, "ARRAY<{e}>"),
            DataType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, field) in fields.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    write!(f, "{sep}{}: {}", field.name, field.data_type)?;
                }
                f.write_str(">")
            }
            DataType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            DataType::Interval => f.write_str("INTERVAL"),
        }
    }
}
