//! The transform itself: reads the config into compiled columns at init,
//! then for each record evaluates `where` and the Kafka columns (`key`,
//! `value`, `header.NAME`, `timestamp`, `topic`, `partition`).

use std::rc::Rc;

use sluice_guest_sdk::{Config, Emitter, Error, Header, Kind, Message, Record, Result, Transform, export_transform};

use crate::compile::{Compiled, Scope, compile};
use crate::ctx::{Ctx, Session};
use crate::expr::{Field, Node};
use crate::json_in;
use crate::names::{NameCheck, Wanted};
use crate::schema::Schema;
use crate::value::render::to_text;
use crate::value::{DataType, Value};
use crate::zone::TimeZone;

/// Config keys besides `header.NAME`.
const KEYS: [&str; 11] = [
    "where",
    "key",
    "value",
    "timestamp",
    "topic",
    "partition",
    "schema",
    "mode",
    "timezone",
    "case_sensitive",
    "strict_fields",
];

/// Spark's JSON reader modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A value that does not fit its type becomes NULL.
    Permissive,
    /// The record goes to the dead letters, naming the field.
    DropMalformed,
    /// Likewise, marked FAILFAST (see the crate docs).
    FailFast,
}

/// A column expression, with the fast path for a plain field.
#[derive(Debug)]
enum Column {
    /// A top-level field with no schema: a string's content or a boolean's
    /// text as written; any other value is evaluated and cast to a string.
    Raw(Rc<Field>),
    /// Any other expression.
    Expr(Node),
}

/// The `sql` transform.
#[derive(Debug)]
pub struct SqlTransform {
    session: Session,
    schema: Option<Schema>,
    mode: Mode,
    condition: Option<Node>,
    key: Option<Column>,
    value: Option<Node>,
    headers: Vec<(String, Column)>,
    timestamp: Option<Node>,
    topic: Option<Node>,
    partition: Option<Node>,
    names: NameCheck,
}

impl Transform for SqlTransform {
    fn init(config: &Config) -> Result<Self> {
        if let Some((key, _)) = config.iter().find(|(k, _)| !KEYS.contains(k) && !k.starts_with("header.")) {
            let known = KEYS.join(", ");
            return Err(Error::new(format!("unknown config `{key}`; this transform accepts: {known}, header.NAME")));
        }
        let session = Session::new(timezone(config)?, flag(config, "case_sensitive")?);
        let schema = config
            .get("schema")
            .map(|s| Schema::parse(s).map_err(|e| Error::new(format!("`schema`: {e}"))))
            .transpose()?;
        let mode = mode(config, schema.is_some())?;
        let mut t = SqlTransform {
            session,
            schema,
            mode,
            condition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
            topic: None,
            partition: None,
            names: NameCheck::default(),
        };
        let w = &mut Vec::new();
        t.condition = t.compile_where(config.get("where"), w)?;
        t.key = config.get("key").map(|src| t.column("key", src, w)).transpose()?;
        t.value = config.get("value").map(|src| t.expr("value", src, w)).transpose()?;
        t.timestamp = config.get("timestamp").map(|src| t.expr("timestamp", src, w)).transpose()?;
        t.topic = config.get("topic").map(|src| t.expr("topic", src, w)).transpose()?;
        t.partition = config.get("partition").map(|src| t.expr("partition", src, w)).transpose()?;
        for (key, src) in config.iter() {
            if let Some(name) = key.strip_prefix("header.") {
                t.headers.retain(|(n, _)| n != name);
                let column = t.column(key, src, w)?;
                t.headers.push((name.to_owned(), column));
            }
        }
        // With a schema every name was resolved against it above.
        let wanted = if t.schema.is_some() { Vec::new() } else { std::mem::take(w) };
        t.names = NameCheck::new(wanted, flag(config, "strict_fields")?, t.session.case_sensitive);
        Ok(t)
    }

    fn end_batch(&self) {
        self.names.end_batch();
    }

    fn filter(&self, record: &Record<'_>) -> Result<bool> {
        self.check_schema(record)?;
        let Some(condition) = &self.condition else { return Ok(true) };
        let ctx = Ctx::new(&self.session, record);
        let truth = condition.truth(&ctx).map_err(|e| Error::new(format!("`where`: {e}")))?;
        Ok(truth == Some(true))
    }

