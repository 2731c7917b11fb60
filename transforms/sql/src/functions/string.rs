//! String functions: `lower`, `upper`, ...
//!
//! Arguments that are not strings are cast to one first, as Spark's
//! implicit casts do (`lower(42)` is `'42'`).

use super::util::string_arg;
use super::{Eval, FunctionDef};
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::value::{DataType, Value};

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef {
        names: &["lower", "lcase"],
        min_args: 1,
        max_args: Some(1),
        null_intolerant: true,
        return_type: |args| string_arg("lower", 1, &args[0]).map(|()| DataType::String),
        eval: Eval::Scalar(lower),
    },
    FunctionDef {
        names: &["upper", "ucase"],
        min_args: 1,
        max_args: Some(1),
        null_intolerant: true,
        return_type: |args| string_arg("upper", 1, &args[0]).map(|()| DataType::String),
        eval: Eval::Scalar(upper),
    },
];

/// The text of a non-NULL argument, cast to a string the way Spark does.
pub fn text(value: &Value, ctx: &Ctx<'_>) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => other.to_text_in(ctx.timezone()).unwrap_or_default(),
    }
}

fn lower(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::string(text(&args[0], ctx).to_lowercase()))
}

fn upper(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::string(text(&args[0], ctx).to_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::Session;

    #[test]
    fn lower_and_upper_cast_their_argument() {
        let session = Session::default();
        let ctx = Ctx::without_record(&session);
        assert_eq!(lower(&[Value::string("AbC")], &ctx), Ok(Value::string("abc")));
        assert_eq!(upper(&[Value::Long(42)], &ctx), Ok(Value::string("42")));
        assert_eq!(upper(&[Value::Double(1e20)], &ctx), Ok(Value::string("1.0E20")));
    }
}
