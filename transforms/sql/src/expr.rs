//! Compiled expressions: the typed nodes `compile` builds once at init and
//! the evaluator walks for every record, with SQL's three-valued logic.
//!
//! Nothing here is re-parsed per record: names are resolved to field
//! paths, function names to their [`FunctionDef`], `LIKE` patterns with a
//! literal pattern compiled. A record is read only as far as the nodes ask:
//! a top-level field is found through the record's index, and only that
//! member's text is turned into a [`Value`].

use std::cmp::Ordering;
use std::rc::Rc;

use sluice_guest_sdk::RawValue;

use crate::cast::{self, cast};
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::json_in;
use crate::like::Pattern;
use crate::members::{find_folded, get_member};
use crate::ops::{self, ArithOp};
use crate::value::{DataType, Fields, Value};

/// One compiled expression node.
#[derive(Debug, Clone)]
pub enum Node {
    /// A constant.
    Literal(Value),
    /// A record field, down a path of members.
    Field(Rc<Field>),
    /// A lambda parameter: its slot on the context's stack of locals.
    Local(usize),
    /// `value.name` on a computed struct (or an array of structs: each
    /// element's member).
    Get(Box<Node>, Rc<str>),
    /// `xs[i]` (0-based) or `m[key]`.
    Index(Box<Node>, Box<Node>),
    /// Unary minus.
    Neg(Box<Node>),
    /// `NOT`.
    Not(Box<Node>),
    /// Arithmetic.
    Arith(ArithOp, Box<Node>, Box<Node>),
    /// `||`: string concatenation (NULL if either is).
    Concat(Box<Node>, Box<Node>),
    /// A comparison.
    Cmp(CmpOp, Box<Node>, Box<Node>),
    /// `AND`.
    And(Box<Node>, Box<Node>),
    /// `OR`.
    Or(Box<Node>, Box<Node>),
    /// `value [NOT] IN (list)`.
    In { value: Box<Node>, list: Vec<Node>, negated: bool },
    /// `[NOT] LIKE` / `ILIKE`, the pattern compiled when it is a literal.
    Like {
        value: Box<Node>,
        pattern: Box<Node>,
        compiled: Option<Rc<Pattern>>,
        escape: char,
        fold: bool,
        negated: bool,
    },
    /// `[NOT] RLIKE` / `REGEXP`.
    RLike { value: Box<Node>, pattern: Box<Node>, negated: bool },
    /// `IS [NOT] NULL`.
    IsNull(Box<Node>, bool),
    /// `IS [NOT] TRUE | FALSE | UNKNOWN` (`UNKNOWN` is `None`).
    IsTruth(Box<Node>, Option<bool>, bool),
    /// `CASE [operand] WHEN .. THEN .. ELSE .. END`.
    Case { operand: Option<Box<Node>>, branches: Vec<(Node, Node)>, otherwise: Option<Box<Node>> },
    /// `CAST` (`try` is `try_cast`: NULL instead of an error).
    Cast { value: Box<Node>, to: DataType, try_: bool },
    /// A function call.
    Call(&'static FunctionDef, Vec<Node>),
    /// A lambda, only meaningful as an argument of a function that takes one.
    Lambda(Rc<Lambda>),
    /// `struct(a, b AS c)`, `named_struct('a', a)`.
    MakeStruct(Vec<(Rc<str>, Node)>),
    /// `struct(*)`: the record as a struct (the schema's fields with one).
    Star,
    /// `to_json(x)`.
    ToJson(Box<Node>),
    /// `to_json(struct(*))` without a schema: the record's own compact text.
    RecordJson,
    /// Fast path for `Field = 'literal'` on a top-level untyped field.
    FieldEqStr { field: Rc<Field>, literal: Rc<str> },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `<=>` and `IS NOT DISTINCT FROM`: NULL equals NULL; never NULL.
    NullSafeEq,
    /// `IS DISTINCT FROM`.
    Distinct,
}

/// A field path, resolved at init.
#[derive(Debug, Clone)]
pub struct Field {
    /// The top-level member's name (its schema spelling when there is one).
    pub top: String,
    /// Deeper members, each a struct member (or through arrays, every element's).
    pub steps: Vec<Rc<str>>,
    /// The top-level member's schema type; `None` without a schema.
    pub schema_type: Option<DataType>,
    /// The path as written, for messages.
    pub name: String,
}

/// A compiled lambda (`x -> x > 1`, `(acc, x) -> acc + x`). Read by the
/// lambda-taking functions of the library.
#[derive(Debug)]
pub struct Lambda {
    /// Parameter names, for messages.
    pub(crate) params: Vec<String>,
    /// The slot of the first parameter on the locals stack (lambdas nest).
    pub(crate) base: usize,
    /// The body, reading its parameters as `Node::Local`.
    pub(crate) body: Node,
}

impl Lambda {
    /// How many parameters it takes.
    pub fn arity(&self) -> usize {
        self.params.len()
    }

