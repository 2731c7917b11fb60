//! The evaluation context: what an expression sees besides its arguments.
//!
//! A [`Ctx`] is built for each record from the transform's fixed settings
//! (the session time zone, whether names are case-sensitive, caches of
//! compiled regular expressions) and the record itself. Lambda parameters
//! (`x` in `exists(xs, x -> x > 1)`) live on its small stack of locals
//! while a lambda body runs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use regex::Regex;
use sluice_guest_sdk::Record;

use crate::error::EvalError;
use crate::value::Value;
use crate::zone::TimeZone;

/// Settings fixed at init and caches that live as long as the transform.
#[derive(Debug)]
pub struct Session {
    /// The session time zone.
    pub timezone: TimeZone,
    /// `case_sensitive=true`: field names must match exactly.
    pub case_sensitive: bool,
    regexes: RefCell<HashMap<String, Rc<Regex>>>,
}

/// How many compiled patterns [`Ctx::regex`] keeps before it starts over.
const REGEX_CACHE_LIMIT: usize = 64;

impl Session {
    /// A session in `timezone`.
    pub fn new(timezone: TimeZone, case_sensitive: bool) -> Session {
        Session { timezone, case_sensitive, regexes: RefCell::default() }
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new(TimeZone::utc(), false)
    }
}

/// What an expression is evaluated against: the session and one record.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The session settings.
    pub session: &'a Session,
    /// The record, when there is one (constant folding has none).
    pub(crate) record: Option<&'a Record<'a>>,
    /// Values of the lambda parameters in scope, outermost first.
    pub(crate) locals: RefCell<Vec<Value>>,
}

impl<'a> Ctx<'a> {
    /// A context for `record`.
    pub fn new(session: &'a Session, record: &'a Record<'a>) -> Ctx<'a> {
        Ctx { session, record: Some(record), locals: RefCell::default() }
    }

    /// A context with no record, to evaluate constant expressions (and in tests).
    pub fn without_record(session: &'a Session) -> Ctx<'a> {
        Ctx { session, record: None, locals: RefCell::default() }
    }

    /// The session time zone.
    pub fn timezone(&self) -> &TimeZone {
        &self.session.timezone
    }

    /// `pattern` compiled as a regular expression, cached across records.
    /// A pattern Rust's `regex` cannot compile (look-around,
    /// back-references) is an error naming the pattern.
    pub fn regex(&self, pattern: &str) -> Result<Rc<Regex>, EvalError> {
        if let Some(regex) = self.session.regexes.borrow().get(pattern) {
            return Ok(Rc::clone(regex));
        }
        let regex = Rc::new(
            Regex::new(pattern)
                .map_err(|e| EvalError::InvalidRegex { pattern: pattern.to_owned(), reason: e.to_string() })?,
        );
        let mut cache = self.session.regexes.borrow_mut();
        if cache.len() >= REGEX_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), Rc::clone(&regex));
        Ok(regex)
    }
}
