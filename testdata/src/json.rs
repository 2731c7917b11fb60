//! Writes one [`Invoice`] as one line of compact JSON, fields in schema order.
//!
//! The line is written by hand rather than through a `Serialize` derive so
//! that the field order is fixed by this file, `DeliveryAddress` can be left
//! out entirely, and money goes through [`Money`](crate::money::Money)'s exact formatting instead
//! of `f64`. Free text is escaped by `serde_json`; fixed enumerations
//! ("PRIME", "CARD", ...) are literals that need no escaping.

use std::io::{self, Write};

use crate::invoice::{Address, Invoice, LineItem};

/// Replaces the contents of `out` with `invoice` as compact JSON, without a
/// line terminator.
pub fn render(invoice: &Invoice, out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    header(invoice, out)?;
    amounts(invoice, out)?;
    if let Some(address) = &invoice.delivery {
        delivery_address(address, out)?;
    }
    line_items(&invoice.items, out)?;
    out.push(b'}');
    Ok(())
}

/// `InvoiceNumber` to `CustomerCardNo`.
fn header(invoice: &Invoice, out: &mut Vec<u8>) -> io::Result<()> {
    let customer = if invoice.prime { "PRIME" } else { "NONPRIME" };
    write!(out, r#"{{"InvoiceNumber":"{}","CreatedTime":{},"#, invoice.number, invoice.created_ms)?;
    field(out, "StoreID", invoice.store)?;
    write!(
        out,
        r#","PosID":"POS{}","CashierID":"OAS{}","CustomerType":"{customer}","CustomerCardNo":"{}""#,
        invoice.pos, invoice.cashier, invoice.card_no
    )
}

/// `TotalAmount` to `DeliveryType`.
fn amounts(invoice: &Invoice, out: &mut Vec<u8>) -> io::Result<()> {
    let payment = if invoice.paid_by_card { "CARD" } else { "CASH" };
    let delivery = if invoice.delivery.is_some() { "HOME-DELIVERY" } else { "TAKEAWAY" };
    write!(
        out,
        r#","TotalAmount":{},"NumberOfItems":{},"PaymentMethod":"{payment}","TaxableAmount":{},"CGST":{},"SGST":{},"CESS":{},"DeliveryType":"{delivery}""#,
        invoice.total(),
        invoice.items.len(),
        invoice.taxable(),
        invoice.cgst(),
        invoice.sgst(),
        invoice.cess(),
    )
}

fn delivery_address(address: &Address, out: &mut Vec<u8>) -> io::Result<()> {
    out.extend_from_slice(br#","DeliveryAddress":{"#);
    field(out, "AddressLine", &address.line)?;
    out.push(b',');
    field(out, "City", address.city.name)?;
    out.push(b',');
    field(out, "State", address.city.state)?;
    write!(out, r#","PinCode":"{}","ContactNumber":"{}"}}"#, address.pin, address.contact)
}

fn line_items(items: &[LineItem], out: &mut Vec<u8>) -> io::Result<()> {
    out.extend_from_slice(br#","InvoiceLineItems":["#);
    for (i, line) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write!(out, r#"{{"ItemCode":"{}","#, line.item.code)?;
        field(out, "ItemDescription", line.item.description)?;
        let (price, qty, total) = (line.item.price, line.qty, line.total());
        write!(out, r#","ItemPrice":{price},"ItemQty":{qty},"TotalValue":{total}}}"#)?;
    }
    out.push(b']');
    Ok(())
}

/// `"key":"value"` with `value` escaped.
fn field(out: &mut Vec<u8>, key: &str, value: &str) -> io::Result<()> {
    write!(out, r#""{key}":"#)?;
    serde_json::to_writer(&mut *out, value)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice::Generator;

    fn rendered(n: usize) -> Vec<String> {
        let mut generator = Generator::new(9);
        let mut out = Vec::new();
        let mut lines = Vec::new();
        for _ in 0..n {
            render(&generator.invoice("STR2629"), &mut out).unwrap();
            lines.push(String::from_utf8(out.clone()).unwrap());
        }
        lines
    }

    #[test]
    fn escaped_descriptions_round_trip() {
        let lines = rendered(2_000);
        assert!(lines.iter().any(|l| l.contains(r#"24\""#)), "no escaped quote seen");
        for line in &lines {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            for item in value["InvoiceLineItems"].as_array().unwrap() {
                let description = item["ItemDescription"].as_str().unwrap();
                let code = item["ItemCode"].as_str().unwrap();
                let known = crate::catalog::ITEMS.iter().find(|i| i.code == code).unwrap();
                assert_eq!(description, known.description);
            }
        }
    }

    #[test]
    fn lines_are_single_line_compact_json() {
        for line in rendered(500) {
            assert!(!line.contains('\n') && !line.contains(": "), "{line}");
            assert!(line.starts_with(r#"{"InvoiceNumber":""#) && line.ends_with("]}"));
        }
    }
}
