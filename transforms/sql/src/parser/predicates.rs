//! The predicates that may follow a value: `[NOT] IN`, `[NOT] BETWEEN`,
//! `[NOT] LIKE ... [ESCAPE]` and `IS [NOT] ...`.

use super::{Parsed, Parser};
use crate::ast::{CmpOp, Expr};
use crate::error::ParseError;
use crate::lexer::{Sym, Tok};
use crate::like::Pattern;

impl Parser<'_> {
    pub(super) fn in_list(&mut self, value: Expr, negated: bool) -> Parsed {
        self.advance();
        if !self.at_sym(Sym::LParen) {
            return Err(self.error_here("expected '(' after IN"));
        }
        let list = self.arguments("expected ',' or ')' in the IN list")?;
        if list.is_empty() {
            return Err(ParseError::at(self.src, self.prev_end() - 1, "IN needs at least one value", None));
        }
        Ok(Expr::In { value: Box::new(value), list, negated })
    }

    /// `BETWEEN low AND high`, as Spark rewrites it: `value >= low AND value <= high`.
    pub(super) fn between(&mut self, value: Expr, negated: bool) -> Parsed {
        self.advance();
        let low = self.comparison()?;
        if !self.eat_word("AND") {
            return Err(self.error_here("expected AND between the bounds of BETWEEN"));
        }
        let high = self.comparison()?;
        let at_least = Expr::Cmp(CmpOp::Ge, Box::new(value.clone()), Box::new(low));
        let at_most = Expr::Cmp(CmpOp::Le, Box::new(value), Box::new(high));
        let range = Expr::And(vec![at_least, at_most]);
        Ok(if negated { Expr::Not(Box::new(range)) } else { range })
    }

    pub(super) fn like(&mut self, value: Expr, negated: bool) -> Parsed {
        self.advance();
        let at = self.peek().start;
        let pattern = match &self.peek().tok {
            Tok::Str(_) => Some(self.string()),
            Tok::Word(w) if w.eq_ignore_ascii_case("NULL") => {
                self.advance();
                None
            }
            _ => return Err(self.error_here("expected a string pattern after LIKE")),
        };
        let escape = self.escape()?;
        let pattern = pattern
            .map(|p| Pattern::compile(&p, escape))
            .transpose()
            .map_err(|why| ParseError::at(self.src, at, "invalid LIKE pattern", Some(&why)))?;
        Ok(Expr::Like { value: Box::new(value), pattern, negated })
    }

    /// An optional `ESCAPE 'c'`; `\` when absent.
    pub(super) fn escape(&mut self) -> Result<char, ParseError> {
        if !self.eat_word("ESCAPE") {
            return Ok('\\');
        }
        if let Tok::Str(s) = &self.peek().tok {
            let mut chars = s.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                self.advance();
                return Ok(c);
            }
        }
        Err(self.error_here("expected a one-character string after ESCAPE"))
    }

    pub(super) fn is(&mut self, value: Expr, span: (usize, usize)) -> Parsed {
        self.advance();
        let negated = self.eat_word("NOT");
        let keyword = match &self.peek().tok {
            Tok::Word(w) => w.to_ascii_uppercase(),
            _ => String::new(),
        };
        let truth = match keyword.as_str() {
            "NULL" => None,
            "TRUE" => Some(Some(true)),
            "FALSE" => Some(Some(false)),
            "UNKNOWN" => Some(None),
            "DISTINCT" => return self.distinct(value, negated),
            _ => {
                let is = if negated { "IS NOT" } else { "IS" };
                return Err(
                    self.error_here(&format!("expected NULL, TRUE, FALSE, UNKNOWN or DISTINCT FROM after {is}"))
                );
            }
        };
        self.advance();
        let value = Box::new(value);
        let Some(truth) = truth else { return Ok(Expr::IsNull { value, negated }) };
        self.check_condition(&value, span, &format!("expected a condition before IS {keyword}"))?;
        Ok(Expr::IsTruth { value, truth, negated })
    }

    /// `IS [NOT] DISTINCT FROM right`, as `NOT (value <=> right)` or `value <=> right`.
    pub(super) fn distinct(&mut self, value: Expr, negated: bool) -> Parsed {
        self.advance();
        if !self.eat_word("FROM") {
            return Err(self.error_here("expected FROM after DISTINCT"));
        }
        let right = self.comparison()?;
        let same = Expr::Cmp(CmpOp::NullSafeEq, Box::new(value), Box::new(right));
        Ok(if negated { same } else { Expr::Not(Box::new(same)) })
    }
}
