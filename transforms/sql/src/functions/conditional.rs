//! Conditional functions: `coalesce`, `nvl`, `ifnull`, `nvl2`, `nullif`,
//! `if`, `isnull`, `isnotnull`, `greatest`, `least`.
//!
//! The branching ones evaluate their arguments lazily ([`Eval::Lazy`](crate::expr::Eval::Lazy)),
//! like Spark: an argument that is not needed is not evaluated, so it cannot
//! raise an ANSI error. Their result is cast to the arguments' common type
//! when the compiler knows it (`coalesce(amount, 0)` of a `DOUBLE` field
//! in a schema is `0.0`).

use std::cmp::Ordering;

use super::util::{boolean, common_type};
use super::{FunctionDef, Node};
use crate::cast::cast;
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::ops;
use crate::value::{DataType, Value};

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef::lazy(&["coalesce"], 1, None, |args| widest("coalesce", args), coalesce).casting_result(),
    FunctionDef::lazy(&["nvl", "ifnull"], 2, Some(2), |args| widest("nvl", args), coalesce).casting_result(),
    FunctionDef::lazy(&["nvl2"], 3, Some(3), |args| widest("nvl2", &args[1..]), nvl2).casting_result(),
    FunctionDef::lazy(&["nullif"], 2, Some(2), |args| Ok(args[0].clone()), nullif),
    FunctionDef::lazy(&["if", "iff"], 3, Some(3), if_type, if_).casting_result(),
    FunctionDef::lazy(&["isnull"], 1, Some(1), boolean, |args, ctx| Ok(Value::Boolean(args[0].eval(ctx)?.is_null()))),
    FunctionDef::lazy(&["isnotnull"], 1, Some(1), boolean, |args, ctx| {
        Ok(Value::Boolean(!args[0].eval(ctx)?.is_null()))
    }),
    FunctionDef::scalar(
        &["greatest"],
        2,
        None,
        |args| widest("greatest", args),
        |args, ctx| extreme(args, ctx, Ordering::Greater),
    )
    .null_tolerant(),
    FunctionDef::scalar(
        &["least"],
        2,
        None,
        |args| widest("least", args),
        |args, ctx| extreme(args, ctx, Ordering::Less),
    )
    .null_tolerant(),
];

/// The type every argument widens to, or an error naming the two that clash.
pub fn widest(function: &str, args: &[DataType]) -> Result<DataType, String> {
    let mut widest = DataType::Null;
    for arg in args {
        widest = common_type(&widest, arg)
            .ok_or_else(|| format!("{function}: arguments of types {widest} and {arg} have no common type"))?;
    }
    Ok(widest)
}

fn if_type(args: &[DataType]) -> Result<DataType, String> {
    if !matches!(args[0], DataType::Boolean | DataType::Any | DataType::Null) {
        return Err(format!("if: the condition is {}, not a BOOLEAN", args[0]));
    }
    widest("if", &args[1..])
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

/// `nvl2(a, b, c)`: `b` when `a` is not NULL, else `c`.
fn nvl2(args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    if args[0].eval(ctx)?.is_null() { args[2].eval(ctx) } else { args[1].eval(ctx) }
}

/// `nullif(a, b)`: NULL when `a = b`, else `a`.
fn nullif(args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let a = args[0].eval(ctx)?;
    let b = args[1].eval(ctx)?;
    Ok(if ops::compare(&a, &b, ctx.timezone())? == Some(Ordering::Equal) { Value::Null } else { a })
}

/// `if(cond, a, b)`: `a` when the condition is TRUE, else `b`.
fn if_(args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    if args[0].truth(ctx)? == Some(true) { args[1].eval(ctx) } else { args[2].eval(ctx) }
}

/// The greatest (`want` Greater) or least non-NULL argument, in the type
/// they all widen to; NULL when all are.
fn extreme(args: &[Value], ctx: &Ctx<'_>, want: Ordering) -> Result<Value, EvalError> {
    let mut to = DataType::Null;
    for arg in args.iter().filter(|a| !a.is_null()) {
        to = common_type(&to, &arg.data_type()).unwrap_or(DataType::Any);
    }
    let mut best: Option<Value> = None;
    for arg in args.iter().filter(|a| !a.is_null()) {
        let arg = cast(arg, &to, ctx.timezone())?;
        let better = match &best {
            None => true,
            Some(b) => ops::compare(&arg, b, ctx.timezone())? == Some(want),
        };
        if better {
            best = Some(arg);
        }
    }
    Ok(best.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::testing::eval;

    #[test]
    fn branches_and_null_tests() {
        assert_eq!(eval("coalesce(NULL, 2, 1 / 0)"), Ok(Value::Double(2.0)), "INT and DOUBLE widen to DOUBLE");
        assert_eq!(eval("nvl(NULL, 'x')"), Ok(Value::string("x")));
        assert_eq!(eval("ifnull('a', 'x')"), Ok(Value::string("a")));
        assert_eq!(eval("nvl2(NULL, 'has', 'none')"), Ok(Value::string("none")));
        assert_eq!(eval("nullif(1, 1)"), Ok(Value::Null));
        assert_eq!(eval("nullif(1, 2)"), Ok(Value::Int(1)));
        assert_eq!(eval("if(1 < 2, 'y', 1 / 0)"), Ok(Value::string("y")));
        assert_eq!(eval("if(NULL, 1, 2)"), Ok(Value::Int(2)));
        assert_eq!(eval("isnull(NULL)"), Ok(Value::Boolean(true)));
        assert_eq!(eval("isnotnull(NULL)"), Ok(Value::Boolean(false)));
    }

    #[test]
    fn results_take_the_common_type() {
        assert_eq!(eval("coalesce(NULL, 1, 2.5D)"), Ok(Value::Double(1.0)));
        assert_eq!(eval("if(true, 1, 2L)"), Ok(Value::Long(1)));
        assert_eq!(eval("greatest(1, 5, 2.5D)"), Ok(Value::Double(5.0)));
        assert_eq!(eval("least(3, NULL, 2)"), Ok(Value::Int(2)));
        assert_eq!(eval("greatest('b', 'a')"), Ok(Value::string("b")));
        assert_eq!(eval("greatest(NULL, NULL)"), Ok(Value::Null));
    }
}
