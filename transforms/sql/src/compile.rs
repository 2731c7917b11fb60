//! From text to [`Node`]s, once at init: `sqlparser` parses the expression
//! with [`SparkDialect`], then names are resolved (lambda parameters first,
//! then record fields, through the schema when there is one), functions
//! looked up and their arguments checked, literals typed as Spark types
//! them (`12` is an `INT`, `12.5` a `DECIMAL(3,1)`, `1e3` a `DOUBLE`).
//! Every error points at the column of the part it is about.

use std::rc::Rc;

use sqlparser::ast::{
    self as sql, BinaryOperator, CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned,
    UnaryOperator,
};
use sqlparser::parser::{Parser, ParserError, ParserOptions};
use sqlparser::tokenizer::Token;

use crate::cast::{self, cast};
use crate::ctx::{Ctx, Session};
use crate::dialect::SparkDialect;
use crate::error::ParseError;
use crate::expr::{CmpOp, Field, Lambda, Node};
use crate::functions;
use crate::like::Pattern;
use crate::ops::ArithOp;
use crate::schema::{Schema, parse_type};
use crate::value::{DataType, Decimal, Interval, Value};

/// What names resolve against.
#[derive(Debug)]
pub struct Scope<'s> {
    /// The session (time zone for literals, case sensitivity).
    pub session: &'s Session,
    /// The schema, if configured.
    pub schema: Option<&'s Schema>,
}

/// A compiled expression and its inferred type.
#[derive(Debug)]
pub struct Compiled {
    /// The root node.
    pub node: Node,
    /// Its type (`Any` when only a record can tell).
    pub data_type: DataType,
    /// The top-level record fields it reads, as written, in order.
    pub fields: Vec<String>,
}

/// Parses and compiles `src`.
pub fn compile(src: &str, scope: &Scope<'_>) -> Result<Compiled, ParseError> {
    let dialect = SparkDialect::default();
    let options = ParserOptions::new().with_unescape(false);
    let expr = Parser::new(&dialect)
        .with_options(options)
        .try_with_sql(src)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            p.expect_token(&Token::EOF)?;
            Ok(e)
        })
        .map_err(|e| parser_error(src, &e))?;
    let mut compiler = Compiler { src, scope, locals: Vec::new(), fields: Vec::new() };
    let (node, data_type) = compiler.expr(&expr)?;
    Ok(Compiled { node, data_type, fields: compiler.fields })
}

/// A `sqlparser` error in this crate's style: what, the column, an excerpt.
fn parser_error(src: &str, error: &ParserError) -> ParseError {
    let text = match error {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => return ParseError::whole("the expression nests too deeply"),
    };
    let (what, place) = text.split_once(" at Line: ").map_or((text.as_str(), None), |(w, p)| (w, Some(p)));
    let what = what.strip_prefix("sql parser error: ").unwrap_or(what);
    let what = what.replace("Expected: ", "expected ").replace(", found: ", ", found ");
    let mut what = what.trim().replace("expected EOF", "expected the end of the expression");
    if let Some(first) = what.get(..1) {
        what = first.to_lowercase() + &what[1..];
    }
    let location = place.and_then(|p| {
        let (line, column) = p.split_once(", Column: ")?;
        Some(sqlparser::tokenizer::Location { line: line.trim().parse().ok()?, column: column.trim().parse().ok()? })
    });
    match location {
        Some(at) => ParseError::at(src, offset(src, at), &what, None),
        None if what.ends_with("found EOF") => {
            let what = what.replace("found EOF", "found the end of the expression");
            ParseError::at(src, src.len(), &what, None)
        }
        None => ParseError::whole(what),
    }
}

/// Spark's words for a name the schema lacks, its names closest first.
fn not_in_schema(name: &str, schema: &Schema) -> String {
    let names = crate::names::suggest(name, schema.fields.iter().map(|f| f.name.as_str()));
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!(
        "[UNRESOLVED_COLUMN.WITH_SUGGESTION] field `{name}` is not in the schema; did you mean one of the following? [{}]",
        names.join(", ")
    )
}

