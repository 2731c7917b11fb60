//! The function library: every Spark SQL function `sql.wasm` knows, by name.
//! What a function is ([`FunctionDef`]) is a compiled expression's type, in
//! `crate::expr`, beside the [`Node`] that calls it.
//!
//! The compiler looks a call's name up with [`lookup`] (case-insensitive,
//! aliases included), checks the argument count against
//! [`FunctionDef::min_args`] and [`FunctionDef::max_args`], and asks
//! [`FunctionDef::return_type`] for the result type given the argument
//! types; a `String` error there is shown to the operator at start-up with
//! the column of the call. At run time the evaluator calls
//! [`FunctionDef::eval`]:
//!
//! - [`Eval::Scalar`](crate::expr::Eval::Scalar) gets its arguments evaluated. With
//!   [`FunctionDef::null_intolerant`] set, a NULL argument makes the result
//!   NULL without calling it (most Spark functions behave so).
//! - [`Eval::Lazy`](crate::expr::Eval::Lazy) gets the compiled argument nodes and evaluates what it
//!   needs: conditionals (`coalesce`, `if`) that must not raise an ANSI
//!   error from a branch they do not take, and the functions that take a
//!   lambda (`exists(xs, x -> x > 1)`): [`Node::as_lambda`] gives the
//!   compiled lambda, [`Lambda::call`] runs it on values.
//!
//! Argument types given to `return_type` may be [`DataType::Any`] (a field
//! without a schema) or [`DataType::Null`] (the `NULL` literal): accept
//! them wherever a concrete type would be accepted. A lambda argument's
//! type is its body's.
//!
//! Functions are grouped by Spark's own groups, one module each; add a
//! group's table to [`GROUPS`]. `struct`, `named_struct` and `to_json` are
//! built by the compiler itself (they need member names and `struct(*)`),
//! and `substring(x FROM a FOR b)`, `trim(BOTH c FROM x)`, `position(a IN
//! b)`, `extract(YEAR FROM d)`, `ceil`/`floor` syntax are compiled into
//! calls of `substring`, `trim`/`ltrim`/`rtrim`, `locate`, `year` (etc.),
//! `ceil` and `floor` from this library. Casting helpers: `crate::cast`
//! (`cast`, `to_f64`, `to_boolean`, `parse_date`, `parse_timestamp`,
//! `date_of`, `days_of`); comparison and arithmetic: `crate::ops`.

mod array;
mod conditional;
mod datetime;
mod format;
mod hash;
mod json;
mod math;
mod string;

pub use crate::expr::{FunctionDef, Lambda, Node};

/// Every group's table.
const GROUPS: &[&[FunctionDef]] = &[
    conditional::FUNCTIONS,
    string::FUNCTIONS,
    hash::FUNCTIONS,
    math::FUNCTIONS,
    datetime::FUNCTIONS,
    array::FUNCTIONS,
    json::FUNCTIONS,
];

