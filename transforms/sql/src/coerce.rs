//! Spark's type coercion: the common type of two types, and the implicit
//! casts applied to operands.

use crate::value::DataType;

/// The type `a` and `b` both widen to, as Spark's `findWiderTypeForTwo`
/// finds it; `None` when there is none (a struct and a number).
pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType as T;
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (T::Null, other) | (other, T::Null) => Some(other.clone()),
        (T::Any, _) | (_, T::Any) => Some(T::Any),
        (x, y) if x.is_numeric() && y.is_numeric() => Some(wider_numeric(x, y)),
        (T::String, x) | (x, T::String) if !matches!(x, T::Array(_) | T::Struct(_) | T::Map(..)) => Some(T::String),
        (T::Date, T::Timestamp) | (T::Timestamp, T::Date) => Some(T::Timestamp),
        (T::Array(x), T::Array(y)) => common_type(x, y).map(|e| T::Array(Box::new(e))),
        _ => None,
    }
}

/// The wider of two numeric types.
fn wider_numeric(a: &DataType, b: &DataType) -> DataType {
    use DataType as T;
    let rank = |t: &DataType| match t {
        T::Byte => 1,
        T::Short => 2,
        T::Int => 3,
        T::Long => 4,
        T::Decimal(..) => 5,
        T::Float => 6,
        _ => 7,
    };
    match (a, b) {
        (T::Decimal(p1, s1), T::Decimal(p2, s2)) => {
            let scale = (*s1).max(*s2);
            let whole = (p1 - s1).max(p2 - s2);
            T::Decimal((whole + scale).min(38), scale)
        }
        (T::Decimal(p, s), int) | (int, T::Decimal(p, s)) if rank(int) <= 4 => {
            wider_numeric(&T::Decimal(*p, *s), &integral_decimal(int))
        }
        (T::Decimal(..), _) | (_, T::Decimal(..)) => T::Double,
        _ if rank(a) >= rank(b) => a.clone(),
        _ => b.clone(),
    }
}

/// The decimal an integral type fits in exactly (`INT` is `DECIMAL(10,0)`).
pub fn integral_decimal(t: &DataType) -> DataType {
    match t {
        DataType::Byte => DataType::Decimal(3, 0),
        DataType::Short => DataType::Decimal(5, 0),
        DataType::Int => DataType::Decimal(10, 0),
        _ => DataType::Decimal(20, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType as T;

    #[test]
    fn widens_like_spark() {
        assert_eq!(common_type(&T::Int, &T::Long), Some(T::Long));
        assert_eq!(common_type(&T::Null, &T::String), Some(T::String));
        assert_eq!(common_type(&T::Decimal(5, 2), &T::Int), Some(T::Decimal(12, 2)));
        assert_eq!(common_type(&T::Decimal(5, 2), &T::Double), Some(T::Double));
        assert_eq!(common_type(&T::Long, &T::String), Some(T::String));
        assert_eq!(common_type(&T::Array(Box::new(T::Int)), &T::Long), None);
    }
}
