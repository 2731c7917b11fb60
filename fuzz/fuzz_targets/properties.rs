//! Java `.properties` text (`--kafka-properties`), with `sasl.jaas.config`
//! translated: pairs or the number of a bad line, never a panic, and the
//! line number is one of the text's.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(line) = sluice::config::properties_of_text(text) {
        assert!(line >= 1 && line <= text.lines().count(), "bad line {line} of {}", text.lines().count());
    }
});
