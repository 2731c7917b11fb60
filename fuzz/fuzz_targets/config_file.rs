//! The config file (`sluice run --config`) on arbitrary text: a
//! configuration error or a config, never a panic. `${VAR}` expands to a
//! fixed value for one name, so expansion is reached too.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sluice::config::file::ConfigFile;

fuzz_target!(|text: &str| {
    let env = |name: &str| (name == "SLUICE_FUZZ").then(|| "value".to_owned());
    let _ = ConfigFile::parse(Path::new("fuzz.toml"), text, &env);
});
