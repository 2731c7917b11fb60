//! The smallest transform: keeps every record, unkeyed, as compact JSON.
use sluice_guest_sdk::{Config, Result, Transform, export_transform};

#[derive(Debug)]
pub struct KeepAll;

impl Transform for KeepAll {
    fn init(_config: &Config) -> Result<Self> {
        Ok(KeepAll)
    }
}

export_transform!(KeepAll);
