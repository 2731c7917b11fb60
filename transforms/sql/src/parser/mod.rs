//! Recursive descent from tokens to an [`Expr`], with Spark SQL's grammar
//! and precedence, loosest first:
//!
//! ```text
//! or         := and (OR and)*
//! and        := not (AND not)*
//! not        := (NOT | !) not | predicated
//! predicated := comparison [ [NOT] IN (or, ...) | [NOT] BETWEEN comparison AND comparison
//!                          | [NOT] LIKE 'pattern' [ESCAPE 'c']
//!                          | IS [NOT] (NULL | TRUE | FALSE | UNKNOWN | DISTINCT FROM comparison) ]
//! comparison := unary (( = | == | != | <> | < | <= | > | >= | <=> ) unary)*
//! unary      := (- | +) unary | primary
//! primary    := number | 'string'... | NULL | TRUE | FALSE | ( or )
//!             | function ( or ) | name (. name)*
//! ```
//!
//! So `NOT a = 1` is `NOT (a = 1)` and `a OR b AND c` is `a OR (b AND c)`.
//! Operands of `AND`, `OR`, `NOT` and `IS TRUE` that can never be booleans
//! (a string, a number, `lower(...)`) are refused here, before any record.
//!
//! This file holds the grammar down to primaries; `predicates.rs` the
//! predicates after a value, `cursor.rs` token access and the errors that
//! point at a token.

mod cursor;
mod predicates;
#[cfg(test)]
mod tests;

use crate::ast::{CmpOp, Expr, Func, Lit, Path};
use crate::error::ParseError;
use crate::lexer::{Sym, Tok, Token, tokenize};
use crate::val::Num;

/// Words that are never field names unless backquoted.
const RESERVED: [&str; 10] = ["AND", "OR", "NOT", "IN", "IS", "LIKE", "BETWEEN", "NULL", "TRUE", "FALSE"];

/// How deep parentheses, `NOT`, unary minus and chained comparisons may
/// nest, so neither parsing nor evaluation can exhaust the guest's stack.
const MAX_DEPTH: usize = 64;

/// Parses a whole expression, such as a `key`.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(src)?;
    let mut parser = Parser { src, tokens, pos: 0, depth: 0 };
    let expr = parser.or()?;
    parser.end()?;
    Ok(expr)
}

/// Parses a `where` condition: [`parse`], then refuses an expression whose
/// top level is a bare field or is never a boolean.
pub fn parse_condition(src: &str) -> Result<Expr, ParseError> {
    let expr = parse(src)?;
    if let Expr::Field(path) = &expr {
        let name = &path.name;
        return Err(ParseError::whole(format!(
            "expected a condition, found the field {name}; compare it, e.g. {name} = 'value', \
             or {name} = true if it holds booleans"
        )));
    }
    if let Some(kind) = expr.non_boolean() {
        let text = src.trim();
        return Err(ParseError::whole(format!("expected a condition, but {text} is {kind}")));
    }
    Ok(expr)
}

type Parsed = Result<Expr, ParseError>;

