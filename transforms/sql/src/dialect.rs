//! The SQL dialect: `sqlparser`'s Databricks dialect (Spark SQL's closest:
//! backquoted names, lambdas, `::`, `RLIKE`, `<=>`, `!`, typed literals,
//! backslash escapes), extended with what it lacks for Spark expressions:
//! the `DIV` operator and `struct(*)`, which it parses as a bare
//! [`Expr::Wildcard`] that the compiler reads as "every field".

use std::any::TypeId;

use sqlparser::ast::Expr;
use sqlparser::dialect::{DatabricksDialect, Dialect, Precedence};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// Spark SQL as `sql.wasm` parses it.
#[derive(Debug, Default)]
pub struct SparkDialect {
    inner: DatabricksDialect,
}

impl Dialect for SparkDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<DatabricksDialect>()
    }
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.inner.is_delimited_identifier_start(ch)
    }
    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.inner.identifier_quote_style(identifier)
    }
    fn is_identifier_start(&self, ch: char) -> bool {
        self.inner.is_identifier_start(ch)
    }
    fn is_identifier_part(&self, ch: char) -> bool {
        self.inner.is_identifier_part(ch)
    }
    fn supports_lambda_functions(&self) -> bool {
        true
    }
    fn require_interval_qualifier(&self) -> bool {
        self.inner.require_interval_qualifier()
    }
    fn supports_struct_literal(&self) -> bool {
        true
    }
    fn supports_nested_comments(&self) -> bool {
        true
    }
    fn supports_bang_not_operator(&self) -> bool {
        true
    }
    fn supports_map_literal_with_angle_brackets(&self) -> bool {
        self.inner.supports_map_literal_with_angle_brackets()
    }
    fn supports_string_literal_backslash_escape(&self) -> bool {
        true
    }
    fn supports_comparison_in_between_low_bound(&self) -> bool {
        self.inner.supports_comparison_in_between_low_bound()
    }

    /// `struct(*)` as a bare wildcard, and numbers with Spark's type
    /// suffixes (`1.5D`, `2F`, `3S`, `4Y`, `5BD`).
    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        if let Some(number) = suffixed_number(parser) {
            return Some(Ok(number));
        }
        let [a, b, c, d] = parser.peek_tokens();
        let is_struct = matches!(&a, Token::Word(w) if w.value.eq_ignore_ascii_case("struct"));
        if !(is_struct && b == Token::LParen && c == Token::Mul && d == Token::RParen) {
            return None;
        }
        let start = parser.next_token();
        for _ in 0..3 {
            parser.next_token();
        }
        Some(Ok(Expr::Wildcard(sqlparser::ast::helpers::attached_token::AttachedToken(start))))
    }

    /// `a DIV b`: integral division, at the precedence of `*`.
    fn parse_infix(&self, parser: &mut Parser, expr: &Expr, _precedence: u8) -> Option<Result<Expr, ParserError>> {
        if !parser.parse_keyword(Keyword::DIV) {
            return None;
        }
        let precedence = self.prec_value(Precedence::MulDivModOp);
        Some(parser.parse_subexpr(precedence).map(|right| Expr::BinaryOp {
            left: Box::new(expr.clone()),
            op: sqlparser::ast::BinaryOperator::MyIntegerDivide,
            right: Box::new(right),
        }))
    }
}

/// A number token followed, with no space between, by a Spark type suffix
/// (the tokenizer reads `1.5D` as `1.5` then `D`): one number literal,
/// `1.5D`, that the compiler types by its suffix.
fn suffixed_number(parser: &mut Parser) -> Option<Expr> {
    let [number, suffix] = parser.peek_tokens_with_location();
    let (Token::Number(digits, false), Token::Word(word)) = (&number.token, &suffix.token) else { return None };
    let known = ["D", "F", "S", "Y", "BD"].iter().any(|s| word.value.eq_ignore_ascii_case(s));
    if !known || word.quote_style.is_some() || number.span.end != suffix.span.start {
        return None;
    }
    let text = format!("{digits}{}", word.value);
    let span = number.span.union(&suffix.span);
    parser.next_token();
    parser.next_token();
    Some(Expr::Value(sqlparser::ast::Value::Number(text, false).with_span(span)))
}