    /// Runs the body with its parameters bound to `args` (as many as
    /// [`Lambda::arity`]).
    pub fn call(&self, args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
        {
            let mut locals = ctx.locals.borrow_mut();
            locals.truncate(self.base);
            locals.resize(self.base, Value::Null);
            locals.extend(args.iter().take(self.params.len()).cloned());
            locals.resize(self.base + self.params.len(), Value::Null);
        }
        self.body.eval(ctx)
    }
}

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
    /// The result is cast to `return_type` when that is known at init (the
    /// conditionals: `coalesce(amount, 0)` of a `DOUBLE` is `0.0`).
    pub cast_result: bool,
}

impl FunctionDef {
    /// A null-intolerant function of evaluated arguments.
    pub const fn scalar(
        names: &'static [&'static str],
        min_args: usize,
        max_args: Option<usize>,
        return_type: fn(&[DataType]) -> Result<DataType, String>,
        eval: fn(&[Value], &Ctx<'_>) -> Result<Value, EvalError>,
    ) -> FunctionDef {
        FunctionDef {
            names,
            min_args,
            max_args,
            null_intolerant: true,
            return_type,
            eval: Eval::Scalar(eval),
            cast_result: false,
        }
    }

    /// A function that evaluates its argument nodes itself.
    pub const fn lazy(
        names: &'static [&'static str],
        min_args: usize,
        max_args: Option<usize>,
        return_type: fn(&[DataType]) -> Result<DataType, String>,
        eval: fn(&[Node], &Ctx<'_>) -> Result<Value, EvalError>,
    ) -> FunctionDef {
        FunctionDef {
            names,
            min_args,
            max_args,
            null_intolerant: false,
            return_type,
            eval: Eval::Lazy(eval),
            cast_result: false,
        }
    }

    /// The same function, called with NULL arguments too.
    pub const fn null_tolerant(mut self) -> FunctionDef {
        self.null_intolerant = false;
        self
    }

    /// The same function, its result cast to its type when known.
    pub const fn casting_result(mut self) -> FunctionDef {
        self.cast_result = true;
        self
    }

    /// The name messages use.
    pub fn name(&self) -> &'static str {
        self.names[0]
    }
}