struct Parser<'s> {
    src: &'s str,
    /// Ends with [`Tok::End`], which is never consumed.
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn or(&mut self) -> Parsed {
        self.logical("OR", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Parsed {
        self.logical("AND", Self::not, Expr::And)
    }

    /// `operand (keyword operand)*`, flattened into one `join`ed list.
    fn logical(&mut self, keyword: &str, operand: fn(&mut Self) -> Parsed, join: fn(Vec<Expr>) -> Expr) -> Parsed {
        let what = format!("expected a condition on each side of {keyword}");
        let (first, span) = self.spanned(operand)?;
        if !self.at_word(keyword) {
            return Ok(first);
        }
        self.check_condition(&first, span, &what)?;
        let mut items = vec![first];
        while self.eat_word(keyword) {
            let (item, span) = self.spanned(operand)?;
            self.check_condition(&item, span, &what)?;
            items.push(item);
        }
        Ok(join(items))
    }

    fn not(&mut self) -> Parsed {
        if !self.at_word("NOT") && !self.at_sym(Sym::Bang) {
            return self.predicated();
        }
        self.enter()?;
        let op = self.advance();
        let what = format!("expected a condition after {}", self.text(&op));
        let (inner, span) = self.spanned(Self::not)?;
        self.check_condition(&inner, span, &what)?;
        self.depth -= 1;
        Ok(Expr::Not(Box::new(inner)))
    }

    fn predicated(&mut self) -> Parsed {
        let (value, span) = self.spanned(Self::comparison)?;
        let negated = self.eat_word("NOT");
        let keyword = match &self.peek().tok {
            Tok::Word(w) => w.to_ascii_uppercase(),
            _ => String::new(),
        };
        match keyword.as_str() {
            "IN" => self.in_list(value, negated),
            "BETWEEN" => self.between(value, negated),
            "LIKE" => self.like(value, negated),
            "IS" if !negated => self.is(value, span),
            "RLIKE" | "REGEXP" | "ILIKE" => {
                let what = format!("{keyword} is not supported");
                Err(ParseError::at(self.src, self.peek().start, &what, Some("use LIKE, which is case-sensitive")))
            }
            _ if negated => Err(self.error_here("expected IN, BETWEEN or LIKE after NOT")),
            _ => Ok(value),
        }
    }

    fn comparison(&mut self) -> Parsed {
        let mut left = self.operand()?;
        let mut chained = 0;
        while let Some(op) = self.comparison_op() {
            chained += 1;
            if self.depth + chained > MAX_DEPTH {
                return Err(self.too_deep());
            }
            self.advance();
            let right = self.operand()?;
            left = Expr::Cmp(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// A comparison operand, refusing the binary `+` and `-` Spark would allow there.
    fn operand(&mut self) -> Parsed {
        let value = self.unary()?;
        if self.at_sym(Sym::Plus) || self.at_sym(Sym::Minus) {
            let what = format!("operator '{}' is not supported (there is no arithmetic)", self.text(self.peek()));
            return Err(ParseError::at(self.src, self.peek().start, &what, None));
        }
        Ok(value)
    }

    fn comparison_op(&self) -> Option<CmpOp> {
        let Tok::Sym(sym) = self.peek().tok else { return None };
        Some(match sym {
            Sym::Eq => CmpOp::Eq,
            Sym::Ne => CmpOp::Ne,
            Sym::Lt => CmpOp::Lt,
            Sym::Le => CmpOp::Le,
            Sym::Gt => CmpOp::Gt,
            Sym::Ge => CmpOp::Ge,
            Sym::NullSafeEq => CmpOp::NullSafeEq,
            _ => return None,
        })
    }

    fn unary(&mut self) -> Parsed {
        let minus = self.at_sym(Sym::Minus);
        if !minus && !self.at_sym(Sym::Plus) {
            return self.primary();
        }
        self.enter()?;
        self.advance();
        let inner = self.unary()?;
        self.depth -= 1;
        Ok(match (minus, inner) {
            (false, inner) => inner,
            // `-9223372036854775808` is i64::MIN, though its digits alone overflow.
            (true, Expr::Lit(Lit::Num(Num::Float(f)))) if f == -(i64::MIN as f64) => {
                Expr::Lit(Lit::Num(Num::Int(i64::MIN)))
            }
            (true, Expr::Lit(Lit::Num(n))) => Expr::Lit(Lit::Num(n.negate())),
            (true, inner) => Expr::Neg(Box::new(inner)),
        })
    }

    fn primary(&mut self) -> Parsed {
        match self.peek().tok.clone() {
            Tok::Num(n) => {
                self.advance();
                Ok(Expr::Lit(Lit::Num(n)))
            }
            Tok::Str(_) => Ok(Expr::Lit(Lit::Str(self.string()))),
            Tok::Sym(Sym::LParen) => self.parenthesized(),
            Tok::Word(word) => self.word(&word),
            Tok::Quoted(_) => self.path(),
            _ => Err(self.expected_value()),
        }
    }

    /// A keyword literal, a function call or a field.
    fn word(&mut self, word: &str) -> Parsed {
        let literal = match word.to_ascii_uppercase().as_str() {
            "NULL" => Lit::Null,
            "TRUE" => Lit::Bool(true),
            "FALSE" => Lit::Bool(false),
            upper if RESERVED.contains(&upper) => return Err(self.expected_value()),
            _ if self.peek_next_is(Sym::LParen) => return self.call(word),
            _ => return self.path(),
        };
        self.advance();
        Ok(Expr::Lit(literal))
    }

    /// One string literal, or several side by side, which Spark joins.
    fn string(&mut self) -> String {
        let mut out = String::new();
        while let Tok::Str(s) = &self.peek().tok {
            out.push_str(s);
            self.advance();
        }
        out
    }

    fn parenthesized(&mut self) -> Parsed {
        self.enter()?;
        let open = self.advance();
        let inner = self.or()?;
        if !self.eat_sym(Sym::RParen) {
            return Err(match self.peek().tok {
                Tok::End => ParseError::at(self.src, open.start, "unclosed '('", None),
                _ => self.error_here("expected an operator, AND, OR or ')'"),
            });
        }
        self.depth -= 1;
        Ok(inner)
    }

    fn call(&mut self, name: &str) -> Parsed {
        let at = self.advance().start;
        let func = Func::from_name(name).ok_or_else(|| {
            let detail = "the functions supported are lower, upper and length";
            ParseError::at(self.src, at, &format!("unknown function {name}"), Some(detail))
        })?;
        let args = self.arguments("expected ',' or ')' after the function's arguments")?;
        match <[Expr; 1]>::try_from(args) {
            Ok([arg]) => Ok(Expr::Call(func, Box::new(arg))),
            Err(args) => {
                let detail = format!("found {}", args.len());
                Err(ParseError::at(self.src, at, &format!("{name} takes exactly one argument"), Some(&detail)))
            }
        }
    }

    /// `( [or (, or)*] )` after a function name or IN.
    fn arguments(&mut self, unclosed: &str) -> Result<Vec<Expr>, ParseError> {
        self.enter()?;
        self.advance();
        let mut items = Vec::new();
        if !self.at_sym(Sym::RParen) {
            items.push(self.or()?);
            while self.eat_sym(Sym::Comma) {
                items.push(self.or()?);
            }
        }
        if !self.eat_sym(Sym::RParen) {
            return Err(self.error_here(unclosed));
        }
        self.depth -= 1;
        Ok(items)
    }

    /// `name(.name)*`, each name plain or backquoted.
    fn path(&mut self) -> Parsed {
        let start = self.peek().start;
        let mut steps = Vec::new();
        loop {
            match self.peek().tok.clone() {
                Tok::Word(name) | Tok::Quoted(name) => steps.push(name),
                _ => return Err(self.error_here("expected a field name after '.'")),
            }
            self.advance();
            if !self.eat_sym(Sym::Dot) {
                break;
            }
        }
        let name = self.src[start..self.prev_end()].to_owned();
        Ok(Expr::Field(Path::new(steps, name)))
    }

    fn end(&self) -> Result<(), ParseError> {
        match self.peek().tok {
            Tok::End => Ok(()),
            Tok::Sym(Sym::RParen) => Err(ParseError::at(self.src, self.peek().start, "unmatched ')'", None)),
            _ => Err(self.error_here("expected an operator, AND, OR or the end of the expression")),
        }
    }
}
