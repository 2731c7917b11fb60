//! The stock `sql` transform: Spark SQL expressions over each JSON record,
//! for every column of Spark's Kafka sink.
//!
//! Configured with `--transform-config KEY=VALUE` pairs, all optional:
//!
//! | key | what | default |
//! |---|---|---|
//! | `where` | a boolean expression; a record is kept only when it is TRUE | keep all |
//! | `key` | the message key: any expression (a string, or cast to one) | no key |
//! | `value` | the message value: any string expression, e.g. `to_json(struct(InvoiceNumber, TotalAmount AS total))` | `to_json(struct(*))` |
//! | `header.NAME` | one header `NAME` per key, any expression (repeatable) | none |
//! | `timestamp` | the message timestamp: a `TIMESTAMP`, or a number of epoch milliseconds | the producer's clock |
//! | `topic` | the topic to route the message to (NULL: `--topic`) | `--topic` |
//! | `partition` | the partition (NULL: the producer's partitioner) | the partitioner |
//! | `schema` | a Spark DDL field list, as `readStream.schema(...)` takes it | none |
//! | `mode` | `PERMISSIVE`, `DROPMALFORMED` or `FAILFAST` (with a schema) | `PERMISSIVE` |
//! | `timezone` | the session time zone (`UTC`, `Europe/Paris`, `+05:30`) | `UTC` |
//! | `case_sensitive` | `true`: names must match the record's exactly | `false` |
//! | `strict_fields` | `true`: without a schema, a field the first record lacks stops the stream (`sluice run` exits 1, nothing of the batch published or checkpointed) | `false` |
//!
//! Any other key is refused at start-up, and so is an expression that does
//! not parse, names an unknown function, or (with a schema) a field the
//! schema does not have: the message gives the column and an excerpt,
//! ``where`: expected an expression, found EOF at column 11: StoreID =``.
//!
//! ```text
//! sluice run --transform sql.wasm \
//!     --transform-config "where=StoreID IN ('STR7188', 'STR1534') AND TotalAmount * 0.1 > 100" \
//!     --transform-config "key=concat(StoreID, '-', PosID)" \
//!     --transform-config "header.store=StoreID"
//! ```
//!
//! # The language
//!
//! Spark 4's SQL expressions, parsed by `sqlparser` (Databricks dialect,
//! extended with `DIV` and `struct(*)`) and compiled once at init:
//!
//! - Names resolve case-insensitively, as with Spark's default
//!   `spark.sql.caseSensitive=false`; a name that matches two members in
//!   different case fails that record with both names. Nested members by
//!   dots (`DeliveryAddress.City`), through arrays of structs
//!   (`InvoiceLineItems.ItemCode` is an array), backquotes for odd names.
//! - Literals as Spark types them: `12` `INT`, `12L` `BIGINT`, `12.5`
//!   `DECIMAL(3,1)`, `1e3` and `1.5D` `DOUBLE`, `'text'` or `"text"` with
//!   backslash escapes, `DATE'2024-01-31'`, `TIMESTAMP'2024-01-31 10:00:00'`,
//!   `X'0A1B'`, `INTERVAL 3 DAYS`, `TRUE`, `FALSE`, `NULL`.
//! - `+ - * / % DIV`, unary `-`, `||`, `= == != <> < <= > >= <=>`,
//!   `AND OR NOT !`, `[NOT] IN`, `[NOT] BETWEEN`, `[NOT] LIKE` (with
//!   `ESCAPE`), `ILIKE`, `RLIKE`/`REGEXP`, `IS [NOT] NULL | TRUE | FALSE |
//!   UNKNOWN | DISTINCT FROM`, `CASE` (both forms), `CAST(x AS t)`, `x::t`,
//!   `try_cast`, `xs[0]`, `m['k']`, lambdas `x -> ...`, `(acc, x) -> ...`.
//! - Functions: the library in `functions` (by Spark's groups), plus
//!   `struct(...)`, `struct(*)`, `named_struct(...)` and `to_json(...)`,
//!   which the compiler builds itself.
//!
//! Semantics are Spark's with ANSI mode on (Spark 4's default): three-valued
//! logic (`AND` is false if either side is, `OR` true if either is, NULL
//! otherwise when one is NULL); integers widen and overflow is an error;
//! `/` of integers is a `DOUBLE`; decimals keep Spark's precision and scale;
//! division by zero is an error; a string compared with a number is cast
//! to it (an error when it does not read as one); casts that fail are
//! errors (`try_cast` gives NULL). Such an error fails that record only: it
//! goes to the dead letters with Spark's error class and the reason, e.g.
//! `` `where`: [DIVIDE_BY_ZERO] division by zero``. Values print as Spark
//! prints them: `1.0E20`, `11114.0`, decimals with their scale.
//!
//! # The schema
//!
//! Without `schema`, fields are typed as Spark's JSON reader infers them
//! (a JSON integer is a `BIGINT`, any other number a `DOUBLE`), and the
//! default value is the record's own bytes, compacted. With
//! `schema=InvoiceNumber STRING, TotalAmount DOUBLE, ...`:
//!
//! - fields are typed by it, and a name not in it is refused at start-up;
//! - `to_json(struct(*))` (the default value) writes the schema's fields in
//!   schema order, values in their type, NULL fields left out: a field not
//!   in the schema is not in the value;
//! - a value that does not fit its type is, by `mode`: `PERMISSIVE` NULL;
//!   `DROPMALFORMED` the record goes to the dead letters naming the field
//!   and why (never silently dropped); `FAILFAST` the same, marked
//!   `FAILFAST`: run sluice with `--max-consecutive-errors 1` to stop the
//!   stream at the first such record, as Spark's query would stop.
//!
//! # Differences from Spark
//!
//! Each is a case marked `exception` in the differential corpus
//! (`tests/spark/corpus.toml`), checked against Spark on every test run.
//!
//! - Fields are typed per record, not inferred over the whole input: with
//!   no schema a field that holds `1` in one record and `1.5` in another is
//!   a `BIGINT` then a `DOUBLE`, where Spark would read both as `DOUBLE`;
//!   and a NULL field has no type (`greatest(id, 5, amount)` stays an
//!   integer where `amount` is NULL, Spark's is a `DOUBLE`).
//! - Without a schema, `to_json(struct(*))` is the record as written
//!   (members in their order, nulls kept), and `to_json` of a nested struct
//!   keeps its members' order; Spark's inferred schema sorts the members
//!   and leaves nulls out. Give a `schema` to match Spark.
//! - Without a schema an unknown field reads NULL, where Spark refuses the
//!   query at analysis: after the first batch, one warning names each field
//!   none of its records had, with did-you-mean suggestions from the names
//!   they had (`strict_fields=true` stops the stream instead, see
//!   `names`); two fields differing only in case are found per
//!   record (a name matching both fails that record), where Spark refuses
//!   the inferred schema.
//! - A lambda's accumulator is not typed before a record:
//!   `aggregate(xs, 0, (acc, x) -> acc + x.n)` widens to `BIGINT` where
//!   Spark refuses the `INT` start.
//! - `FAILFAST` fails the record rather than stopping the stream; run with
//!   `--max-consecutive-errors 1` to stop at the first one.
//! - Regular expressions use Rust's `regex` syntax: no look-around or
//!   back-references (a pattern using them fails the record naming it).
//! - A type error Spark reports at analysis (comparing a boolean with a
//!   number, `lower` of an array) fails the record when the types are only
//!   known from the record.
//! - Integers beyond `BIGINT` in a record are `DOUBLE`, not `DECIMAL(20,0)`.
//! - Left out: subqueries, aggregates and window functions (one record at
//!   a time has nothing to aggregate), `LIKE ANY/ALL`, `r'raw'` strings
//!   (the Databricks dialect does not read them), and year-month/day-time
//!   interval types beyond adding an `INTERVAL` literal to a timestamp;
//!   functions that are not deterministic per record (`current_timestamp`,
//!   `rand`, `uuid`: a replayed record must give the same message), map
//!   constructors, `ceil`/`floor` with a scale, and JSON paths beyond `$`,
//!   `.a`, `['a']`, `[n]`, `[*]`.
//! - `get_json_object` writes a selected number as it reads back (`1e20`
//!   as `1.0E20`), not byte for byte; `base64` never breaks lines.
//!
//! ```
//! use sluice_guest_sdk::testing::{Harness, Outcome};
//! use sql::SqlTransform;
//!
//! let t = Harness::<SqlTransform>::new(&[("where", "storeid = 'STR7188'"), ("key", "StoreID")]).unwrap();
//! let Outcome::Emit(msg) = t.run(r#"{"StoreID": "STR7188", "TotalAmount": 12.5}"#) else { panic!() };
//! assert_eq!(msg.key_str(), Some("STR7188"));
//! assert_eq!(msg.value_str(), Some(r#"{"StoreID":"STR7188","TotalAmount":12.5}"#));
//! assert_eq!(t.run(r#"{"StoreID": "STR1534"}"#), Outcome::Drop);
//! ```

mod cast;
mod coerce;
mod columns;
mod compile;
mod ctx;
mod ddl;
mod dialect;
mod error;
mod expr;
mod functions;
mod json_in;
mod json_out;
mod like;
mod members;
mod names;
mod ops;
mod schema;
mod value;
mod zone;

#[cfg(test)]
mod conditions_tests;
#[cfg(test)]
mod tests;

pub use columns::SqlTransform;