/// How a function computes its value.
#[derive(Debug, Clone, Copy)]
pub enum Eval {
    /// From its evaluated arguments.
    Scalar(fn(&[Value], &Ctx<'_>) -> Result<Value, EvalError>),
    /// From its argument nodes, evaluating only what it needs.
    Lazy(fn(&[Node], &Ctx<'_>) -> Result<Value, EvalError>),
}

impl Node {
    /// The compiled lambda, when this argument is one.
    pub fn as_lambda(&self) -> Option<&Lambda> {
        match self {
            Node::Lambda(lambda) => Some(lambda),
            _ => None,
        }
    }

    /// The three-valued truth of a condition; a non-boolean is an error.
    pub fn truth(&self, ctx: &Ctx<'_>) -> Result<Option<bool>, EvalError> {
        match self.eval(ctx)? {
            Value::Null => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            other => Err(self.not_boolean(&other)),
        }
    }

    fn not_boolean(&self, value: &Value) -> EvalError {
        let what = match self {
            Node::Field(f) => format!("field {}", f.name),
            _ => "the expression".to_owned(),
        };
        EvalError::Type { what, found: kind_name(value).to_owned(), expected: "a boolean".to_owned() }
    }

    /// This node's value in `ctx`.
    pub fn eval(&self, ctx: &Ctx<'_>) -> Result<Value, EvalError> {
        let zone = ctx.timezone();
        Ok(match self {
            Node::Literal(value) => value.clone(),
            Node::Field(field) => field.value(ctx)?,
            Node::Local(slot) => ctx.locals.borrow().get(*slot).cloned().unwrap_or_default(),
            Node::Get(inner, name) => get_member(&inner.eval(ctx)?, name, ctx.session.case_sensitive),
            Node::Index(inner, index) => subscript(&inner.eval(ctx)?, &index.eval(ctx)?, ctx)?,
            Node::Neg(inner) => ops::arith(ArithOp::Sub, &Value::Byte(0), &inner.eval(ctx)?, zone)?,
            Node::Not(inner) => Value::from_truth(inner.truth(ctx)?.map(|b| !b)),
            Node::Arith(op, l, r) => ops::arith(*op, &l.eval(ctx)?, &r.eval(ctx)?, zone)?,
            Node::Concat(l, r) => concat(&l.eval(ctx)?, &r.eval(ctx)?, ctx),
            Node::Cmp(op, l, r) => comparison(*op, &l.eval(ctx)?, &r.eval(ctx)?, ctx)?,
            Node::And(l, r) => Value::from_truth(match l.truth(ctx)? {
                Some(false) => Some(false),
                left => match (left, r.truth(ctx)?) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
            }),
            Node::Or(l, r) => Value::from_truth(match l.truth(ctx)? {
                Some(true) => Some(true),
                left => match (left, r.truth(ctx)?) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
            }),
            Node::In { value, list, negated } => Value::from_truth(in_list(value, list, ctx)?.map(|b| b != *negated)),
            Node::Like { value, pattern, compiled, escape, fold, negated } => Value::from_truth(
                like(value, pattern, compiled.as_deref(), *escape, *fold, ctx)?.map(|b| b != *negated),
            ),
            Node::RLike { value, pattern, negated } => {
                let (value, pattern) = (value.eval(ctx)?, pattern.eval(ctx)?);
                match (cast::text_of(&value, zone), cast::text_of(&pattern, zone)) {
                    (Some(text), Some(pattern)) => Value::Boolean(ctx.regex(&pattern)?.is_match(&text) != *negated),
                    _ => Value::Null,
                }
            }
            Node::IsNull(inner, negated) => Value::Boolean(inner.eval(ctx)?.is_null() != *negated),
            Node::IsTruth(inner, wanted, negated) => Value::Boolean((inner.truth(ctx)? == *wanted) != *negated),
            Node::Case { operand, branches, otherwise } => {
                case(operand.as_deref(), branches, otherwise.as_deref(), ctx)?
            }
            Node::Cast { value, to, try_ } => match cast(&value.eval(ctx)?, to, zone) {
                Err(_) if *try_ => Value::Null,
                other => other?,
            },
            Node::Call(function, args) => call(function, args, ctx)?,
            Node::Lambda(_) => {
                return Err(EvalError::function("a lambda can only be an argument of a function that takes one"));
            }
            Node::MakeStruct(members) => {
                let fields = members
                    .iter()
                    .map(|(n, node)| node.eval(ctx).map(|v| (Rc::clone(n), v)))
                    .collect::<Result<Vec<_>, _>>()?;
                Value::Struct(fields.into())
            }
            Node::Star => Value::Struct(star(ctx)?),
            Node::ToJson(inner) => {
                let value = inner.eval(ctx)?;
                if value.is_null() {
                    return Ok(Value::Null);
                }
                let mut out = String::new();
                crate::json_out::write(&value, zone, &mut out);
                Value::string(out)
            }
            Node::RecordJson => {
                let mut out = Vec::new();
                if let Some(record) = ctx.record {
                    record.write_compact_json(&mut out);
                }
                Value::string(String::from_utf8_lossy(&out))
            }
            Node::FieldEqStr { field, literal } => match field.raw(ctx)? {
                None => Value::Null,
                Some(raw) => field_eq_str(raw, literal, ctx)?,
            },
        })
    }
}

/// `Field = 'literal'` without building a value for plain strings.
fn field_eq_str(raw: RawValue<'_>, literal: &str, ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let bytes = raw.raw();
    if bytes.first() == Some(&b'"') && !bytes.contains(&b'\\') {
        return Ok(Value::Boolean(&bytes[1..bytes.len() - 1] == literal.as_bytes()));
    }
    comparison(CmpOp::Eq, &json_in::untyped(bytes), &Value::string(literal), ctx)
}

/// What kind of value this is, for messages.
pub fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "a boolean",
        Value::String(_) => "a string",
        Value::Struct(_) | Value::Map(_) => "an object",
        Value::Array(_) => "an array",
        Value::Binary(_) => "binary",
        Value::Date(_) => "a date",
        Value::Timestamp(_) => "a timestamp",
        Value::Interval(_) => "an interval",
        _ => "a number",
    }
}

impl Field {
    /// The top-level member's raw JSON, found by name (case-insensitively
    /// unless the session is case-sensitive).
    pub fn raw<'r>(&self, ctx: &Ctx<'r>) -> Result<Option<RawValue<'r>>, EvalError> {
        let Some(record) = ctx.record else { return Ok(None) };
        if ctx.session.case_sensitive {
            return Ok(record.member(&self.top));
        }
        find_folded(record, &self.top)
    }

