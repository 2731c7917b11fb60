//! Collection functions: `array`, `size`/`cardinality`, `array_contains`,
//! `element_at`, `array_max`, `array_min`, `array_join`, `array_distinct`,
//! `array_position`, `slice`, `sort_array`, and the higher-order ones
//! taking a lambda: `exists`, `forall`, `filter`, `transform`, `aggregate`.
//!
//! As in Spark with ANSI on: `size(NULL)` is NULL, `element_at` counts
//! from 1 (from the end when negative) and an index past either end is
//! `[INVALID_ARRAY_INDEX_IN_ELEMENT_AT]`; `exists`, `forall` and
//! `array_contains` are three-valued (no match but a NULL element is NULL).

use std::cmp::Ordering;

use super::util::{boolean, first, int, long_arg, text};
use super::{FunctionDef, Lambda, Node};
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::ops;
use crate::value::{DataType, Value};

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef::scalar(&["array"], 0, None, array_type, |a, _| Ok(Value::Array(a.to_vec().into()))).null_tolerant(),
    FunctionDef::scalar(&["size", "cardinality"], 1, Some(1), int, size),
    FunctionDef::scalar(&["array_contains"], 2, Some(2), boolean, array_contains),
    FunctionDef::scalar(&["element_at"], 2, Some(2), element_type, element_at),
    FunctionDef::scalar(&["array_max"], 1, Some(1), element_type, |a, c| extreme(&a[0], c, Ordering::Greater)),
    FunctionDef::scalar(&["array_min"], 1, Some(1), element_type, |a, c| extreme(&a[0], c, Ordering::Less)),
    FunctionDef::scalar(&["array_join"], 2, Some(3), super::util::string, array_join),
    FunctionDef::scalar(&["array_distinct"], 1, Some(1), first, array_distinct),
    FunctionDef::scalar(&["array_position"], 2, Some(2), super::util::long, array_position),
    FunctionDef::scalar(&["slice"], 3, Some(3), first, slice),
    FunctionDef::scalar(&["sort_array"], 1, Some(2), first, sort_array),
    FunctionDef::lazy(&["exists", "any"], 2, Some(2), boolean, |a, c| quantifier(a, c, true)),
    FunctionDef::lazy(&["forall", "every"], 2, Some(2), boolean, |a, c| quantifier(a, c, false)),
    FunctionDef::lazy(&["filter"], 2, Some(2), first, filter),
    FunctionDef::lazy(&["transform"], 2, Some(2), |a| Ok(DataType::Array(Box::new(a[1].clone()))), transform),
    FunctionDef::lazy(&["aggregate", "reduce"], 3, Some(4), |a| Ok(a.get(3).unwrap_or(&a[1]).clone()), aggregate),
];

fn array_type(args: &[DataType]) -> Result<DataType, String> {
    let element = super::conditional::widest("array", args)?;
    Ok(DataType::Array(Box::new(if element == DataType::Null { DataType::Any } else { element })))
}

fn element_type(args: &[DataType]) -> Result<DataType, String> {
    match &args[0] {
        DataType::Array(element) => Ok((**element).clone()),
        DataType::Map(_, value) => Ok((**value).clone()),
        DataType::Any | DataType::Null => Ok(DataType::Any),
        other => Err(format!("argument 1 is {other}, not an array")),
    }
}

fn not_array(value: &Value) -> EvalError {
    EvalError::Type {
        what: "the argument".to_owned(),
        found: value.data_type().to_string(),
        expected: "an array".to_owned(),
    }
}

/// The items of an array argument.
fn items(value: &Value) -> Result<&[Value], EvalError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(not_array(other)),
    }
}

fn equal(a: &Value, b: &Value, ctx: &Ctx<'_>) -> Result<bool, EvalError> {
    Ok(ops::compare(a, b, ctx.timezone())? == Some(Ordering::Equal))
}

fn size(args: &[Value], _: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(Value::Int(match &args[0] {
        Value::Array(items) => items.len() as i32,
        Value::Map(entries) => entries.len() as i32,
        other => return Err(not_array(other)),
    }))
}

fn array_contains(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let mut unknown = false;
    for item in items(&args[0])? {
        if item.is_null() {
            unknown = true;
        } else if equal(item, &args[1], ctx)? {
            return Ok(Value::Boolean(true));
        }
    }
    Ok(if unknown { Value::Null } else { Value::Boolean(false) })
}

