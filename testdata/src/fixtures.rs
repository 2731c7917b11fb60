//! The three committed fixture files and the exact counts they promise.
//!
//! [`FIXTURES`] states each file's name, record count, how many records are
//! from [`TARGET_STORE`](crate::catalog::TARGET_STORE), and whether the file
//! ends with a newline (the last one deliberately does not, to exercise
//! readers). [`render`] produces all three in memory from one fixed seed and
//! one [`Generator`], so invoice numbers are unique across the set and a
//! rerun is byte-identical. Writing them to disk is left to the CLI.

use std::io;

use crate::invoice::Generator;
use crate::json;

/// Seed of the committed fixtures; changing it changes every file.
const FIXTURE_SEED: u64 = 0x51CE_7188;

/// One fixture file and what it guarantees.
#[derive(Debug)]
pub struct Fixture {
    /// File name inside the output directory.
    pub file_name: &'static str,
    /// Number of records (lines).
    pub records: usize,
    /// Records whose `StoreID` is the target store; exact.
    pub target_records: usize,
    /// Whether the last record is followed by `\n`.
    pub trailing_newline: bool,
}

/// The fixture set, in generation order.
pub const FIXTURES: [Fixture; 3] = [
    Fixture { file_name: "invoices-1.json", records: 400, target_records: 53, trailing_newline: true },
    Fixture { file_name: "invoices-2.json", records: 300, target_records: 11, trailing_newline: true },
    Fixture { file_name: "invoices-3.json", records: 350, target_records: 25, trailing_newline: false },
];

/// The contents of every fixture file, in [`FIXTURES`] order.
pub fn render() -> io::Result<Vec<(&'static Fixture, Vec<u8>)>> {
    let mut generator = Generator::new(FIXTURE_SEED);
    FIXTURES.iter().map(|fixture| Ok((fixture, render_one(&mut generator, fixture)?))).collect()
}