    fn key(&self, record: &Record<'_>) -> Result<Option<Vec<u8>>> {
        let Some(key) = &self.key else { return Ok(None) };
        self.bytes("key", key, record)
    }

    fn value(&self, record: &Record<'_>, out: &mut Vec<u8>) -> Result<()> {
        match (&self.value, &self.schema) {
            (None, None) => record.write_compact_json(out),
            (None, Some(schema)) => {
                let ctx = Ctx::new(&self.session, record);
                let mut text = String::new();
                let fields = schema.fields.iter().map(|f| {
                    let raw = find(&ctx, &f.name)?;
                    let value = raw.map_or(Ok(Value::Null), |raw| self.typed(&f.name, raw.raw(), &f.data_type))?;
                    Ok((Rc::from(f.name.as_str()), value))
                });
                let fields = fields.collect::<Result<Vec<_>>>()?;
                crate::json_out::write(&Value::Struct(fields.into()), &self.session.timezone, &mut text);
                out.extend_from_slice(text.as_bytes());
            }
            (Some(node), _) => {
                let ctx = Ctx::new(&self.session, record);
                let value = node.eval(&ctx).map_err(|e| Error::new(format!("`value`: {e}")))?;
                if let Some(bytes) = to_bytes(&value, &self.session.timezone) {
                    out.extend_from_slice(&bytes);
                }
            }
        }
        Ok(())
    }

    /// A `value` expression may be NULL, which the `value` hook cannot say:
    /// the message is built here, with a null value (a tombstone) as Spark's
    /// Kafka sink writes a NULL `value`.
    fn flat_map(&self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        self.names.observe(record)?;
        if !self.filter(record)? {
            return Ok(());
        }
        let Some(node) = &self.value else { return out.push_from_hooks(self, record) };
        let key = self.key(record)?;
        let headers = self.headers(record)?;
        let timestamp_ms = self.timestamp(record)?;
        let topic = self.topic(record)?;
        let partition = self.partition(record)?;
        let value = to_bytes(&self.eval("value", node, record)?, &self.session.timezone);
        out.push(&Message {
            key: key.as_deref(),
            value: value.as_deref(),
            headers: headers.iter().map(|h| (h.name.as_str(), h.value.as_deref())).collect(),
            timestamp_ms,
            topic: topic.as_deref(),
            partition,
        });
        Ok(())
    }

    fn headers(&self, record: &Record<'_>) -> Result<Vec<Header>> {
        self.headers
            .iter()
            .map(|(name, column)| {
                let value = self.bytes(&format!("header.{name}"), column, record)?;
                Ok(Header { name: name.clone(), value })
            })
            .collect()
    }

    fn timestamp(&self, record: &Record<'_>) -> Result<Option<i64>> {
        let Some(node) = &self.timestamp else { return Ok(None) };
        let value = self.eval("timestamp", node, record)?;
        Ok(match value {
            Value::Null => None,
            Value::Timestamp(micros) => Some(micros.div_euclid(1000)),
            Value::String(_) => match crate::cast::cast(&value, &DataType::Timestamp, &self.session.timezone) {
                Ok(Value::Timestamp(micros)) => Some(micros.div_euclid(1000)),
                Ok(_) | Err(_) => return Err(Error::new("`timestamp`: the string is not a timestamp")),
            },
            v => match crate::cast::cast(&v, &DataType::Long, &self.session.timezone) {
                Ok(Value::Long(ms)) => Some(ms),
                _ => {
                    return Err(Error::new(format!(
                        "`timestamp`: {} is not a timestamp or epoch milliseconds",
                        v.data_type()
                    )));
                }
            },
        })
    }