    /// The field's value: typed by the schema when there is one.
    pub fn value(&self, ctx: &Ctx<'_>) -> Result<Value, EvalError> {
        let Some(raw) = self.raw(ctx)? else { return Ok(Value::Null) };
        let mut value = match &self.schema_type {
            None => json_in::untyped(raw.raw()),
            Some(t) => json_in::typed(raw.raw(), t, ctx.timezone()).unwrap_or(Value::Null),
        };
        for step in &self.steps {
            value = get_member(&value, step, ctx.session.case_sensitive);
        }
        Ok(value)
    }
}

/// `xs[i]`: 0-based, out of range an ANSI error; `m[k]`: NULL if absent.
fn subscript(value: &Value, index: &Value, ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    Ok(match (value, index) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::Array(items), i) => {
            let i = cast(i, &DataType::Long, ctx.timezone())?.as_i64().unwrap_or_default();
            match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                Some(v) => v.clone(),
                None => return Err(EvalError::ArrayIndex { index: i, size: items.len() }),
            }
        }
        (Value::Map(entries), k) => {
            let mut found = Value::Null;
            for (key, v) in entries.iter() {
                if ops::compare(key, k, ctx.timezone())? == Some(Ordering::Equal) {
                    found = v.clone();
                }
            }
            found
        }
        (Value::Struct(_), Value::String(name)) => get_member(value, name, ctx.session.case_sensitive),
        _ => Value::Null,
    })
}

fn concat(left: &Value, right: &Value, ctx: &Ctx<'_>) -> Value {
    let zone = ctx.timezone();
    match (left, right) {
        (Value::Array(a), Value::Array(b)) => {
            Value::Array(a.iter().chain(b.iter()).cloned().collect::<Vec<_>>().into())
        }
        _ => match (cast::text_of(left, zone), cast::text_of(right, zone)) {
            (Some(a), Some(b)) => Value::string(format!("{a}{b}")),
            _ => Value::Null,
        },
    }
}

