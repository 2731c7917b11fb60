//! Spark DDL: the `schema` config (`InvoiceNumber STRING, TotalAmount
//! DOUBLE, DeliveryAddress STRUCT<City: STRING>`), and type names as
//! `CAST(x AS t)` takes them, read by [`crate::ddl`].

use crate::ddl::Ddl;
use crate::value::{DataType, StructField};

/// A record schema: top-level fields in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The fields, in schema order.
    pub fields: Vec<StructField>,
}

impl Schema {
    /// Reads a Spark DDL field list; the error says what was expected,
    /// where, and for which field (see [`crate::ddl`]).
    pub fn parse(ddl: &str) -> Result<Schema, String> {
        if ddl.trim().is_empty() {
            return Err("the schema has no fields".to_owned());
        }
        Ok(Schema { fields: Ddl::new(ddl)?.fields()? })
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

/// A Spark type name as `CAST(x AS t)` takes it: `INT`, `DECIMAL(10,2)`,
/// `ARRAY<STRING>`, `STRUCT<a: INT, b: STRING>`, `MAP<STRING, INT>`.
pub fn parse_type(text: &str) -> Result<DataType, String> {
    let mut ddl = Ddl::new(text)?;
    let data_type = ddl.data_type("the cast")?;
    if !ddl.at_end() {
        return Err(ddl.expected("end of input after the type"));
    }
    Ok(data_type)
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
        assert_eq!(
            Schema::parse("a FOO").unwrap_err(),
            "[UNSUPPORTED_DATATYPE] unsupported data type `FOO` for `a` at position 2"
        );
        assert!(Schema::parse("a INT, A STRING").unwrap().find("a", false).is_err());
    }

    #[test]
    fn ddl_errors_say_what_was_expected_where_and_for_which_field() {
        let cases = [
            (
                "StoreID STRING TotalAmount DOUBLE",
                "[PARSE_SYNTAX_ERROR] syntax error at or near `TotalAmount` at position 15: expected `,` or end of input after the type of `StoreID`",
            ),
            (
                "Addr STRUCT<City: STRING",
                "[PARSE_SYNTAX_ERROR] syntax error at or near end of input at position 24: expected `,` or `>` after the type of `City` in STRUCT<",
            ),
            (
                "Addr STRUCT<City: STRIN>",
                "[UNSUPPORTED_DATATYPE] unsupported data type `STRIN` for `City` at position 18",
            ),
            (
                "a INT,",
                "[PARSE_SYNTAX_ERROR] syntax error at or near end of input at position 6: expected a field name",
            ),
            ("a", "[PARSE_SYNTAX_ERROR] syntax error at or near end of input at position 1: expected a type for `a`"),
            (
                "xs ARRAY<INT",
                "[PARSE_SYNTAX_ERROR] syntax error at or near end of input at position 12: expected `>` to close ARRAY< in the type of `xs`",
            ),
            (
                "m MAP<STRING INT>",
                "[PARSE_SYNTAX_ERROR] syntax error at or near `INT` at position 13: expected `,` between the key and value types of MAP< in the type of `m`",
            ),
            (
                "d DECIMAL(40,2)",
                "bad DECIMAL for `d` at position 9: precision 1 to 38, scale 0 to precision, as DECIMAL(10,2)",
            ),
            (
                "`a b INT",
                "[PARSE_SYNTAX_ERROR] syntax error at or near a backquote at position 0: expected the backquote that closes it",
            ),
        ];
        for (ddl, want) in cases {
            assert_eq!(Schema::parse(ddl).unwrap_err(), want, "{ddl}");
        }
        assert_eq!(
            parse_type("INT x").unwrap_err(),
            "[PARSE_SYNTAX_ERROR] syntax error at or near `x` at position 4: expected end of input after the type"
        );
        let schema = Schema::parse("`a``b` INT COMMENT 'it''s', c STRING NOT NULL, e STRUCT<>").unwrap();
        assert_eq!(schema.fields[0].name, "a`b");
        assert_eq!(schema.fields[2].data_type, DataType::Struct(Vec::new()));
    }
}
