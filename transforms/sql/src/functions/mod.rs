//! The function library: every Spark SQL function `sql.wasm` knows, by name.
//!
//! The compiler looks a call's name up with [`lookup`] (case-insensitive,
//! aliases included), checks the argument count against
//! [`FunctionDef::min_args`] and [`FunctionDef::max_args`], and asks
//! [`FunctionDef::return_type`] for the result type given the argument
//! types; a `String` error there is shown to the operator at start-up with
//! the column of the call. At run time the evaluator calls
//! [`FunctionDef::eval`]:
//!
//! - [`Eval::Scalar`] gets its arguments evaluated. With
//!   [`FunctionDef::null_intolerant`] set, a NULL argument makes the result
//!   NULL without calling it (most Spark functions behave so).
//! - [`Eval::Lazy`] gets the compiled argument nodes and evaluates what it
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
//! group's table to [`GROUPS`].

mod conditional;
mod string;

use crate::ctx::Ctx;
use crate::error::EvalError;
#[allow(unused_imports)]
pub use crate::expr::{Lambda, Node};
use crate::value::{DataType, Value};

/// One SQL function.
#[derive(Debug)]
pub struct FunctionDef {
    /// The name and its aliases, lowercase: `&["lower", "lcase"]`.
    pub names: &'static [&'static str],
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments; `None` for any number.
    pub max_args: Option<usize>,
    /// NULL in any argument gives NULL without calling a scalar `eval`.
    pub null_intolerant: bool,
    /// The result type for these argument types, or why they do not fit
    /// (`"lower: argument 1 is an ARRAY<BIGINT>, not a string"`).
    pub return_type: fn(&[DataType]) -> Result<DataType, String>,
    /// How to compute it.
    pub eval: Eval,
}

/// How a function computes its value.
#[derive(Debug, Clone, Copy)]
pub enum Eval {
    /// From its evaluated arguments.
    Scalar(fn(&[Value], &Ctx<'_>) -> Result<Value, EvalError>),
    /// From its argument nodes, evaluating only what it needs.
    Lazy(fn(&[Node], &Ctx<'_>) -> Result<Value, EvalError>),
}

/// Every group's table.
const GROUPS: &[&[FunctionDef]] = &[string::FUNCTIONS, conditional::FUNCTIONS];

/// The function called `name` (any case), if there is one.
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    GROUPS.iter().flat_map(|group| group.iter()).find(|f| f.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
}

/// The function's first name, for messages.
impl FunctionDef {
    /// The name messages use.
    pub fn name(&self) -> &'static str {
        self.names[0]
    }
}

/// Shared helpers for writing functions.
pub mod util {
    use crate::value::DataType;

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
