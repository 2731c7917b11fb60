//! librdkafka's own rules for its properties, applied without a client or
//! a broker: each property is set on a fresh librdkafka configuration as
//! the producer's would be (`rd_kafka_conf_set`), so an unknown name or a
//! bad value is refused before anything starts, in librdkafka's words; an
//! unknown name gets the closest of librdkafka's own property names (read
//! from the table `rd_kafka_conf_properties_show` writes), as a
//! did-you-mean. A key that may be a secret is not shown, nor is a value
//! that is not known to be safe.

use std::ffi::CStr;
use std::sync::OnceLock;

use rdkafka::bindings as rd;
use rdkafka::error::KafkaError;

use super::ConfigError;
use super::secrets;

/// Checks every property by librdkafka's rules; the first it refuses.
pub(super) fn check(properties: &[(String, String)]) -> Result<(), ConfigError> {
    properties.iter().try_for_each(|(key, value)| check_one(key, value))
}

fn check_one(key: &str, value: &str) -> Result<(), ConfigError> {
    let mut config = rdkafka::ClientConfig::new();
    config.set(key, value);
    let reason = match config.create_native_config() {
        Ok(_) => return Ok(()),
        Err(KafkaError::ClientConfig(_, reason, ..)) => reason,
        Err(other) => other.to_string(),
    };
    // A secret never reaches a message, even in librdkafka's words.
    let reason = secrets::hidden(key, value).fold(reason, |reason, hidden| reason.replace(hidden, secrets::REDACTED));
    let unknown = reason.starts_with("No such configuration property");
    let suggestion = if unknown && secrets::key_is_shown(key) { closest(key).map(str::to_owned) } else { None };
    let key = if secrets::key_is_shown(key) { key } else { secrets::REDACTED };
    Err(ConfigError::KafkaProperty { key: key.to_owned(), reason, suggestion })
}

/// The known property closest to `key`, if one is close.
fn closest(key: &str) -> Option<&'static str> {
    names()
        .iter()
        .map(|name| (strsim::jaro_winkler(key, name), name.as_str()))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// librdkafka's property names, global and topic, aliases included: the
/// first column of the table `rd_kafka_conf_properties_show` writes.
fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let table = properties_table().unwrap_or_default();
        let mut names: Vec<String> = table.lines().filter_map(property_name).map(str::to_owned).collect();
        names.sort();
        names.dedup();
        names
    })
}

/// The name in a row of librdkafka's properties table, if it is a row.
fn property_name(row: &str) -> Option<&str> {
    let (name, _) = row.split_once('|')?;
    let name = name.trim();
    let legal = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_');
    (!name.is_empty() && name.chars().all(legal)).then_some(name)
}

/// The table librdkafka writes of its properties, read from a memory stream.
fn properties_table() -> Option<String> {
    let mut buffer: *mut std::ffi::c_char = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: open_memstream writes the buffer and its size on fclose; the
    // buffer is then a NUL-terminated string of ours to free.
    unsafe {
        let stream = libc::open_memstream(&mut buffer, &mut size);
        if stream.is_null() {
            return None;
        }
        rd::rd_kafka_conf_properties_show(stream.cast());
        libc::fclose(stream);
        if buffer.is_null() {
            return None;
        }
        let table = CStr::from_ptr(buffer).to_string_lossy().into_owned();
        libc::free(buffer.cast());
        Some(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(key: &str, value: &str) -> String {
        check(&[(key.to_owned(), value.to_owned())]).unwrap_err().to_string()
    }

    #[test]
    fn librdkafka_knows_its_names() {
        assert_eq!(
            property_name("builtin.features                         |  *  |  | gzip | low | Indicates"),
            Some("builtin.features")
        );
        assert_eq!(property_name("Property                                 | C/P | Range | Default"), None);
        for name in ["bootstrap.servers", "sasl.username", "sasl.password", "acks", "compression.type", "linger.ms"] {
            assert!(names().iter().any(|n| n == name), "{name} is not among {} names", names().len());
        }
    }

    #[test]
    fn an_unknown_property_is_refused_with_the_closest_name() {
        assert_eq!(
            refused("sasl.usrname", "alice"),
            "kafka property `sasl.usrname`: No such configuration property: \"sasl.usrname\"; did you mean \
             `sasl.username`?"
        );
        assert_eq!(
            refused("no.such.thing", "1"),
            "kafka property `no.such.thing`: No such configuration property: \"no.such.thing\""
        );
    }

    #[test]
    fn a_secret_is_not_shown_in_the_refusal() {
        let refusal = refused("sasl.password: hunter2", "x");
        assert_eq!(refusal, "kafka property `[redacted]`: No such configuration property: \"[redacted]\"");
        let refusal = refused("sasl.pasword", "hunter2");
        assert!(refusal.ends_with("; did you mean `sasl.password`?") && !refusal.contains("hunter2"), "{refusal}");
    }

    #[test]
    fn a_bad_value_is_refused_in_librdkafkas_words() {
        assert_eq!(
            refused("linger.ms", "soon"),
            "kafka property `linger.ms`: Invalid value for configuration property \"queue.buffering.max.ms\""
        );
        assert_eq!(
            refused("security.protocol", "sasl_tls"),
            "kafka property `security.protocol`: Invalid value \"sasl_tls\" for configuration property \
             \"security.protocol\""
        );
        assert!(check(&[("linger.ms".into(), "5".into()), ("acks".into(), "all".into())]).is_ok());
    }
}