    fn topic(&self, record: &Record<'_>) -> Result<Option<String>> {
        let Some(node) = &self.topic else { return Ok(None) };
        Ok(to_bytes(&self.eval("topic", node, record)?, &self.session.timezone)
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn partition(&self, record: &Record<'_>) -> Result<Option<i32>> {
        let Some(node) = &self.partition else { return Ok(None) };
        let value = self.eval("partition", node, record)?;
        if value.is_null() {
            return Ok(None);
        }
        match crate::cast::cast(&value, &DataType::Int, &self.session.timezone) {
            Ok(Value::Int(p)) if p >= 0 => Ok(Some(p)),
            Ok(_) => Err(Error::new(format!(
                "`partition`: {} is negative",
                to_text(&value, &self.session.timezone).unwrap_or_default()
            ))),
            Err(e) => Err(Error::new(format!("`partition`: {e}"))),
        }
    }
}

export_transform!(SqlTransform);

impl SqlTransform {
    fn scope(&self) -> Scope<'_> {
        Scope { session: &self.session, schema: self.schema.as_ref() }
    }

    /// `src` compiled for the config `key`; the fields it reads are added to `wanted`.
    fn expr(&self, key: &str, src: &str, wanted: &mut Vec<Wanted>) -> Result<Node> {
        if src.trim().is_empty() {
            return Err(Error::new(format!("`{key}` is empty; leave it out for the default")));
        }
        Ok(self.compile(key, src, wanted)?.node)
    }

    fn compile(&self, key: &str, src: &str, wanted: &mut Vec<Wanted>) -> Result<Compiled> {
        let compiled = compile(src, &self.scope()).map_err(|e| Error::new(format!("`{key}`: {e}")))?;
        wanted.extend(compiled.fields.iter().map(|name| Wanted { key: key.to_owned(), name: name.clone() }));
        Ok(compiled)
    }

    fn compile_where(&self, src: Option<&str>, wanted: &mut Vec<Wanted>) -> Result<Option<Node>> {
        let Some(src) = src else { return Ok(None) };
        if src.trim().is_empty() {
            return Err(Error::new("`where` is empty; leave it out to keep every record"));
        }
        let compiled = self.compile("where", src, wanted)?;
        match compiled.data_type {
            DataType::Boolean | DataType::Null | DataType::Any => {}
            other => return Err(Error::new(format!("`where` must be a condition, but `{src}` is {other}"))),
        }
        Ok(Some(fast_where(compiled.node)))
    }

    fn column(&self, key: &str, src: &str, wanted: &mut Vec<Wanted>) -> Result<Column> {
        let node = self.expr(key, src, wanted)?;
        Ok(match node {
            Node::Field(field) if field.steps.is_empty() && field.schema_type.is_none() => Column::Raw(field),
            other => Column::Expr(other),
        })
    }

    fn eval(&self, key: &str, node: &Node, record: &Record<'_>) -> Result<Value> {
        let ctx = Ctx::new(&self.session, record);
        node.eval(&ctx).map_err(|e| Error::new(format!("`{key}`: {e}")))
    }

    fn bytes(&self, key: &str, column: &Column, record: &Record<'_>) -> Result<Option<Vec<u8>>> {
        match column {
            Column::Raw(field) => {
                let ctx = Ctx::new(&self.session, record);
                let raw = field.raw(&ctx).map_err(|e| Error::new(format!("`{key}`: {e}")))?;
                match raw.map(|v| (v.kind(), v)) {
                    None | Some((Kind::Null, _)) => Ok(None),
                    Some((Kind::String | Kind::Bool, v)) => Ok(Some(v.to_bytes().into_owned())),
                    // An integer's digits are Spark's text (one beyond BIGINT
                    // too: Spark infers a DECIMAL(20,0)).
                    Some((Kind::Number, v)) if is_integer(v.raw()) => Ok(Some(v.raw().to_vec())),
                    // Any other number, struct or array prints as Spark casts
                    // it to a string (`1e20` is `1.0E20`), not as the JSON wrote it.
                    Some(_) => {
                        let value =
                            Node::Field(field.clone()).eval(&ctx).map_err(|e| Error::new(format!("`{key}`: {e}")))?;
                        Ok(to_bytes(&value, &self.session.timezone))
                    }
                }
            }
            Column::Expr(node) => Ok(to_bytes(&self.eval(key, node, record)?, &self.session.timezone)),
        }
    }

    fn typed(&self, name: &str, raw: &[u8], to: &DataType) -> Result<Value> {
        match json_in::typed(raw, to, &self.session.timezone) {
            Ok(v) => Ok(v),
            Err(_) if self.mode == Mode::Permissive => Ok(Value::Null),
            Err(reason) => Err(self.malformed(name, &reason)),
        }
    }

    fn malformed(&self, name: &str, reason: &str) -> Error {
        let mode = if self.mode == Mode::FailFast { "FAILFAST: " } else { "" };
        Error::new(format!("[MALFORMED_RECORD_IN_PARSING] {mode}field `{name}`: {reason}"))
    }

    /// With `DROPMALFORMED` or `FAILFAST`, every schema field must fit its type.
    fn check_schema(&self, record: &Record<'_>) -> Result<()> {
        let Some(schema) = &self.schema else { return Ok(()) };
        if self.mode == Mode::Permissive {
            return Ok(());
        }
        let ctx = Ctx::new(&self.session, record);
        for field in &schema.fields {
            if let Some(raw) = find(&ctx, &field.name)? {
                self.typed(&field.name, raw.raw(), &field.data_type)?;
            }
        }
        Ok(())
    }
}

/// The member for a schema field, by the session's name matching.
fn find<'r>(ctx: &Ctx<'r>, name: &str) -> Result<Option<sluice_guest_sdk::RawValue<'r>>> {
    let field = Field { top: name.to_owned(), steps: Vec::new(), schema_type: None, name: name.to_owned() };
    field.raw(ctx).map_err(Error::new)
}

