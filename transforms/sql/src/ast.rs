//! The parsed expression: built once by `parser` at init, walked by `eval`
//! for every record.
//!
//! Everything a record is matched against is prepared here ahead of time:
//! field paths are split into their steps, `LIKE` patterns compiled,
//! `BETWEEN` and `IS [NOT] DISTINCT FROM` rewritten into comparisons, and
//! chains of `AND` or `OR` flattened into one list.

use std::borrow::Cow;
use std::cmp::Ordering;

use sluice_guest_sdk::{RawValue, Record};

use crate::like::Pattern;
use crate::val::{Num, Val};

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Lit(Lit),
    /// A record field.
    Field(Path),
    /// Unary minus.
    Neg(Box<Expr>),
    /// A function of one argument.
    Call(Func, Box<Expr>),
    /// A comparison.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `NOT`.
    Not(Box<Expr>),
    /// Two or more conditions joined by `AND`.
    And(Vec<Expr>),
    /// Two or more conditions joined by `OR`.
    Or(Vec<Expr>),
    /// `value [NOT] IN (list)`.
    In { value: Box<Expr>, list: Vec<Expr>, negated: bool },
    /// `value [NOT] LIKE pattern`; a `NULL` pattern is `None`.
    Like { value: Box<Expr>, pattern: Option<Pattern>, negated: bool },
    /// `value IS [NOT] NULL`.
    IsNull { value: Box<Expr>, negated: bool },
    /// `value IS [NOT] TRUE | FALSE | UNKNOWN` (`UNKNOWN` is `None`).
    IsTruth { value: Box<Expr>, truth: Option<bool>, negated: bool },
}

impl Expr {
    /// `Some("a string")` or `Some("a number")` when this can never be a
    /// boolean, whatever the record holds; `None` when it is, or may be.
    pub fn non_boolean(&self) -> Option<&'static str> {
        match self {
            Expr::Lit(Lit::Str(_)) | Expr::Call(Func::Lower | Func::Upper, _) => Some("a string"),
            Expr::Lit(Lit::Num(_)) | Expr::Neg(_) | Expr::Call(Func::Length, _) => Some("a number"),
            _ => None,
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    Num(Num),
    Str(String),
}

impl Lit {
    /// The literal as a value, borrowing its text.
    pub fn val(&self) -> Val<'_> {
        match self {
            Lit::Null => Val::Null,
            Lit::Bool(b) => Val::Bool(*b),
            Lit::Num(n) => Val::Num(*n, None),
            Lit::Str(s) => Val::Str(Cow::Borrowed(s)),
        }
    }
}

/// A field: member names from the top of the record down.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    steps: Vec<String>,
    /// The path as written, for messages.
    pub name: String,
}

impl Path {
    /// A path of `steps` (at least one), written as `name`.
    pub fn new(steps: Vec<String>, name: String) -> Path {
        Path { steps, name }
    }

    /// The field's value; `None` when a step is missing or its parent is
    /// not an object. Allocates nothing.
    pub fn lookup<'a>(&self, record: &Record<'a>) -> Option<RawValue<'a>> {
        let (first, rest) = self.steps.split_first()?;
        rest.iter().try_fold(record.member(first)?, |value, step| value.member(step))
    }
}

/// The supported functions, all of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Lower,
    Upper,
    Length,
}

impl Func {
    /// The function called `name` (case-insensitive), with Spark's aliases.
    pub fn from_name(name: &str) -> Option<Func> {
        const NAMES: [(&str, Func); 7] = [
            ("lower", Func::Lower),
            ("lcase", Func::Lower),
            ("upper", Func::Upper),
            ("ucase", Func::Upper),
            ("length", Func::Length),
            ("char_length", Func::Length),
            ("character_length", Func::Length),
        ];
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, f)| *f)
    }
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
    /// `<=>`: equality where NULL equals NULL; never NULL itself.
    NullSafeEq,
}

impl CmpOp {
    /// Whether `ordering` (left against right) satisfies the operator.
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Eq | CmpOp::NullSafeEq => ordering.is_eq(),
            CmpOp::Ne => ordering.is_ne(),
            CmpOp::Lt => ordering.is_lt(),
            CmpOp::Le => ordering.is_le(),
            CmpOp::Gt => ordering.is_gt(),
            CmpOp::Ge => ordering.is_ge(),
        }
    }
}
