//! `invoice_by_store`: the example transform for plugin authors.
//!
//! Keeps the invoices of the store named by the `store_id` config and keys
//! them by `StoreID`; the value is the SDK default, the record as compact
//! JSON. It is the hand-written equivalent of running `sql.wasm` with
//! `where=StoreID = '<store_id>'` and `key=StoreID`.
//!
//! ```text
//! sluice run --transform target/transforms/invoice_by_store.wasm \
//!            --transform-config store_id=STR7188 ...
//! ```

use sluice_guest_sdk::{Config, Error, Record, Result, Transform, export_transform};

/// Keeps the invoices of one store, keyed by `StoreID`.
#[derive(Debug)]
pub struct InvoiceByStore {
    store_id: String,
}

impl Transform for InvoiceByStore {
    fn init(config: &Config) -> Result<Self> {
        config.allow_only(&["store_id"])?;
        let store_id = config.require("store_id")?;
        if store_id.is_empty() {
            return Err(Error::new("config `store_id` is empty; give a store such as STR7188"));
        }
        Ok(InvoiceByStore { store_id: store_id.to_owned() })
    }

    fn filter(&self, record: &Record<'_>) -> Result<bool> {
        Ok(record.str_field("StoreID").as_deref() == Some(self.store_id.as_str()))
    }

    fn key(&self, record: &Record<'_>) -> Result<Option<Vec<u8>>> {
        let store = record.field("StoreID").ok_or_else(|| Error::new("record has no StoreID"))?;
        Ok(Some(store.to_bytes().into_owned()))
    }
}

export_transform!(InvoiceByStore);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest_sdk::testing::{Harness, Outcome};

    fn harness() -> Harness<InvoiceByStore> {
        Harness::new(&[("store_id", "STR7188")]).unwrap()
    }

    #[test]
    fn keeps_the_store_and_keys_by_it() {
        let line = r#"{"InvoiceNumber":"51402977","StoreID":"STR7188","TotalAmount":  4759.0}"#;
        let Outcome::Emit(msg) = harness().run(line) else { panic!("expected a message") };
        assert_eq!(msg.key_str(), Some("STR7188"));
        assert_eq!(msg.value_str(), Some(r#"{"InvoiceNumber":"51402977","StoreID":"STR7188","TotalAmount":4759.0}"#));
        assert_eq!(msg.headers, vec![]);
        assert_eq!(msg.timestamp_ms, None);
    }

    #[test]
    fn drops_other_stores_and_records_without_one() {
        let h = harness();
        assert_eq!(h.run(r#"{"StoreID":"STR1534"}"#), Outcome::Drop);
        assert_eq!(h.run(r#"{"StoreID":7188}"#), Outcome::Drop);
        assert_eq!(h.run(r#"{}"#), Outcome::Drop);
    }

    #[test]
    fn refuses_bad_config() {
        let err = |cfg: &[(&str, &str)]| Harness::<InvoiceByStore>::new(cfg).unwrap_err().to_string();
        assert_eq!(err(&[]), "missing required config `store_id`");
        assert_eq!(err(&[("store_id", "")]), "config `store_id` is empty; give a store such as STR7188");
        assert_eq!(err(&[("store", "x")]), "unknown config `store`; this transform accepts: store_id");
    }
}