/// `Field = 'literal'` (either way round) on an untyped top-level field
/// becomes the allocation-free fast path.
fn fast_where(node: Node) -> Node {
    use crate::expr::CmpOp;
    match node {
        Node::Cmp(CmpOp::Eq, l, r) => match (*l, *r) {
            (Node::Field(f), Node::Literal(Value::String(s))) | (Node::Literal(Value::String(s)), Node::Field(f))
                if f.steps.is_empty() && f.schema_type.is_none() =>
            {
                Node::FieldEqStr { field: f, literal: s }
            }
            (l, r) => Node::Cmp(CmpOp::Eq, Box::new(l), Box::new(r)),
        },
        Node::And(l, r) => Node::And(Box::new(fast_where(*l)), Box::new(fast_where(*r))),
        Node::Or(l, r) => Node::Or(Box::new(fast_where(*l)), Box::new(fast_where(*r))),
        other => other,
    }
}

/// Whether a JSON number's text is an integer as Spark prints it: digits,
/// maybe a minus (`-0` is printed `0`).
fn is_integer(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) && text != b"-0"
}

/// A value as Kafka bytes: a string's UTF-8, binary as is, anything else
/// cast to a string; NULL is no bytes.
fn to_bytes(value: &Value, zone: &TimeZone) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Binary(b) => Some(b.to_vec()),
        other => to_text(other, zone).map(String::into_bytes),
    }
}

fn timezone(config: &Config) -> Result<TimeZone> {
    let Some(text) = config.get("timezone") else { return Ok(TimeZone::utc()) };
    TimeZone::parse(text).ok_or_else(|| {
        Error::new(format!(
            "`timezone`: unknown time zone `{text}`; give a region (Europe/Paris), UTC or an offset (+05:30)"
        ))
    })
}

fn flag(config: &Config, key: &str) -> Result<bool> {
    match config.get(key).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Error::new(format!("`{key}` must be true or false, not `{other}`"))),
    }
}

fn mode(config: &Config, has_schema: bool) -> Result<Mode> {
    let Some(text) = config.get("mode") else { return Ok(Mode::Permissive) };
    let mode = match text.to_ascii_uppercase().as_str() {
        "PERMISSIVE" => Mode::Permissive,
        "DROPMALFORMED" => Mode::DropMalformed,
        "FAILFAST" => Mode::FailFast,
        _ => return Err(Error::new(format!("`mode` must be PERMISSIVE, DROPMALFORMED or FAILFAST, not `{text}`"))),
    };
    if !has_schema && mode != Mode::Permissive {
        return Err(Error::new("`mode` needs a `schema`: without one every JSON value fits"));
    }
    Ok(mode)
}
