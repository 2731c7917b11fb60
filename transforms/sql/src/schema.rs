//! Spark DDL: the `schema` config (`InvoiceNumber STRING, TotalAmount
//! DOUBLE, DeliveryAddress STRUCT<City: STRING>`), and type names as
//! `CAST(x AS t)` takes them.

use crate::value::{DataType, StructField};

/// A record schema: top-level fields in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The fields, in schema order.
    pub fields: Vec<StructField>,
}

impl Schema {
    /// Reads a Spark DDL field list; the error says which part is wrong.
    pub fn parse(ddl: &str) -> Result<Schema, String> {
        let parts = split_top(ddl.trim(), ',');
        let fields = parts.iter().map(|p| parse_field(p.trim(), ' ')).collect::<Result<Vec<_>, _>>()?;
        if fields.is_empty() {
            return Err("the schema has no fields".to_owned());
        }
        Ok(Schema { fields })
    }

    /// The field called `name` (ignoring case unless `case_sensitive`);
    /// two fields that match in different case are an error naming both.
    pub fn find(&self, name: &str, case_sensitive: bool) -> Result<Option<&StructField>, String> {
        if case_sensitive {
            return Ok(self.fields.iter().find(|f| f.name == name));
        }
        let mut found = self.fields.iter().filter(|f| f.name.to_lowercase() == name.to_lowercase());
        match (found.next(), found.next()) {
            (Some(a), Some(b)) => Err(format!(
                "field `{name}` is ambiguous: the schema has both `{}` and `{}`; set case_sensitive=true or rename one",
                a.name, b.name
            )),
            (first, _) => Ok(first),
        }
    }
}

/// One `name type` (or `name: type` inside `STRUCT<...>`).
fn parse_field(text: &str, _sep: char) -> Result<StructField, String> {
    let (name, rest) = if let Some(quoted) = text.strip_prefix('`') {
        let end = quoted.find('`').ok_or_else(|| format!("unclosed backquote in `{text}`"))?;
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else {
        let end = text.find(|c: char| c.is_whitespace() || c == ':').unwrap_or(text.len());
        (text[..end].to_owned(), &text[end..])
    };
    let rest = rest.trim_start().trim_start_matches(':').trim();
    if name.is_empty() || rest.is_empty() {
        return Err(format!("expected `name TYPE`, found `{text}`"));
    }
    // `NOT NULL` and `COMMENT '...'` are accepted and ignored, as Spark's reader does.
    let upper = rest.to_ascii_uppercase();
    let cut = [" NOT NULL", " COMMENT "].iter().filter_map(|w| upper.find(w)).min().unwrap_or(rest.len());
    let data_type = parse_type(&rest[..cut])?;
    Ok(StructField { name, data_type })
}

/// A Spark type name: `INT`, `DECIMAL(10,2)`, `ARRAY<STRING>`,
/// `STRUCT<a: INT, b: STRING>`, `MAP<STRING, INT>`.
pub fn parse_type(text: &str) -> Result<DataType, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let (head, args) = match upper.find(['<', '(']) {
        Some(at) => (upper[..at].trim(), Some(&t[at + 1..t.len().saturating_sub(1)])),
        None => (upper.as_str(), None),
    };
    Ok(match (head, args) {
        ("BOOLEAN" | "BOOL", None) => DataType::Boolean,
        ("TINYINT" | "BYTE", None) => DataType::Byte,
        ("SMALLINT" | "SHORT", None) => DataType::Short,
        ("INT" | "INTEGER", None) => DataType::Int,
        ("BIGINT" | "LONG", None) => DataType::Long,
        ("FLOAT" | "REAL", None) => DataType::Float,
        ("DOUBLE", None) => DataType::Double,
        ("DECIMAL" | "DEC" | "NUMERIC", None) => DataType::Decimal(10, 0),
        ("DECIMAL" | "DEC" | "NUMERIC", Some(a)) => {
            let mut nums = a.split(',').map(|n| n.trim().parse::<u8>());
            let p = nums.next().and_then(Result::ok).filter(|p| (1..=38).contains(p));
            let s = nums.next().map_or(Ok(0), |s| s).ok();
            match (p, s) {
                (Some(p), Some(s)) if s <= p => DataType::Decimal(p, s),
                _ => return Err(format!("bad decimal type `{t}`: precision 1 to 38, scale 0 to precision")),
            }
        }
        ("STRING" | "TEXT", None) | ("VARCHAR" | "CHAR", Some(_)) => DataType::String,
        ("BINARY", None) => DataType::Binary,
        ("DATE", None) => DataType::Date,
        ("TIMESTAMP" | "TIMESTAMP_LTZ", None) => DataType::Timestamp,
        ("ARRAY", Some(a)) => DataType::Array(Box::new(parse_type(a)?)),
        ("MAP", Some(a)) => match split_top(a, ',').as_slice() {
            [k, v] => DataType::Map(Box::new(parse_type(k)?), Box::new(parse_type(v)?)),
            _ => return Err(format!("bad map type `{t}`: expected MAP<KEY, VALUE>")),
        },
        ("STRUCT", Some(a)) => DataType::Struct(
            split_top(a, ',')
                .iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| parse_field(p.trim(), ':'))
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(format!("unknown type `{t}`")),
    })
}

/// Splits at `sep` outside `<>`, `()` and backquotes.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut quoted, mut start, mut parts) = (0i32, false, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '`' => quoted = !quoted,
            '<' | '(' if !quoted => depth += 1,
            '>' | ')' if !quoted => depth -= 1,
            c if c == sep && depth == 0 && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_spark_ddl() {
        let schema = Schema::parse("InvoiceNumber STRING, `Total Amount` DOUBLE NOT NULL, Addr STRUCT<City: STRING, Pin: INT>, Items ARRAY<STRUCT<Code:STRING>>, D DECIMAL(10,2)").unwrap();
        assert_eq!(schema.fields.len(), 5);
        assert_eq!(schema.fields[1].name, "Total Amount");
        assert_eq!(schema.fields[4].data_type, DataType::Decimal(10, 2));
        assert_eq!(schema.fields[2].data_type.to_string(), "STRUCT<City: STRING, Pin: INT>");
        assert_eq!(schema.find("invoicenumber", false).unwrap().map(|f| f.name.as_str()), Some("InvoiceNumber"));
        assert_eq!(Schema::parse("a FOO").unwrap_err(), "unknown type `FOO`");
        assert!(Schema::parse("a INT, A STRING").unwrap().find("a", false).is_err());
    }
}
