//! Token access for the parser, and the errors that point at a token.

use super::{MAX_DEPTH, Parsed, Parser, RESERVED};
use crate::ast::Expr;
use crate::error::ParseError;
use crate::lexer::{Sym, Tok, Token};

impl Parser<'_> {
    pub(super) fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    pub(super) fn peek_next_is(&self, sym: Sym) -> bool {
        self.tokens.get(self.pos + 1).is_some_and(|t| t.tok == Tok::Sym(sym))
    }

    pub(super) fn advance(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if token.tok != Tok::End {
            self.pos += 1;
        }
        token
    }

    pub(super) fn at_word(&self, keyword: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    pub(super) fn eat_word(&mut self, keyword: &str) -> bool {
        let found = self.at_word(keyword);
        if found {
            self.advance();
        }
        found
    }

    pub(super) fn at_sym(&self, sym: Sym) -> bool {
        self.peek().tok == Tok::Sym(sym)
    }

    pub(super) fn eat_sym(&mut self, sym: Sym) -> bool {
        let found = self.at_sym(sym);
        if found {
            self.advance();
        }
        found
    }

    /// Where the last consumed token ends.
    pub(super) fn prev_end(&self) -> usize {
        self.pos.checked_sub(1).map_or(0, |i| self.tokens[i].end)
    }

    pub(super) fn text(&self, token: &Token) -> &str {
        &self.src[token.start..token.end]
    }

    /// Runs `parse`, returning what it built and the byte range it read.
    pub(super) fn spanned(&mut self, parse: fn(&mut Self) -> Parsed) -> Result<(Expr, (usize, usize)), ParseError> {
        let start = self.peek().start;
        let expr = parse(self)?;
        Ok((expr, (start, self.prev_end())))
    }

    /// One more level of nesting, refused past [`MAX_DEPTH`].
    pub(super) fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.too_deep());
        }
        Ok(())
    }

    pub(super) fn too_deep(&self) -> ParseError {
        let what = format!("expression nested more than {MAX_DEPTH} levels deep");
        ParseError::at(self.src, self.peek().start, &what, None)
    }

    /// Refuses `expr`, read from `span`, where a condition must go.
    pub(super) fn check_condition(&self, expr: &Expr, span: (usize, usize), what: &str) -> Result<(), ParseError> {
        let Some(kind) = expr.non_boolean() else { return Ok(()) };
        let detail = format!("found {}, which is {kind}", self.src[span.0..span.1].trim());
        Err(ParseError::at(self.src, span.0, what, Some(&detail)))
    }

    pub(super) fn expected_value(&self) -> ParseError {
        let what = match self.pos.checked_sub(1) {
            Some(prev) => format!("expected a value after '{}'", self.text(&self.tokens[prev])),
            None => "expected a value".to_owned(),
        };
        self.error_here(&what)
    }

    /// `what` at the next token, saying what that token is.
    pub(super) fn error_here(&self, what: &str) -> ParseError {
        let token = self.peek();
        let text = self.text(token);
        let found = match &token.tok {
            Tok::End => "the end of the expression".to_owned(),
            Tok::Str(_) => format!("the string {text}"),
            Tok::Num(_) => format!("the number {text}"),
            Tok::Word(w) if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)) => format!("'{text}'"),
            Tok::Word(_) | Tok::Quoted(_) => format!("the name {text}"),
            Tok::Sym(_) => format!("'{text}'"),
        };
        ParseError::at(self.src, token.start, what, Some(&format!("found {found}")))
    }
}
