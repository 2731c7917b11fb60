//! The bounded values of the metrics' `reason` labels: why a record went to
//! the dead letters ([`Reason`]) and why a landing-zone entry was not read
//! ([`Skip`]). Stages name a reason with these; only the label's text
//! reaches `/metrics`.

/// Why a record went to the dead letters: the bounded set of values of the
/// `reason` label (the full text is in the dead letter itself). A reason's
/// discriminant is its index in [`Reason::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A line longer than `--max-record-bytes`.
    TooLarge,
    /// A line that is not UTF-8.
    InvalidUtf8,
    /// The module returned an error for the record.
    TransformError,
    /// The module routed a message to a topic or partition that does not exist.
    Unroutable,
    /// Kafka refused the message for good.
    KafkaRefused,
    /// A compressed file could not be decoded past this point.
    Decode,
}

impl Reason {
    /// Every reason, in label order.
    pub const ALL: [Reason; 6] = [
        Reason::TooLarge,
        Reason::InvalidUtf8,
        Reason::TransformError,
        Reason::Unroutable,
        Reason::KafkaRefused,
        Reason::Decode,
    ];

    /// The `reason` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "record_too_large",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::TransformError => "transform_error",
            Reason::Unroutable => "unroutable",
            Reason::KafkaRefused => "kafka_refused",
            Reason::Decode => "decode",
        }
    }
}

/// Why a landing-zone entry was not read: the bounded set of values of the
/// `reason` label of `sluice_files_skipped_total`. A reason's discriminant
/// is its index in [`Skip::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// A symbolic link, or an entry reached through one, without
    /// `--follow-symlinks`.
    Symlink,
    /// A link whose target's real path is outside the landing zone.
    OutsideLandingZone,
    /// A FIFO, device, socket or directory where a file was expected.
    NotARegularFile,
    /// A file of procfs, sysfs and the like, or one whose reads run past
    /// its size.
    PseudoFile,
}

impl Skip {
    /// Every reason, in label order.
    pub const ALL: [Skip; 4] = [Skip::Symlink, Skip::OutsideLandingZone, Skip::NotARegularFile, Skip::PseudoFile];

    /// The `reason` label's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Symlink => "symlink",
            Skip::OutsideLandingZone => "outside_landing_zone",
            Skip::NotARegularFile => "not_a_regular_file",
            Skip::PseudoFile => "pseudo_file",
        }
    }

    /// The reason in words, for the warning.
    pub fn describe(self) -> &'static str {
        match self {
            Skip::Symlink => "a symbolic link (or below one), not followed without --follow-symlinks",
            Skip::OutsideLandingZone => "a symbolic link whose target is outside the landing zone",
            Skip::NotARegularFile => "not a regular file (a FIFO, device or socket)",
            Skip::PseudoFile => "a pseudo-file (procfs, sysfs or reads past its size)",
        }
    }
}
