//! The Spark DDL reader behind [`crate::schema`]: a field list
//! (`InvoiceNumber STRING, Addr STRUCT<City: STRING>`) or one type name,
//! read token by token so an error can say, as Spark's
//! `PARSE_SYNTAX_ERROR` does, what was expected, at or near what, at which
//! 0-based position, and for which field:
//! ``[PARSE_SYNTAX_ERROR] syntax error at or near `TotalAmount` at position 15: expected `,` or end of input after the type of `StoreID` ``.

use crate::value::{DataType, StructField};

/// One token and the 0-based character position it starts at.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A name or keyword: letters, digits, `_`.
    Word(String),
    /// A backquoted name, without its quotes (``` `` ``` is one backquote).
    Quoted(String),
    /// A single-quoted string (a `COMMENT`'s text).
    Str,
    /// `,` `:` `<` `>` `(` `)` or any other single character.
    Punct(char),
    /// The end of the text.
    End,
}

/// Reads DDL text; each method consumes what it names.
pub struct Ddl {
    toks: Vec<(Tok, usize)>,
    at: usize,
}

impl Ddl {
    /// Splits `text` into tokens; an unclosed quote is an error.
    pub fn new(text: &str) -> Result<Ddl, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let start = i;
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            let tok = if c.is_alphanumeric() || c == '_' {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                Tok::Word(chars[start..i].iter().collect())
            } else if c == '`' || c == '\'' {
                let name = if c == '`' { "backquote" } else { "quote" };
                let (body, end) = quoted(&chars, start).ok_or_else(|| {
                    syntax(&format!("a {name}"), start, &format!("expected the {name} that closes it"))
                })?;
                i = end;
                if c == '`' { Tok::Quoted(body) } else { Tok::Str }
            } else {
                i += 1;
                Tok::Punct(c)
            };
            toks.push((tok, start));
        }
        toks.push((Tok::End, chars.len()));
        Ok(Ddl { toks, at: 0 })
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }

    fn next(&mut self) -> Tok {
        let tok = self.toks[self.at].0.clone();
        self.at = (self.at + 1).min(self.toks.len() - 1);
        tok
    }

    fn eat(&mut self, c: char) -> bool {
        let found = *self.peek() == Tok::Punct(c);
        if found {
            self.next();
        }
        found
    }

    /// The syntax error for the current token: `expected`, then `context`.
    pub fn expected(&self, expected: &str) -> String {
        let (tok, pos) = &self.toks[self.at];
        let near = match tok {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Quoted(q) => format!("`{q}`"),
            Tok::Str => "a string".to_owned(),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::End => "end of input".to_owned(),
        };
        syntax(&near, *pos, &format!("expected {expected}"))
    }

    /// Whether the whole text has been read.
    pub fn at_end(&self) -> bool {
        *self.peek() == Tok::End
    }

    /// A field list up to the end of the text: `name TYPE, ...`.
    pub fn fields(&mut self) -> Result<Vec<StructField>, String> {
        let mut fields = vec![self.field()?];
        while self.eat(',') {
            fields.push(self.field()?);
        }
        if !self.at_end() {
            let last = &fields[fields.len() - 1].name;
            return Err(self.expected(&format!("`,` or end of input after the type of `{last}`")));
        }
        Ok(fields)
    }

    /// `name [:] TYPE [NOT NULL] [COMMENT '...']`.
    fn field(&mut self) -> Result<StructField, String> {
        let name = match self.peek().clone() {
            Tok::Word(w) | Tok::Quoted(w) => w,
            _ => return Err(self.expected("a field name")),
        };
        self.next();
        self.eat(':');
        let data_type = self.data_type(&name)?;
        // `NOT NULL` and `COMMENT '...'` are accepted and ignored, as Spark's reader does.
        if self.word_is("NOT") {
            self.next();
            if !self.word_is("NULL") {
                return Err(self.expected(&format!("NULL after NOT in `{name}`")));
            }
            self.next();
        }
        if self.word_is("COMMENT") {
            self.next();
            if *self.peek() != Tok::Str {
                return Err(self.expected(&format!("a quoted comment for `{name}`")));
            }
            self.next();
        }
        Ok(StructField { name, data_type })
    }

    fn word_is(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    /// A type, for the field `of`.
    pub fn data_type(&mut self, of: &str) -> Result<DataType, String> {
        let pos = self.toks[self.at].1;
        let Tok::Word(word) = self.peek().clone() else { return Err(self.expected(&format!("a type for `{of}`"))) };
        self.next();
        let upper = word.to_ascii_uppercase();
        let simple = match upper.as_str() {
            "BOOLEAN" | "BOOL" => Some(DataType::Boolean),
            "TINYINT" | "BYTE" => Some(DataType::Byte),
            "SMALLINT" | "SHORT" => Some(DataType::Short),
            "INT" | "INTEGER" => Some(DataType::Int),
            "BIGINT" | "LONG" => Some(DataType::Long),
            "FLOAT" | "REAL" => Some(DataType::Float),
            "DOUBLE" => Some(DataType::Double),
            "STRING" | "TEXT" => Some(DataType::String),
            "BINARY" => Some(DataType::Binary),
            "DATE" => Some(DataType::Date),
            "TIMESTAMP" | "TIMESTAMP_LTZ" => Some(DataType::Timestamp),
            _ => None,
        };
        if let Some(simple) = simple {
            return Ok(simple);
        }
        match upper.as_str() {
            "DECIMAL" | "DEC" | "NUMERIC" => self.decimal(of),
            "VARCHAR" | "CHAR" => self.numbers(&upper, of).map(|_| DataType::String),
            "ARRAY" => {
                self.open(&upper, of)?;
                let element = self.data_type(of)?;
                self.close(&upper, of)?;
                Ok(DataType::Array(Box::new(element)))
            }
            "MAP" => self.map(of),
            "STRUCT" => self.structure(of),
            _ => Err(format!("[UNSUPPORTED_DATATYPE] unsupported data type `{word}` for `{of}` at position {pos}")),
        }
    }

    fn open(&mut self, what: &str, of: &str) -> Result<(), String> {
        if self.eat('<') { Ok(()) } else { Err(self.expected(&format!("`<` after {what} in the type of `{of}`"))) }
    }

    fn close(&mut self, what: &str, of: &str) -> Result<(), String> {
        if self.eat('>') { Ok(()) } else { Err(self.expected(&format!("`>` to close {what}< in the type of `{of}`"))) }
    }

    fn map(&mut self, of: &str) -> Result<DataType, String> {
        self.open("MAP", of)?;
        let key = self.data_type(of)?;
        if !self.eat(',') {
            return Err(self.expected(&format!("`,` between the key and value types of MAP< in the type of `{of}`")));
        }
        let value = self.data_type(of)?;
        self.close("MAP", of)?;
        Ok(DataType::Map(Box::new(key), Box::new(value)))
    }

    fn structure(&mut self, of: &str) -> Result<DataType, String> {
        self.open("STRUCT", of)?;
        let mut fields = Vec::new();
        if self.eat('>') {
            return Ok(DataType::Struct(fields));
        }
        loop {
            fields.push(self.field()?);
            if self.eat('>') {
                return Ok(DataType::Struct(fields));
            }
            if !self.eat(',') {
                let last = &fields[fields.len() - 1].name;
                return Err(self.expected(&format!("`,` or `>` after the type of `{last}` in STRUCT<")));
            }
        }
    }

    /// `(n[, m])` after a type name: the numbers.
    fn numbers(&mut self, what: &str, of: &str) -> Result<Vec<u32>, String> {
        if !self.eat('(') {
            return Err(self.expected(&format!("`(` after {what} in the type of `{of}`")));
        }
        let mut numbers = Vec::new();
        loop {
            match self.peek().clone() {
                Tok::Word(w) if w.parse::<u32>().is_ok() => numbers.push(w.parse().expect("checked")),
                _ => return Err(self.expected(&format!("a number in {what}( of `{of}`"))),
            }
            self.next();
            if self.eat(')') {
                return Ok(numbers);
            }
            if !self.eat(',') {
                return Err(self.expected(&format!("`,` or `)` in {what}( of `{of}`")));
            }
        }
    }

    fn decimal(&mut self, of: &str) -> Result<DataType, String> {
        if *self.peek() != Tok::Punct('(') {
            return Ok(DataType::Decimal(10, 0));
        }
        let pos = self.toks[self.at].1;
        match self.numbers("DECIMAL", of)?.as_slice() {
            [p] if (1..=38).contains(p) => Ok(DataType::Decimal(*p as u8, 0)),
            [p, s] if (1..=38).contains(p) && s <= p => Ok(DataType::Decimal(*p as u8, *s as u8)),
            _ => Err(format!(
                "bad DECIMAL for `{of}` at position {pos}: precision 1 to 38, scale 0 to precision, as DECIMAL(10,2)"
            )),
        }
    }
}

/// The body of the quote opened at `start` and the index just past its
/// close; a doubled quote stands for one.
fn quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let q = chars[start];
    let mut body = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return None,
            Some(&c) if c == q && chars.get(i + 1) == Some(&q) => {
                body.push(q);
                i += 2;
            }
            Some(&c) if c == q => return Some((body, i + 1)),
            Some(&c) => {
                body.push(c);
                i += 1;
            }
        }
    }
}

fn syntax(near: &str, pos: usize, what: &str) -> String {
    format!("[PARSE_SYNTAX_ERROR] syntax error at or near {near} at position {pos}: {what}")
}