/// The byte offset of a 1-based line and column (in characters).
fn offset(src: &str, at: sqlparser::tokenizer::Location) -> usize {
    let line_start: usize = src.split_inclusive('\n').take((at.line.max(1) - 1) as usize).map(str::len).sum();
    let rest = &src[line_start.min(src.len())..];
    line_start + rest.char_indices().nth((at.column.max(1) - 1) as usize).map_or(rest.len(), |(i, _)| i)
}

struct Compiler<'c, 's> {
    src: &'c str,
    scope: &'c Scope<'s>,
    /// Lambda parameters in scope, outermost first: their slot is their index.
    locals: Vec<String>,
    /// The top-level record fields named so far.
    fields: Vec<String>,
}

type Out = Result<(Node, DataType), ParseError>;

impl Compiler<'_, '_> {
    fn error(&self, at: &impl Spanned, what: impl AsRef<str>) -> ParseError {
        let start = at.span().start;
        if start.line == 0 {
            return ParseError::whole(what.as_ref());
        }
        ParseError::at(self.src, offset(self.src, start), what.as_ref(), None)
    }

    fn expr(&mut self, e: &Expr) -> Out {
        Ok(match e {
            Expr::Nested(inner) => return self.expr(inner),
            Expr::Value(v) => self.literal(e, &v.value)?,
            Expr::Identifier(ident) => return self.path(e, std::slice::from_ref(ident)),
            Expr::CompoundIdentifier(idents) => return self.path(e, idents),
            Expr::CompoundFieldAccess { root, access_chain } => {
                let (mut node, _) = self.expr(root)?;
                for access in access_chain {
                    node = match access {
                        sql::AccessExpr::Dot(Expr::Identifier(name)) => {
                            Node::Get(Box::new(node), name.value.as_str().into())
                        }
                        sql::AccessExpr::Subscript(sql::Subscript::Index { index }) => {
                            Node::Index(Box::new(node), Box::new(self.expr(index)?.0))
                        }
                        _ => return Err(self.error(e, "unsupported field access")),
                    };
                }
                (node, DataType::Any)
            }
            Expr::UnaryOp { op, expr } => {
                let (inner, t) = self.expr(expr)?;
                match op {
                    UnaryOperator::Minus => (Node::Neg(Box::new(inner)), t),
                    UnaryOperator::Plus => (inner, t),
                    UnaryOperator::Not | UnaryOperator::BangNot => (Node::Not(Box::new(inner)), DataType::Boolean),
                    _ => return Err(self.error(e, format!("unsupported operator {op}"))),
                }
            }
            Expr::BinaryOp { left, op, right } => self.binary(e, left, op, right)?,
            Expr::IsNull(x) => (Node::IsNull(self.boxed(x)?, false), DataType::Boolean),
            Expr::IsNotNull(x) => (Node::IsNull(self.boxed(x)?, true), DataType::Boolean),
            Expr::IsTrue(x) => (Node::IsTruth(self.boxed(x)?, Some(true), false), DataType::Boolean),
            Expr::IsNotTrue(x) => (Node::IsTruth(self.boxed(x)?, Some(true), true), DataType::Boolean),
            Expr::IsFalse(x) => (Node::IsTruth(self.boxed(x)?, Some(false), false), DataType::Boolean),
            Expr::IsNotFalse(x) => (Node::IsTruth(self.boxed(x)?, Some(false), true), DataType::Boolean),
            Expr::IsUnknown(x) => (Node::IsTruth(self.boxed(x)?, None, false), DataType::Boolean),
            Expr::IsNotUnknown(x) => (Node::IsTruth(self.boxed(x)?, None, true), DataType::Boolean),
            Expr::IsDistinctFrom(a, b) => {
                (Node::Cmp(CmpOp::Distinct, self.boxed(a)?, self.boxed(b)?), DataType::Boolean)
            }
            Expr::IsNotDistinctFrom(a, b) => {
                (Node::Cmp(CmpOp::NullSafeEq, self.boxed(a)?, self.boxed(b)?), DataType::Boolean)
            }
            Expr::In { expr, target: sql::InTarget::List(list), negated, .. } => {
                let value = self.boxed(expr)?;
                let list = list.iter().map(|x| self.expr(x).map(|c| c.0)).collect::<Result<_, _>>()?;
                (Node::In { value, list, negated: *negated }, DataType::Boolean)
            }
            Expr::Between { expr, negated, low, high } => {
                let (v, lo, hi) = (self.expr(expr)?.0, self.expr(low)?.0, self.expr(high)?.0);
                let both = Node::And(
                    Box::new(Node::Cmp(CmpOp::Ge, Box::new(v.clone()), Box::new(lo))),
                    Box::new(Node::Cmp(CmpOp::Le, Box::new(v), Box::new(hi))),
                );
                (if *negated { Node::Not(Box::new(both)) } else { both }, DataType::Boolean)
            }
            Expr::Like { negated, any: false, expr, pattern, escape_char } => {
                self.like(e, expr, pattern, escape_char.as_deref(), false, *negated)?
            }
            Expr::ILike { negated, any: false, expr, pattern, escape_char } => {
                self.like(e, expr, pattern, escape_char.as_deref(), true, *negated)?
            }
            Expr::RLike { negated, expr, pattern, .. } => (
                Node::RLike { value: self.boxed(expr)?, pattern: self.boxed(pattern)?, negated: *negated },
                DataType::Boolean,
            ),
            Expr::Cast { kind, expr, data_type, .. } => {
                let to = parse_type(&data_type.to_string()).map_err(|m| self.error(e, m))?;
                let try_ = matches!(kind, CastKind::TryCast | CastKind::SafeCast);
                (Node::Cast { value: self.boxed(expr)?, to: to.clone(), try_ }, to)
            }
            Expr::TypedString(typed) => self.typed_literal(e, typed)?,
            Expr::Interval(interval) => {
                (Node::Literal(Value::Interval(self.interval(e, interval)?)), DataType::Interval)
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                let operand = operand.as_deref().map(|o| self.boxed(o)).transpose()?;
                let mut t = DataType::Null;
                let mut branches = Vec::new();
                for w in conditions {
                    let (then, then_type) = self.expr(&w.result)?;
                    t = crate::coerce::common_type(&t, &then_type).unwrap_or(DataType::Any);
                    branches.push((self.expr(&w.condition)?.0, then));
                }
                let otherwise = else_result.as_deref().map(|o| self.boxed(o)).transpose()?;
                (Node::Case { operand, branches, otherwise }, t)
            }
            Expr::Struct { values, .. } => self.make_struct(values)?,
            Expr::Wildcard(_) => self.star(),
            Expr::Function(f) => return self.function(e, f),
            Expr::Substring { expr, substring_from, substring_for, .. } => {
                let mut args = vec![expr.as_ref().clone()];
                args.extend(substring_from.as_deref().cloned());
                args.extend(substring_for.as_deref().cloned());
                return self.call(e, "substring", &args);
            }
            Expr::Trim { trim_where, trim_what, expr, .. } => {
                let name = match trim_where {
                    Some(sql::TrimWhereField::Leading) => "ltrim",
                    Some(sql::TrimWhereField::Trailing) => "rtrim",
                    _ => "trim",
                };
                let mut args = vec![expr.as_ref().clone()];
                args.extend(trim_what.as_deref().cloned());
                return self.call(e, name, &args);
            }
            Expr::Position { expr, r#in } => {
                return self.call(e, "locate", &[expr.as_ref().clone(), r#in.as_ref().clone()]);
            }
            Expr::Ceil { expr, .. } => return self.call(e, "ceil", &[expr.as_ref().clone()]),
            Expr::Floor { expr, .. } => return self.call(e, "floor", &[expr.as_ref().clone()]),
            Expr::Extract { field, expr, .. } => {
                return self.call(e, &field.to_string().to_lowercase(), &[expr.as_ref().clone()]);
            }
            Expr::Lambda(lambda) => self.lambda(lambda)?,
            _ => return Err(self.error(e, format!("unsupported expression `{e}`"))),
        })
    }

    fn boxed(&mut self, e: &Expr) -> Result<Box<Node>, ParseError> {
        Ok(Box::new(self.expr(e)?.0))
    }

    /// A name: a lambda parameter, else a field (then members inside it).
    fn path(&mut self, e: &Expr, idents: &[sql::Ident]) -> Out {
        let (first, rest) = idents.split_first().ok_or_else(|| self.error(e, "empty name"))?;
        let steps: Vec<Rc<str>> = rest.iter().map(|i| i.value.as_str().into()).collect();
        let fold = !self.scope.session.case_sensitive;
        let local = self
            .locals
            .iter()
            .rposition(|l| if fold { l.eq_ignore_ascii_case(&first.value) } else { *l == first.value });
        if let Some(slot) = local {
            let node = steps.into_iter().fold(Node::Local(slot), |n, s| Node::Get(Box::new(n), s));
            return Ok((node, DataType::Any));
        }
        let name = idents.iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join(".");
        self.fields.push(first.value.clone());
        let (top, schema_type) = match self.scope.schema {
            None => (first.value.clone(), None),
            Some(schema) => match schema.find(&first.value, !fold).map_err(|m| self.error(e, m))? {
                Some(field) => (field.name.clone(), Some(field.data_type.clone())),
                None => return Err(self.error(e, not_in_schema(&first.value, schema))),
            },
        };
        let data_type = match (&schema_type, steps.is_empty()) {
            (Some(t), true) => t.clone(),
            _ => DataType::Any,
        };
        Ok((Node::Field(Rc::new(Field { top, steps, schema_type, name })), data_type))
    }

    fn literal(&self, e: &Expr, v: &sql::Value) -> Out {
        let value = match v {
            sql::Value::Number(text, long) => {
                number_literal(text, *long).ok_or_else(|| self.error(e, format!("bad number {text}")))?
            }
            sql::Value::SingleQuotedString(s)
            | sql::Value::DoubleQuotedString(s)
            | sql::Value::EscapedStringLiteral(s) => Value::string(unescape(s)),
            sql::Value::SingleQuotedRawStringLiteral(s) | sql::Value::DoubleQuotedRawStringLiteral(s) => {
                Value::string(s.as_str())
            }
            sql::Value::HexStringLiteral(hex) => {
                Value::Binary(hex_bytes(hex).ok_or_else(|| self.error(e, "bad hex literal"))?.into())
            }
            sql::Value::Boolean(b) => Value::Boolean(*b),
            sql::Value::Null => Value::Null,
            other => return Err(self.error(e, format!("unsupported literal {other}"))),
        };
        let t = value.data_type();
        Ok((Node::Literal(value), t))
    }

    fn typed_literal(&self, e: &Expr, typed: &sql::TypedString) -> Out {
        let text = match &typed.value.value {
            sql::Value::SingleQuotedString(s) | sql::Value::DoubleQuotedString(s) => unescape(s),
            other => other.to_string(),
        };
        let to = parse_type(&typed.data_type.to_string()).map_err(|m| self.error(e, m))?;
        let zone = &self.scope.session.timezone;
        let value = cast(&Value::string(text.as_str()), &to, zone)
            .map_err(|_| self.error(e, format!("`{text}` is not a valid {to} literal")))?;
        Ok((Node::Literal(value), to))
    }

    fn interval(&mut self, e: &Expr, interval: &sql::Interval) -> Result<Interval, ParseError> {
        let (node, _) = self.expr(&interval.value)?;
        let session = Session::default();
        let amount = match node {
            Node::Literal(v) => v,
            Node::Neg(inner) => match *inner {
                Node::Literal(v) => crate::ops::arith(ArithOp::Sub, &Value::Int(0), &v, &session.timezone)
                    .map_err(|m| self.error(e, m.to_string()))?,
                _ => return Err(self.error(e, "an interval needs a constant amount")),
            },
            _ => return Err(self.error(e, "an interval needs a constant amount")),
        };
        let n = cast::to_f64(&amount).ok_or_else(|| self.error(e, "an interval needs a number"))?;
        let unit = interval.leading_field.as_ref().map_or("SECOND".to_owned(), |f| f.to_string().to_uppercase());
        let micros = |per: f64| Interval { micros: (n * per) as i64, ..Interval::default() };
        Ok(match unit.trim_end_matches('S') {
            "YEAR" => Interval { months: (n * 12.0) as i32, ..Interval::default() },
            "MONTH" => Interval { months: n as i32, ..Interval::default() },
            "WEEK" => Interval { days: (n * 7.0) as i32, ..Interval::default() },
            "DAY" => Interval { days: n as i32, ..Interval::default() },
            "HOUR" => micros(3.6e9),
            "MINUTE" => micros(6e7),
            "SECOND" => micros(1e6),
            "MILLISECOND" => micros(1e3),
            "MICROSECOND" => micros(1.0),
            _ => return Err(self.error(e, format!("unsupported interval unit {unit}"))),
        })
    }

    fn binary(&mut self, e: &Expr, left: &Expr, op: &BinaryOperator, right: &Expr) -> Out {
        use BinaryOperator as B;
        let (l, lt) = self.expr(left)?;
        let (r, rt) = self.expr(right)?;
        let is_arith = matches!(op, B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo | B::MyIntegerDivide);
        let ((l, lt), (r, rt)) = match is_arith {
            true => {
                let (r_type, l_type) = (rt.clone(), lt.clone());
                (tight_decimal_literal(l, lt, &r_type), tight_decimal_literal(r, rt, &l_type))
            }
            false => ((l, lt), (r, rt)),
        };
        let (l, r) = (Box::new(l), Box::new(r));
        let cmp = |op| (Node::Cmp(op, l.clone(), r.clone()), DataType::Boolean);
        let arith = |op| {
            let t = match op {
                ArithOp::Div if !matches!((&lt, &rt), (DataType::Decimal(..), _) | (_, DataType::Decimal(..))) => {
                    DataType::Double
                }
                ArithOp::IntDiv => DataType::Long,
                _ => crate::coerce::common_type(&lt, &rt).unwrap_or(DataType::Any),
            };
            (Node::Arith(op, l.clone(), r.clone()), t)
        };
        Ok(match op {
            B::Plus => arith(ArithOp::Add),
            B::Minus => arith(ArithOp::Sub),
            B::Multiply => arith(ArithOp::Mul),
            B::Divide => arith(ArithOp::Div),
            B::Modulo => arith(ArithOp::Rem),
            B::MyIntegerDivide => arith(ArithOp::IntDiv),
            B::StringConcat => (Node::Concat(l, r), DataType::String),
            B::Eq => cmp(CmpOp::Eq),
            B::NotEq => cmp(CmpOp::Ne),
            B::Lt => cmp(CmpOp::Lt),
            B::LtEq => cmp(CmpOp::Le),
            B::Gt => cmp(CmpOp::Gt),
            B::GtEq => cmp(CmpOp::Ge),
            B::Spaceship => cmp(CmpOp::NullSafeEq),
            B::And => (Node::And(l, r), DataType::Boolean),
            B::Or => (Node::Or(l, r), DataType::Boolean),
            _ => return Err(self.error(e, format!("unsupported operator {op}"))),
        })
    }

    fn like(
        &mut self,
        e: &Expr,
        value: &Expr,
        pattern: &Expr,
        escape: Option<&Expr>,
        fold: bool,
        negated: bool,
    ) -> Out {
        let escape = match escape {
            None => '\\',
            Some(Expr::Value(v)) => match &v.value {
                sql::Value::SingleQuotedString(s) if unescape(s).chars().count() == 1 => {
                    unescape(s).chars().next().unwrap_or('\\')
                }
                _ => return Err(self.error(e, "the ESCAPE character must be a one-character string")),
            },
            Some(other) => return Err(self.error(other, "the ESCAPE character must be a one-character string")),
        };
        let value = self.boxed(value)?;
        let (pattern_node, _) = self.expr(pattern)?;
        let compiled = match &pattern_node {
            Node::Literal(Value::String(p)) => {
                let p = if fold { p.to_lowercase() } else { p.to_string() };
                Some(Rc::new(Pattern::compile(&p, escape).map_err(|m| self.error(pattern, m))?))
            }
            _ => None,
        };
        Ok((Node::Like { value, pattern: Box::new(pattern_node), compiled, escape, fold, negated }, DataType::Boolean))
    }

    fn lambda(&mut self, lambda: &sql::LambdaFunction) -> Out {
        let params: Vec<String> = match &lambda.params {
            sql::OneOrManyWithParens::One(p) => vec![p.name.value.clone()],
            sql::OneOrManyWithParens::Many(ps) => ps.iter().map(|p| p.name.value.clone()).collect(),
        };
        let base = self.locals.len();
        self.locals.extend(params.iter().cloned());
        let body = self.expr(&lambda.body);
        self.locals.truncate(base);
        let (body, data_type) = body?;
        Ok((Node::Lambda(Rc::new(Lambda { params, base, body })), data_type))
    }

    /// `struct(a, b AS c)`: members named by their alias, a field's last
    /// name, or `colN`.
    fn make_struct(&mut self, values: &[Expr]) -> Out {
        let mut members = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let (expr, name) = match v {
                Expr::Named { expr, name } => (expr.as_ref(), name.value.clone()),
                Expr::Identifier(id) => (v, id.value.clone()),
                Expr::CompoundIdentifier(ids) => (v, ids.last().map_or_else(String::new, |i| i.value.clone())),
                Expr::Wildcard(_) => {
                    let Node::MakeStruct(all) = self.star().0 else {
                        members.push(("*".into(), Node::Star));
                        continue;
                    };
                    members.extend(all);
                    continue;
                }
                _ => (v, format!("col{}", i + 1)),
            };
            members.push((Rc::from(name.as_str()), self.expr(expr)?.0));
        }
        if let [(name, Node::Star)] = members.as_slice()
            && &**name == "*"
        {
            return Ok((Node::Star, DataType::Any));
        }
        Ok((Node::MakeStruct(members), DataType::Struct(Vec::new())))
    }

    /// `*`: the schema's fields in order, or without a schema every member.
    fn star(&self) -> (Node, DataType) {
        let Some(schema) = self.scope.schema else { return (Node::Star, DataType::Any) };
        let members = schema
            .fields
            .iter()
            .map(|f| {
                let field = Field {
                    top: f.name.clone(),
                    steps: Vec::new(),
                    schema_type: Some(f.data_type.clone()),
                    name: f.name.clone(),
                };
                (Rc::from(f.name.as_str()), Node::Field(Rc::new(field)))
            })
            .collect();
        (Node::MakeStruct(members), DataType::Struct(schema.fields.clone()))
    }

    fn function(&mut self, e: &Expr, f: &sql::Function) -> Out {
        let name = f.name.to_string();
        let args: Vec<Expr> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list) => list
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Ok(x.clone()),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => {
                        Ok(Expr::Wildcard(sqlparser::ast::helpers::attached_token::AttachedToken::empty()))
                    }
                    _ => Err(self.error(e, format!("unsupported argument in `{e}`"))),
                })
                .collect::<Result<_, _>>()?,
            FunctionArguments::Subquery(_) => return Err(self.error(e, "subqueries are not supported")),
        };
        match name.to_lowercase().as_str() {
            "struct" => self.make_struct(&args),
            "named_struct" => self.named_struct(e, &args),
            "to_json" => self.json_of(e, &args),
            _ => self.call(e, &name, &args),
        }
    }

    fn named_struct(&mut self, e: &Expr, args: &[Expr]) -> Out {
        if !args.len().is_multiple_of(2) || args.is_empty() {
            return Err(self.error(e, "named_struct takes pairs of a name and a value"));
        }
        let mut members = Vec::new();
        for pair in args.chunks(2) {
            let name = match &pair[0] {
                Expr::Value(v) => match &v.value {
                    sql::Value::SingleQuotedString(s) | sql::Value::DoubleQuotedString(s) => unescape(s),
                    _ => return Err(self.error(&pair[0], "named_struct: a member name must be a string literal")),
                },
                other => return Err(self.error(other, "named_struct: a member name must be a string literal")),
            };
            members.push((Rc::from(name.as_str()), self.expr(&pair[1])?.0));
        }
        Ok((Node::MakeStruct(members), DataType::Struct(Vec::new())))
    }

    fn json_of(&mut self, e: &Expr, args: &[Expr]) -> Out {
        let [arg] = args else { return Err(self.error(e, "to_json takes one argument")) };
        let (node, _) = self.expr(arg)?;
        if matches!(node, Node::Star) {
            return Ok((Node::RecordJson, DataType::String));
        }
        Ok((Node::ToJson(Box::new(node)), DataType::String))
    }

    /// A library function, its argument count and types checked.
    fn call(&mut self, e: &Expr, name: &str, args: &[Expr]) -> Out {
        let Some(def) = functions::lookup(name) else {
            return Err(self.error(e, format!("unknown function `{name}`")));
        };
        if args.len() < def.min_args || def.max_args.is_some_and(|max| args.len() > max) {
            let expected = match def.max_args {
                Some(max) if max == def.min_args => format!("{max}"),
                Some(max) => format!("{} to {max}", def.min_args),
                None => format!("at least {}", def.min_args),
            };
            return Err(self.error(e, format!("{} takes {expected} arguments, not {}", def.name(), args.len())));
        }
        let compiled = args.iter().map(|a| self.expr(a)).collect::<Result<Vec<_>, _>>()?;
        let types: Vec<DataType> = compiled.iter().map(|c| c.1.clone()).collect();
        let data_type = (def.return_type)(&types).map_err(|m| self.error(e, m))?;
        let nodes: Vec<Node> = compiled.into_iter().map(|c| c.0).collect();
        let node = self.fold(Node::Call(def, nodes));
        if def.cast_result && is_concrete(&data_type) {
            return Ok((Node::Cast { value: Box::new(node), to: data_type.clone(), try_: false }, data_type));
        }
        Ok((node, data_type))
    }

    /// A call whose arguments are all literals, evaluated now when that
    /// succeeds (an error is left for run time, where it fails the record).
    fn fold(&self, node: Node) -> Node {
        let Node::Call(_, args) = &node else { return node };
        if !args.iter().all(|a| matches!(a, Node::Literal(_))) {
            return node;
        }
        let ctx = Ctx::without_record(self.scope.session);
        match node.eval(&ctx) {
            Ok(v) => Node::Literal(v),
            Err(_) => node,
        }
    }
}

