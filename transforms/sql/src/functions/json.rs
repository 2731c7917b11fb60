//! JSON functions: `get_json_object` and `json_array_length` (`to_json`
//! is built by the compiler, which knows `struct(*)`).
//!
//! Text that is not valid JSON gives NULL, as in Spark. Paths are Spark's
//! subset of JSONPath: `$`, `.name`, `['name']`, `[n]` and `[*]`.

use super::FunctionDef;
use super::util::{int, string, text};
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::json_in;
use crate::value::Value;

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef::scalar(&["get_json_object", "json_extract"], 2, Some(2), string, get_json_object),
    FunctionDef::scalar(&["json_array_length"], 1, Some(1), int, json_array_length),
];

/// One step of a path.
#[derive(Debug, PartialEq)]
enum Step {
    Member(String),
    Index(usize),
    Every,
}

/// `$.a['b'][0][*]` as steps; `None` for a path Spark would not read.
fn path(text: &str) -> Option<Vec<Step>> {
    let mut rest = text.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            steps.push(Step::Member(r[..end].to_owned()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            steps.push(if inner == "*" { Step::Every } else { Step::Index(inner.parse().ok()?) });
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(if &r[..end] == "*" { Step::Every } else { Step::Member(r[..end].to_owned()) });
            rest = &r[end..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// The values `steps` select in `value`.
fn select(value: &Value, steps: &[Step], out: &mut Vec<Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(value.clone());
        return;
    };
    match (step, value) {
        (Step::Member(name), Value::Struct(fields)) => {
            if let Some((_, v)) = fields.iter().rev().find(|(n, _)| &**n == name) {
                select(v, rest, out);
            }
        }
        (Step::Index(i), Value::Array(items)) => {
            if let Some(v) = items.get(*i) {
                select(v, rest, out);
            }
        }
        (Step::Every, Value::Array(items)) => items.iter().for_each(|v| select(v, rest, out)),
        _ => {}
    }
}

fn get_json_object(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let (Some(json), Some(steps)) = (json_in::parse(&text(&args[0], ctx)), path(&text(&args[1], ctx))) else {
        return Ok(Value::Null);
    };
    let mut found = Vec::new();
    select(&json, &steps, &mut found);
    let wildcard = steps.contains(&Step::Every);
    let result = match found.len() {
        0 => return Ok(Value::Null),
        1 if !wildcard || !matches!(found[0], Value::Array(_)) => found.pop().unwrap_or_default(),
        _ => Value::Array(found.into()),
    };
    Ok(match result {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(s),
        other => {
            let mut out = String::new();
            crate::json_out::write_keeping_nulls(&other, ctx.timezone(), &mut out);
            Value::string(out)
        }
    })
}

fn json_array_length(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(match json_in::parse(&text(&args[0], ctx)) {
        Some(Value::Array(items)) => Value::Int(items.len() as i32),
        _ => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use crate::functions::testing::text;

    #[test]
    fn extracts_by_path() {
        let doc = r#"'{"a": {"b": [1, {"c": "x"}], "n": null}, "s": "t", "d": 1.5}'"#;
        let get = |p: &str| text(&format!("get_json_object({doc}, \"{p}\")"));
        assert_eq!(get("$.s"), "t");
        assert_eq!(get("$.a.b[1].c"), "x");
        assert_eq!(get("$['a']['b'][0]"), "1");
        assert_eq!(get("$.a"), r#"{"b":[1,{"c":"x"}],"n":null}"#);
        assert_eq!(get("$.d"), "1.5");
        assert_eq!(get("$.a.n"), "NULL");
        assert_eq!(get("$.missing"), "NULL");
        assert_eq!(get("nope"), "NULL");
        assert_eq!(text("get_json_object('{bad', '$.a')"), "NULL");
        assert_eq!(text(r#"get_json_object('[{"a":1},{"a":2}]', '$[*].a')"#), "[1,2]");
    }

    #[test]
    fn counts_array_elements() {
        assert_eq!(text("json_array_length('[1, [2, 3], {}]')"), "3");
        assert_eq!(text("json_array_length('{}')"), "NULL");
        assert_eq!(text("json_array_length('[')"), "NULL");
    }
}