fn render_one(generator: &mut Generator, fixture: &Fixture) -> io::Result<Vec<u8>> {
    let mut file = Vec::new();
    let mut line = Vec::new();
    let stores = generator.fixture_stores(fixture.records, fixture.target_records);
    for (i, store) in stores.into_iter().enumerate() {
        if i > 0 {
            file.push(b'\n');
        }
        json::render(&generator.invoice(store), &mut line)?;
        file.extend_from_slice(&line);
    }
    if fixture.trailing_newline {
        file.push(b'\n');
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TARGET_STORE;
    use serde_json::Value;
    use std::collections::HashSet;

    const TOP_LEVEL_KEYS: [&str; 17] = [
        "InvoiceNumber",
        "CreatedTime",
        "StoreID",
        "PosID",
        "CashierID",
        "CustomerType",
        "CustomerCardNo",
        "TotalAmount",
        "NumberOfItems",
        "PaymentMethod",
        "TaxableAmount",
        "CGST",
        "SGST",
        "CESS",
        "DeliveryType",
        "DeliveryAddress",
        "InvoiceLineItems",
    ];

    fn lines(bytes: &[u8]) -> Vec<&str> {
        let text = std::str::from_utf8(bytes).unwrap();
        text.strip_suffix('\n').unwrap_or(text).split('\n').collect()
    }

    fn parsed() -> Vec<(&'static Fixture, Vec<Value>)> {
        let files = render().unwrap();
        let parse = |l: &str| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        files.iter().map(|(f, bytes)| (*f, lines(bytes).into_iter().map(parse).collect())).collect()
    }

    /// Money in paise, checking the number has at most two decimals.
    fn paise(value: &Value) -> i64 {
        let scaled = value.as_f64().unwrap() * 100.0;
        assert!((scaled - scaled.round()).abs() < 1e-6, "more than 2 decimals: {value}");
        scaled.round() as i64
    }

    /// Longest run of digits after a '.' in a number outside strings.
    fn max_fraction_digits(line: &str) -> usize {
        let (mut in_string, mut escaped, mut in_fraction) = (false, false, false);
        let (mut run, mut max) = (0, 0);
        for c in line.chars() {
            if in_string {
                (escaped, in_string) = (!escaped && c == '\\', escaped || c != '"');
                continue;
            }
            in_string = c == '"';
            run = if in_fraction && c.is_ascii_digit() { run + 1 } else { 0 };
            in_fraction = (in_fraction && c.is_ascii_digit()) || c == '.';
            max = max.max(run);
        }
        max
    }

    #[test]
    fn record_and_target_store_counts_are_exact() {
        let counts: Vec<(usize, usize)> = parsed()
            .iter()
            .map(|(_, records)| {
                let target = records.iter().filter(|r| r["StoreID"] == TARGET_STORE).count();
                (records.len(), target)
            })
            .collect();
        assert_eq!(counts, [(400, 53), (300, 11), (350, 25)]);
    }

    #[test]
    fn invoice_numbers_are_unique_digit_strings_across_files() {
        let mut seen = HashSet::new();
        for (_, records) in parsed() {
            for record in records {
                let number = record["InvoiceNumber"].as_str().unwrap().to_owned();
                assert!(number.bytes().all(|b| b.is_ascii_digit()), "{number}");
                assert!(seen.insert(number.clone()), "duplicate {number}");
            }
        }
        assert_eq!(seen.len(), 1_050);
    }

    #[test]
    fn delivery_address_is_present_iff_home_delivery() {
        for record in parsed().into_iter().flat_map(|(_, r)| r) {
            let home = match record["DeliveryType"].as_str().unwrap() {
                "HOME-DELIVERY" => true,
                "TAKEAWAY" => false,
                other => panic!("unexpected DeliveryType {other}"),
            };
            assert_eq!(record.get("DeliveryAddress").is_some(), home, "{record}");
            if home {
                let address = record["DeliveryAddress"].as_object().unwrap();
                let keys: Vec<&str> = address.keys().map(String::as_str).collect();
                assert_eq!(keys.len(), 5);
                assert!(address.values().all(Value::is_string));
            }
        }
    }

    #[test]
    fn amounts_are_consistent() {
        for record in parsed().into_iter().flat_map(|(_, r)| r) {
            let items = record["InvoiceLineItems"].as_array().unwrap();
            assert!((1..=6).contains(&items.len()));
            assert_eq!(record["NumberOfItems"].as_u64().unwrap() as usize, items.len());
            let mut taxable = 0;
            for item in items {
                let qty = item["ItemQty"].as_i64().unwrap();
                assert_eq!(paise(&item["TotalValue"]), paise(&item["ItemPrice"]) * qty, "{item}");
                taxable += paise(&item["TotalValue"]);
            }
            assert_eq!(paise(&record["TaxableAmount"]), taxable);
            let (cgst, sgst, cess) = (paise(&record["CGST"]), paise(&record["SGST"]), paise(&record["CESS"]));
            assert_eq!(cgst, sgst);
            assert!((cgst * 1000 - taxable * 25).abs() <= 500, "CGST {cgst} of {taxable}");
            assert!((cess * 1000 - taxable).abs() <= 500, "CESS {cess} of {taxable}");
            assert_eq!(paise(&record["TotalAmount"]), taxable + cgst + sgst + cess);
        }
    }

    #[test]
    fn no_number_has_more_than_two_decimals() {
        assert_eq!(max_fraction_digits(r#"{"a":"1.2345","b":1.5,"c":"x\"9.999"}"#), 1);
        for (_, bytes) in render().unwrap() {
            for line in lines(&bytes) {
                assert!(max_fraction_digits(line) <= 2, "{line}");
            }
        }
    }

    #[test]
    fn fields_are_in_schema_order() {
        for (_, bytes) in render().unwrap() {
            for line in lines(&bytes) {
                let positions: Vec<usize> =
                    TOP_LEVEL_KEYS.iter().filter_map(|key| line.find(&format!("\"{key}\":"))).collect();
                assert!(positions.len() >= 16 && positions.is_sorted(), "{line}");
            }
        }
    }

    #[test]
    fn only_the_last_file_lacks_a_trailing_newline() {
        let endings: Vec<bool> = render().unwrap().iter().map(|(_, b)| b.ends_with(b"\n")).collect();
        assert_eq!(endings, [true, true, false]);
        assert!(render().unwrap().iter().all(|(_, b)| !b.ends_with(b"\n\n")));
    }

    #[test]
    fn generation_is_byte_identical() {
        let contents = || render().unwrap().into_iter().map(|(_, bytes)| bytes).collect::<Vec<_>>();
        assert_eq!(contents(), contents());
    }

    #[test]
    fn committed_fixtures_match_the_generator() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("invoices");
        for (fixture, bytes) in render().unwrap() {
            let path = dir.join(fixture.file_name);
            let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                committed == bytes,
                "{} is stale; rerun `cargo run --release -p sluice-testdata -- fixtures testdata/invoices`",
                path.display()
            );
        }
    }
}