fn comparison(op: CmpOp, left: &Value, right: &Value, ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let zone = ctx.timezone();
    if matches!(op, CmpOp::NullSafeEq | CmpOp::Distinct) {
        let same = match (left.is_null(), right.is_null()) {
            (true, true) => true,
            (false, false) => ops::compare(left, right, zone)? == Some(Ordering::Equal),
            _ => false,
        };
        return Ok(Value::Boolean(same == (op == CmpOp::NullSafeEq)));
    }
    Ok(match ops::compare(left, right, zone)? {
        None => Value::Null,
        Some(o) => Value::Boolean(match op {
            CmpOp::Eq => o.is_eq(),
            CmpOp::Ne => o.is_ne(),
            CmpOp::Lt => o.is_lt(),
            CmpOp::Le => o.is_le(),
            CmpOp::Gt => o.is_gt(),
            _ => o.is_ge(),
        }),
    })
}

/// `IN`: true on a match; otherwise unknown if the value or any item is
/// NULL; otherwise false.
fn in_list(value: &Node, list: &[Node], ctx: &Ctx<'_>) -> Result<Option<bool>, EvalError> {
    let value = value.eval(ctx)?;
    if value.is_null() {
        return Ok(None);
    }
    let mut unknown = false;
    for item in list {
        match ops::compare(&value, &item.eval(ctx)?, ctx.timezone())? {
            Some(Ordering::Equal) => return Ok(Some(true)),
            Some(_) => {}
            None => unknown = true,
        }
    }
    Ok(if unknown { None } else { Some(false) })
}

fn like(
    value: &Node,
    pattern: &Node,
    compiled: Option<&Pattern>,
    escape: char,
    fold: bool,
    ctx: &Ctx<'_>,
) -> Result<Option<bool>, EvalError> {
    let zone = ctx.timezone();
    let Some(text) = cast::text_of(&value.eval(ctx)?, zone) else { return Ok(None) };
    let text = if fold { text.to_lowercase().into() } else { text };
    if let Some(p) = compiled {
        return Ok(Some(p.matches(&text)));
    }
    let Some(pattern) = cast::text_of(&pattern.eval(ctx)?, zone) else { return Ok(None) };
    let pattern = if fold { pattern.to_lowercase() } else { pattern.to_string() };
    let p = Pattern::compile(&pattern, escape).map_err(EvalError::function)?;
    Ok(Some(p.matches(&text)))
}

fn case(
    operand: Option<&Node>,
    branches: &[(Node, Node)],
    otherwise: Option<&Node>,
    ctx: &Ctx<'_>,
) -> Result<Value, EvalError> {
    let subject = operand.map(|o| o.eval(ctx)).transpose()?;
    for (when, then) in branches {
        let hit = match &subject {
            Some(s) => ops::compare(s, &when.eval(ctx)?, ctx.timezone())? == Some(Ordering::Equal),
            None => when.truth(ctx)? == Some(true),
        };
        if hit {
            return then.eval(ctx);
        }
    }
    otherwise.map_or(Ok(Value::Null), |o| o.eval(ctx))
}

/// The record as struct members: with a schema, the compiler replaces
/// `struct(*)` by the schema's fields, so here it is every member, untyped.
fn star(ctx: &Ctx<'_>) -> Result<Fields, EvalError> {
    let Some(record) = ctx.record else { return Ok(Vec::new().into()) };
    match json_in::untyped(record.raw()) {
        Value::Struct(fields) => Ok(fields),
        _ => Ok(Vec::new().into()),
    }
}

/// Calls `function` on `args` as its [`Eval`] asks.
fn call(function: &FunctionDef, args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    match function.eval {
        Eval::Lazy(eval) => eval(args, ctx),
        Eval::Scalar(eval) => {
            let values = args.iter().map(|a| a.eval(ctx)).collect::<Result<Vec<_>, _>>()?;
            if function.null_intolerant && values.iter().any(Value::is_null) {
                return Ok(Value::Null);
            }
            eval(&values, ctx)
        }
    }
}
