//! Which Kafka property values may be shown: an allow-list of librdkafka
//! properties known not to hold a secret. Every other value, whatever its
//! key is called, shows as `[redacted]` in logs and errors, and is scrubbed
//! from the texts librdkafka hands back (as Kafka Connect's `PASSWORD` type
//! and Vector's `SensitiveString` hide a value by what it is, not by
//! guessing from its name: `sasl.oauthbearer.config` holds a client secret,
//! and a misspelled `sasl.pasword` holds a password).

/// librdkafka properties (global, producer, consumer) whose values are not
/// secret: addresses, names, sizes, timeouts, switches and file paths (a
/// key file's path is not its key; the key's password is not listed).
const SHOWN: &[&str] = &[
    // Connection and identity.
    "bootstrap.servers",
    "metadata.broker.list",
    "client.id",
    "client.rack",
    "client.dns.lookup",
    "client.software.name",
    "client.software.version",
    "broker.address.family",
    "broker.address.ttl",
    "broker.version.fallback",
    "api.version.request",
    "api.version.request.timeout.ms",
    "api.version.fallback.ms",
    "allow.auto.create.topics",
    "security.protocol",
    // TLS: algorithms, switches and file locations.
    "ssl.ca.location",
    "ssl.ca.certificate.stores",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.keystore.location",
    "ssl.crl.location",
    "ssl.cipher.suites",
    "ssl.curves.list",
    "ssl.sigalgs.list",
    "ssl.providers",
    "ssl.engine.id",
    "ssl.engine.location",
    "ssl.endpoint.identification.algorithm",
    "enable.ssl.certificate.verification",
    // SASL: the mechanism and who, never the secret.
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.kerberos.service.name",
    "sasl.kerberos.principal",
    "sasl.kerberos.keytab",
    "sasl.kerberos.min.time.before.relogin",
    "sasl.oauthbearer.method",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.scope",
    "enable.sasl.oauthbearer.unsecure.jwt",
    // Sockets, metadata, retries, logging.
    "socket.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "socket.keepalive.enable",
    "socket.nagle.disable",
    "socket.max.fails",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "metadata.max.age.ms",
    "topic.metadata.refresh.interval.ms",
    "topic.metadata.refresh.fast.interval.ms",
    "topic.metadata.refresh.sparse",
    "topic.metadata.propagation.max.ms",
    "message.max.bytes",
    "message.copy.max.bytes",
    "receive.message.max.bytes",
    "max.in.flight",
    "max.in.flight.requests.per.connection",
    "statistics.interval.ms",
    "enable.metrics.push",
    "debug",
    "log_level",
    "log.queue",
    "log.thread.name",
    "log.connection.close",
    "enable.random.seed",
    // Producer.
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "transactional.id",
    "transaction.timeout.ms",
    "delivery.report.only.error",
    "linger.ms",
    "queue.buffering.max.ms",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.backpressure.threshold",
    "batch.num.messages",
    "batch.size",
    "compression.type",
    "compression.codec",
    "compression.level",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "request.timeout.ms",
    "message.send.max.retries",
    "retries",
    "partitioner",
    "sticky.partitioning.linger.ms",
    // Consumer (the offsets topic and the pipeline's group).
    "group.id",
    "group.instance.id",
    "group.protocol",
    "group.remote.assignor",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "enable.partition.eof",
    "auto.offset.reset",
    "isolation.level",
    "check.crcs",
    "fetch.wait.max.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.error.backoff.ms",
    "fetch.queue.backoff.ms",
    "queued.min.messages",
    "queued.max.messages.kbytes",
];

/// What a hidden value shows as.
pub const REDACTED: &str = "[redacted]";

/// Whether `key`'s value may be shown.
pub fn is_shown(key: &str) -> bool {
    SHOWN.contains(&key)
}

/// Whether a key may itself be shown: it reads as a property name. A key
/// that does not (`sasl.password: hunter2`, a value typed without `=`) may
/// hold a secret.
pub fn key_is_shown(key: &str) -> bool {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    !key.is_empty() && key.len() <= 100 && key.chars().all(legal)
}

/// `value`, or [`REDACTED`] unless `key` is known not to be secret.
pub fn shown<'a>(key: &str, value: &'a str) -> &'a str {
    if is_shown(key) { value } else { REDACTED }
}

/// The hidden texts of a property, to scrub from errors and librdkafka's
/// lines: its value unless shown, and its key unless it reads as a name.
/// Booleans and short numbers are left: they hold no secret, and replacing
/// every `1` in a message would garble it.
pub fn hidden<'a>(key: &'a str, value: &'a str) -> impl Iterator<Item = &'a str> {
    let value = (!is_shown(key) && !is_plain(value)).then_some(value);
    let key = (!key_is_shown(key)).then_some(key);
    value.into_iter().chain(key)
}

/// Words in a transform-config key that mark its value as a secret. A
/// module's keys are its own, so no allow-list can know them: here the name
/// is all there is to go by (`sql.wasm`'s `where`, `key`, `value`, `schema`
/// hold none of these).
const SECRET_WORDS: [&str; 10] =
    ["password", "passwd", "secret", "token", "credential", "private", "apikey", "api_key", "auth", "cookie"];

/// A transform-config value as the status page may show it: [`REDACTED`]
/// when its key is named like a secret (`db_password`, `apiToken`).
pub fn transform_value<'a>(key: &str, value: &'a str) -> &'a str {
    let key = key.to_ascii_lowercase();
    let secret = SECRET_WORDS.iter().any(|word| key.contains(word)) || key.ends_with("pwd");
    if secret { REDACTED } else { value }
}

/// Empty, a boolean or a number of at most 6 digits.
fn is_plain(value: &str) -> bool {
    let value = value.trim();
    value.is_empty()
        || value.eq_ignore_ascii_case("true")
        || value.eq_ignore_ascii_case("false")
        || (value.len() <= 6 && value.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_properties_are_shown() {
        for key in ["bootstrap.servers", "sasl.username", "security.protocol", "acks", "linger.ms"] {
            assert_eq!(shown(key, "v"), "v", "{key}");
        }
        for key in ["sasl.password", "sasl.pasword", "sasl.oauthbearer.config", "ssl.key.password", "x", "Acks"] {
            assert_eq!(shown(key, "v"), REDACTED, "{key}");
        }
    }

    #[test]
    fn transform_values_named_like_secrets_are_redacted() {
        for key in ["password", "db_password", "apiToken", "CLIENT_SECRET", "auth", "private_key", "db_pwd"] {
            assert_eq!(transform_value(key, "v"), REDACTED, "{key}");
        }
        for key in ["where", "key", "value", "schema", "mode", "timeZone"] {
            assert_eq!(transform_value(key, "v"), "v", "{key}");
        }
    }

    #[test]
    fn hidden_texts_are_the_secret_values_and_keys() {
        let config = "principal=admin clientSecret=S3CRET";
        assert_eq!(hidden("sasl.oauthbearer.config", config).collect::<Vec<_>>(), [config]);
        assert_eq!(hidden("sasl.pasword", "hunter2").collect::<Vec<_>>(), ["hunter2"]);
        assert_eq!(hidden("sasl.password: hunter2", "x=y").collect::<Vec<_>>(), ["x=y", "sasl.password: hunter2"]);
        assert_eq!(hidden("linger.ms", "20").count(), 0);
        assert_eq!(hidden("linger.mss", "20").count(), 0, "a number is not a secret");
        assert_eq!(hidden("sasl.pasword", "1234567").collect::<Vec<_>>(), ["1234567"]);
    }
}