fn element_at(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    if let Value::Map(entries) = &args[0] {
        for (k, v) in entries.iter() {
            if equal(k, &args[1], ctx)? {
                return Ok(v.clone());
            }
        }
        return Ok(Value::Null);
    }
    let items = items(&args[0])?;
    let index = long_arg(&args[1], ctx)?;
    let at = match index {
        0 => {
            return Err(EvalError::function(
                "[INVALID_INDEX_OF_ZERO] element_at: the index 0 is invalid; arrays count from 1",
            ));
        }
        i if i > 0 => usize::try_from(i - 1).ok(),
        i => usize::try_from(items.len() as i64 + i).ok(),
    };
    at.and_then(|i| items.get(i)).cloned().ok_or_else(|| {
        EvalError::function(format!(
            "[INVALID_ARRAY_INDEX_IN_ELEMENT_AT] the index {index} is out of bounds; the array has {} elements",
            items.len()
        ))
    })
}

fn extreme(value: &Value, ctx: &Ctx<'_>, want: Ordering) -> Result<Value, EvalError> {
    let mut best: Option<&Value> = None;
    for item in items(value)?.iter().filter(|v| !v.is_null()) {
        if best.is_none_or(|b| ops::compare(item, b, ctx.timezone()).ok().flatten() == Some(want)) {
            best = Some(item);
        }
    }
    Ok(best.cloned().unwrap_or_default())
}

fn array_join(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let delimiter = text(&args[1], ctx);
    let replacement = args.get(2).map(|r| text(r, ctx));
    let parts: Vec<std::rc::Rc<str>> = items(&args[0])?
        .iter()
        .filter_map(|v| if v.is_null() { replacement.clone() } else { Some(text(v, ctx)) })
        .collect();
    Ok(Value::string(parts.iter().map(|p| &**p).collect::<Vec<_>>().join(&delimiter)))
}

fn array_distinct(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let mut out: Vec<Value> = Vec::new();
    for item in items(&args[0])? {
        let mut seen = false;
        for kept in &out {
            seen |= match (kept.is_null(), item.is_null()) {
                (true, true) => true,
                (false, false) => equal(kept, item, ctx)?,
                _ => false,
            };
        }
        if !seen {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out.into()))
}

fn array_position(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    for (i, item) in items(&args[0])?.iter().enumerate() {
        if !item.is_null() && equal(item, &args[1], ctx)? {
            return Ok(Value::Long(i as i64 + 1));
        }
    }
    Ok(Value::Long(0))
}

/// `slice(xs, start, length)`: from the 1-based `start` (negative: from the end).
fn slice(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let items = items(&args[0])?;
    let (start, length) = (long_arg(&args[1], ctx)?, long_arg(&args[2], ctx)?);
    if start == 0 || length < 0 {
        return Err(EvalError::function(format!(
            "[INVALID_PARAMETER_VALUE] slice: the start must not be 0 and the length not negative, not {start} and {length}"
        )));
    }
    let from = if start > 0 { start - 1 } else { items.len() as i64 + start };
    if from < 0 || from as usize >= items.len() {
        return Ok(Value::Array(Vec::new().into()));
    }
    let to = (from + length).min(items.len() as i64) as usize;
    Ok(Value::Array(items[from as usize..to].to_vec().into()))
}

/// `sort_array(xs[, ascending])`: NULLs first ascending, last descending.
fn sort_array(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let ascending = !matches!(args.get(1), Some(Value::Boolean(false)));
    let mut out = items(&args[0])?.to_vec();
    out.sort_by(|a, b| match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => ops::compare(a, b, ctx.timezone()).ok().flatten().unwrap_or(Ordering::Equal),
    });
    if !ascending {
        out.reverse();
    }
    Ok(Value::Array(out.into()))
}

/// The array and the lambda of a higher-order call; NULL array: `None`.
fn array_and_lambda<'n>(
    args: &'n [Node],
    at: usize,
    ctx: &Ctx<'_>,
) -> Result<Option<(Vec<Value>, &'n Lambda)>, EvalError> {
    let lambda = args[at]
        .as_lambda()
        .ok_or_else(|| EvalError::function(format!("argument {} must be a lambda such as x -> x > 0", at + 1)))?;
    match args[0].eval(ctx)? {
        Value::Null => Ok(None),
        Value::Array(items) => Ok(Some((items.to_vec(), lambda))),
        other => Err(not_array(&other)),
    }
}

/// Calls `lambda` on an element and, if it takes two parameters, its index.
fn call(lambda: &Lambda, item: &Value, index: usize, ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    if lambda.arity() >= 2 {
        lambda.call(&[item.clone(), Value::Int(index as i32)], ctx)
    } else {
        lambda.call(std::slice::from_ref(item), ctx)
    }
}

fn truth(value: Value) -> Result<Option<bool>, EvalError> {
    match value {
        Value::Null => Ok(None),
        Value::Boolean(b) => Ok(Some(b)),
        other => Err(EvalError::Type {
            what: "the lambda".to_owned(),
            found: other.data_type().to_string(),
            expected: "a boolean".to_owned(),
        }),
    }
}