/// Whether a compiled type is fully known (no `Any` inside, not NULL's).
fn is_concrete(t: &DataType) -> bool {
    match t {
        DataType::Any | DataType::Null | DataType::Struct(_) | DataType::Map(..) | DataType::Interval => false,
        DataType::Array(e) => is_concrete(e),
        _ => true,
    }
}

/// Spark's literal types: `12` an `INT` (a `BIGINT` or `DECIMAL` when
/// larger), `12.5` a `DECIMAL(3,1)`, `1e3` a `DOUBLE`; suffixes `L`, `S`,
/// `Y`, `D`, `F`, `BD`.
fn number_literal(text: &str, long: bool) -> Option<Value> {
    let upper = text.to_ascii_uppercase();
    let zone = crate::zone::TimeZone::utc();
    let (digits, suffix) = match upper.strip_suffix("BD") {
        Some(d) => (d, "BD"),
        None => match upper.char_indices().last() {
            Some((i, c)) if "LSYDF".contains(c) => (&upper[..i], &upper[i..]),
            _ => (upper.as_str(), if long { "L" } else { "" }),
        },
    };
    let as_type = |t: DataType| cast(&Value::string(digits), &t, &zone).ok();
    match suffix {
        "L" => as_type(DataType::Long),
        "S" => as_type(DataType::Short),
        "Y" => as_type(DataType::Byte),
        "D" => as_type(DataType::Double),
        "F" => as_type(DataType::Float),
        "BD" => decimal_literal(digits),
        _ if digits.contains(['E']) => as_type(DataType::Double),
        _ if digits.contains('.') => decimal_literal(digits),
        _ => digits
            .parse::<i32>()
            .map(Value::Int)
            .or_else(|_| digits.parse::<i64>().map(Value::Long))
            .ok()
            .or_else(|| decimal_literal(digits)),
    }
}

