//! Conditional functions: `coalesce`, ...
//!
//! These evaluate their arguments lazily ([`Eval::Lazy`]), like Spark: an
//! argument that is not needed is not evaluated, so it cannot raise an
//! ANSI error.

use super::util::common_type;
use super::{Eval, FunctionDef, Node};
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::value::{DataType, Value};

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[FunctionDef {
    names: &["coalesce"],
    min_args: 1,
    max_args: None,
    null_intolerant: false,
    return_type: |args| widest("coalesce", args),
    eval: Eval::Lazy(coalesce),
}];

/// The type every argument widens to, or an error naming the two that clash.
pub fn widest(function: &str, args: &[DataType]) -> Result<DataType, String> {
    let mut widest = DataType::Null;
    for arg in args {
        widest = common_type(&widest, arg)
            .ok_or_else(|| format!("{function}: arguments of types {widest} and {arg} have no common type"))?;
    }
    Ok(widest)
}

/// The first argument that is not NULL.
fn coalesce(args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    for arg in args {
        let value = arg.eval(ctx)?;
        if !value.is_null() {
            return Ok(value);
        }
    }
    Ok(Value::Null)
}