/// The function called `name` (any case), if there is one.
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    GROUPS.iter().flat_map(|group| group.iter()).find(|f| f.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

/// Shared helpers for writing functions.
pub mod util {
    use std::rc::Rc;

    use crate::cast::{self, cast};
    use crate::ctx::Ctx;
    use crate::error::EvalError;
    use crate::value::{DataType, Value};

    /// Always a `STRING`.
    pub fn string(_: &[DataType]) -> Result<DataType, String> {
        Ok(DataType::String)
    }

    /// Always a `BOOLEAN`.
    pub fn boolean(_: &[DataType]) -> Result<DataType, String> {
        Ok(DataType::Boolean)
    }

    /// Always an `INT`.
    pub fn int(_: &[DataType]) -> Result<DataType, String> {
        Ok(DataType::Int)
    }

    /// Always a `BIGINT`.
    pub fn long(_: &[DataType]) -> Result<DataType, String> {
        Ok(DataType::Long)
    }

    /// Always a `DOUBLE`.
    pub fn double(_: &[DataType]) -> Result<DataType, String> {
        Ok(DataType::Double)
    }

    /// The first argument's type.
    pub fn first(args: &[DataType]) -> Result<DataType, String> {
        Ok(args.first().cloned().unwrap_or(DataType::Any))
    }

    /// A non-NULL argument's text, cast to a string as Spark's implicit casts do.
    pub fn text(value: &Value, ctx: &Ctx<'_>) -> Rc<str> {
        cast::text_of(value, ctx.timezone()).unwrap_or_else(|| Rc::from(""))
    }

    /// A non-NULL argument as a `BIGINT` (an ANSI error when it is not one).
    pub fn long_arg(value: &Value, ctx: &Ctx<'_>) -> Result<i64, EvalError> {
        Ok(cast(value, &DataType::Long, ctx.timezone())?.as_i64().unwrap_or_default())
    }

    /// A non-NULL argument as an `INT` (an ANSI error when it is not one).
    pub fn int_arg(value: &Value, ctx: &Ctx<'_>) -> Result<i32, EvalError> {
        Ok(cast(value, &DataType::Int, ctx.timezone())?.as_i64().unwrap_or_default() as i32)
    }

    /// A non-NULL argument as a `DOUBLE`.
    pub fn f64_arg(value: &Value, ctx: &Ctx<'_>) -> Result<f64, EvalError> {
        match cast(value, &DataType::Double, ctx.timezone())? {
            Value::Double(x) => Ok(x),
            _ => Ok(f64::NAN),
        }
    }

    /// A non-NULL argument's bytes: binary as it is, anything else as its text's UTF-8.
    pub fn bytes(value: &Value, ctx: &Ctx<'_>) -> Rc<[u8]> {
        match value {
            Value::Binary(b) => Rc::clone(b),
            other => Rc::from(text(other, ctx).as_bytes()),
        }
    }

    /// `Ok(String)` when `arg` may be a string, else the standard message.
    pub fn string_arg(function: &str, position: usize, arg: &DataType) -> Result<(), String> {
        match arg {
            DataType::Array(_) | DataType::Struct(_) | DataType::Map(..) => {
                Err(format!("{function}: argument {position} is {arg}, not a string"))
            }
            _ => Ok(()),
        }
    }

    /// The type both `a` and `b` widen to, as Spark finds it for `coalesce`,
    /// `CASE` branches and comparisons; `None` when they have none.
    pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
        crate::coerce::common_type(a, b)
    }
}

/// Evaluating expressions without a record, for the groups' tests.
#[cfg(test)]
pub mod testing {
    use crate::compile::{Scope, compile};
    use crate::ctx::{Ctx, Session};
    use crate::error::EvalError;
    use crate::value::Value;
    use crate::value::render::to_text;
    use crate::zone::TimeZone;

    /// `src` compiled and evaluated in a UTC session.
    pub fn eval(src: &str) -> Result<Value, EvalError> {
        eval_in(src, &Session::default())
    }

    /// `src` compiled (it must compile) and evaluated in `session`.
    pub fn eval_in(src: &str, session: &Session) -> Result<Value, EvalError> {
        let compiled = compile(src, &Scope { session, schema: None }).unwrap_or_else(|e| panic!("{src}: {e}"));
        compiled.node.eval(&Ctx::without_record(session))
    }

    /// `src`'s value as Spark casts it to a string (`NULL` for NULL); panics on an error.
    pub fn text(src: &str) -> String {
        let value = eval(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        to_text(&value, &TimeZone::utc()).unwrap_or_else(|| "NULL".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_functions_by_any_name_in_any_case() {
        assert_eq!(lookup("LOWER").map(FunctionDef::name), Some("lower"));
        assert_eq!(lookup("lcase").map(FunctionDef::name), Some("lower"));
        assert!(lookup("no_such_function").is_none());
    }

    #[test]
    fn every_name_is_lowercase_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in GROUPS.iter().flat_map(|g| g.iter()) {
            for name in f.names {
                assert_eq!(*name, name.to_lowercase());
                assert!(seen.insert(*name), "{name} defined twice");
            }
        }
    }
}