/// `12.50` as `DECIMAL(4,2)`.
fn decimal_literal(digits: &str) -> Option<Value> {
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = whole.trim_start_matches('0');
    let scale = u8::try_from(fraction.len()).ok()?;
    let precision = u8::try_from(whole.len() + fraction.len()).ok()?.max(scale).max(1);
    if precision > 38 {
        return cast::parse_double(digits).map(Value::Double);
    }
    let unscaled: i128 = format!("0{whole}{fraction}").parse().ok()?;
    Some(Value::Decimal(Decimal { unscaled, precision, scale }))
}

/// A string literal's text as Spark reads it: `\n`, `\t`, `\'`, `\\`,
/// `\uXXXX`, octal `\ddd`; `\%` and `\_` keep their backslash (for
/// `LIKE`); any other `\x` is `x`; a doubled quote is one quote.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&c) {
                chars.next();
            }
            out.push(c);
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            '0'..='7' => {
                let mut code = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            code = code * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(code).unwrap_or('\0'));
            }
            'Z' => out.push('\u{1a}'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
            }
            '%' | '_' => {
                out.push('\\');
                out.push(e);
            }
            other => out.push(other),
        }
    }
    out
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    let padded = if hex.len() % 2 == 1 { format!("0{hex}") } else { hex.to_owned() };
    (0..padded.len()).step_by(2).map(|i| u8::from_str_radix(&padded[i..i + 2], 16).ok()).collect()
}