/// `exists` (`any` true) and `forall` (`any` false): the first element
/// whose predicate is `any` decides; else NULL if one was NULL.
fn quantifier(args: &[Node], ctx: &Ctx<'_>, any: bool) -> Result<Value, EvalError> {
    let Some((items, lambda)) = array_and_lambda(args, 1, ctx)? else { return Ok(Value::Null) };
    let mut unknown = false;
    for (i, item) in items.iter().enumerate() {
        match truth(call(lambda, item, i, ctx)?)? {
            Some(b) if b == any => return Ok(Value::Boolean(any)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    Ok(if unknown { Value::Null } else { Value::Boolean(!any) })
}

fn filter(args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let Some((items, lambda)) = array_and_lambda(args, 1, ctx)? else { return Ok(Value::Null) };
    let mut kept = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        if truth(call(lambda, &item, i, ctx)?)? == Some(true) {
            kept.push(item);
        }
    }
    Ok(Value::Array(kept.into()))
}

fn transform(args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let Some((items, lambda)) = array_and_lambda(args, 1, ctx)? else { return Ok(Value::Null) };
    let out = items.iter().enumerate().map(|(i, item)| call(lambda, item, i, ctx)).collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(out.into()))
}

/// `aggregate(xs, zero, (acc, x) -> ...[, acc -> ...])`.
fn aggregate(args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let Some((items, merge)) = array_and_lambda(args, 2, ctx)? else { return Ok(Value::Null) };
    let mut acc = args[1].eval(ctx)?;
    for item in &items {
        acc = merge.call(&[acc, item.clone()], ctx)?;
    }
    match args.get(3) {
        None => Ok(acc),
        Some(node) => {
            let finish =
                node.as_lambda().ok_or_else(|| EvalError::function("aggregate: argument 4 must be a lambda"))?;
            finish.call(&[acc], ctx)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::functions::testing::{eval, text};
    use crate::value::Value;

    #[test]
    fn sizes_and_lookups() {
        assert_eq!(text("size(array(1, 2, 3))"), "3");
        assert_eq!(text("cardinality(array())"), "0");
        assert_eq!(text("size(NULL)"), "NULL");
        assert_eq!(eval("array_contains(array('a', 'b'), 'b')"), Ok(Value::Boolean(true)));
        assert_eq!(eval("array_contains(array(1, NULL), 2)"), Ok(Value::Null));
        assert_eq!(eval("array_contains(array(1, 3), 2)"), Ok(Value::Boolean(false)));
        assert_eq!(text("element_at(array('a', 'b', 'c'), 1)"), "a");
        assert_eq!(text("element_at(array('a', 'b', 'c'), -1)"), "c");
        assert!(eval("element_at(array('a'), 5)").is_err());
        assert!(eval("element_at(array('a'), 0)").is_err());
        assert_eq!(text("array_position(array(3, 1), 1)"), "2");
    }

    #[test]
    fn reduces_and_joins() {
        assert_eq!(text("concat(array_max(array(3, 1, NULL, 2)), '/', array_min(array(3, 1, 2)))"), "3/1");
        assert_eq!(text("array_max(array())"), "NULL");
        assert_eq!(text("array_join(array('x', NULL, 'y'), '+')"), "x+y");
        assert_eq!(text("array_join(array('x', NULL, 'y'), '+', '?')"), "x+?+y");
        assert_eq!(text("array_distinct(array(1, 1, NULL, 2, NULL, 2))"), "[1, null, 2]");
        assert_eq!(text("slice(array(1, 2, 3, 4), -3, 2)"), "[2, 3]");
        assert_eq!(text("sort_array(array(3, NULL, 1), false)"), "[3, 1, null]");
    }

    #[test]
    fn higher_order_functions() {
        assert_eq!(eval("exists(array(1, 2), x -> x > 1)"), Ok(Value::Boolean(true)));
        assert_eq!(eval("exists(array(1, NULL), x -> x > 1)"), Ok(Value::Null));
        assert_eq!(eval("forall(array(1, 2), x -> x > 0)"), Ok(Value::Boolean(true)));
        assert_eq!(eval("forall(array(1, NULL, 0), x -> x > 0)"), Ok(Value::Boolean(false)));
        assert_eq!(text("filter(array(1, 2, 3), x -> x % 2 = 1)"), "[1, 3]");
        assert_eq!(text("filter(array(5, 6, 7), (x, i) -> i > 0)"), "[6, 7]");
        assert_eq!(text("transform(array(1, 2), x -> x * 10)"), "[10, 20]");
        assert_eq!(text("transform(array(1, 2), (x, i) -> x + i)"), "[1, 3]");
        assert_eq!(text("aggregate(array(1, 2, 3), 0, (acc, x) -> acc + x)"), "6");
        assert_eq!(text("aggregate(array(1, 2, 3), 0, (acc, x) -> acc + x, acc -> acc * 10)"), "60");
        assert_eq!(text("transform(array(array(1), array(2, 3)), xs -> size(filter(xs, x -> x > 1)))"), "[0, 2]");
    }
}