/// An integer literal against a decimal is the decimal of its own digits
/// (`3` is `DECIMAL(1,0)`, not `INT`'s `DECIMAL(10,0)`), as Spark's
/// `DecimalPrecision` casts it, so `price / 3` has Spark's scale.
fn tight_decimal_literal(node: Node, t: DataType, other: &DataType) -> (Node, DataType) {
    let Node::Literal(literal) = &node else { return (node, t) };
    let Some(n) = literal.as_i64().filter(|_| {
        matches!(other, DataType::Decimal(..))
            && matches!(t, DataType::Byte | DataType::Short | DataType::Int | DataType::Long)
    }) else {
        return (node, t);
    };
    let precision = n.unsigned_abs().checked_ilog10().map_or(1, |d| d as u8 + 1);
    let decimal = crate::value::Decimal { unscaled: i128::from(n), precision, scale: 0 };
    (Node::Literal(Value::Decimal(decimal)), DataType::Decimal(precision, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_literals_like_spark() {
        assert_eq!(number_literal("12", false), Some(Value::Int(12)));
        assert_eq!(number_literal("3000000000", false), Some(Value::Long(3_000_000_000)));
        assert_eq!(number_literal("10", true), Some(Value::Long(10)));
        assert_eq!(
            number_literal("12.50", false),
            Some(Value::Decimal(Decimal { unscaled: 1250, precision: 4, scale: 2 }))
        );
        assert_eq!(number_literal("0.1", false), Some(Value::Decimal(Decimal { unscaled: 1, precision: 1, scale: 1 })));
        assert_eq!(number_literal("1e3", false), Some(Value::Double(1000.0)));
        assert_eq!(number_literal("1.5D", false), Some(Value::Double(1.5)));
        assert_eq!(number_literal("5S", false), Some(Value::Short(5)));
    }

    #[test]
    fn errors_point_at_the_column() {
        let session = Session::default();
        let scope = Scope { session: &session, schema: None };
        let err = compile("StoreID = ", &scope).unwrap_err();
        assert_eq!(err.to_string(), "expected an expression, found the end of the expression at column 11: StoreID =");
        let err = compile("nope(StoreID) = 1", &scope).unwrap_err();
        assert_eq!(err.to_string(), "unknown function `nope` at column 1: nope(StoreID) = 1");
    }
}
