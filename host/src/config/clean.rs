//! `--clean-source` and `--source-archive-dir`, validated against the
//! landing zone ([`CleanConfig`]).

use std::path::{Path, PathBuf};

use url::Url;

use super::ConfigError;
use crate::cli::CleanSource;

/// What `--clean-source` does with a finished file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanConfig {
    /// Leave it (the default).
    Off,
    /// Delete it.
    Delete {
        /// `--landing-zone`, where the file is looked up from.
        landing_zone: PathBuf,
    },
    /// Move it below `dir`, keeping its path below `landing_zone`.
    Archive {
        /// `--source-archive-dir`.
        dir: PathBuf,
        /// `--landing-zone`, the root the kept path is taken from.
        landing_zone: PathBuf,
    },
}

impl CleanConfig {
    /// Validates `--clean-source` and `--source-archive-dir` against the
    /// landing zone.
    /// For a zone in object storage (`store`, its URL), the archive is a
    /// URL in the same bucket, outside the zone.
    pub fn from_args(
        mode: CleanSource,
        archive_dir: Option<&Path>,
        landing_zone: &Path,
        store: Option<&Url>,
    ) -> Result<Self, ConfigError> {
        match mode {
            CleanSource::Off => Ok(CleanConfig::Off),
            CleanSource::Delete => Ok(CleanConfig::Delete { landing_zone: landing_zone.to_owned() }),
            CleanSource::Archive => {
                let dir = archive_dir.ok_or(ConfigError::ArchiveDirNeeded)?;
                if let Some(zone) = store {
                    let archive = archive_url(dir, zone)?;
                    let landing = landing_zone.to_owned();
                    return Ok(CleanConfig::Archive { dir: PathBuf::from(archive.as_str()), landing_zone: landing });
                }
                if archive_inside(dir, landing_zone) {
                    let (archive, landing) = (dir.to_owned(), landing_zone.to_owned());
                    return Err(ConfigError::ArchiveInLandingZone { archive, landing });
                }
                Ok(CleanConfig::Archive { dir: dir.to_owned(), landing_zone: landing_zone.to_owned() })
            }
        }
    }
}

impl CleanConfig {
    /// The landing zone files are cleaned from, unless cleaning is off.
    pub fn landing_zone(&self) -> Option<&Path> {
        match self {
            CleanConfig::Off => None,
            CleanConfig::Delete { landing_zone } | CleanConfig::Archive { landing_zone, .. } => Some(landing_zone),
        }
    }
}

/// `--source-archive-dir` of the object-store zone `zone`: a URL in its
/// bucket, ending in `/`, that is neither the zone nor below it.
fn archive_url(dir: &Path, zone: &Url) -> Result<Url, ConfigError> {
    let refused = |archive: String| ConfigError::ArchiveNotInBucket {
        archive,
        zone: zone.to_string(),
        bucket: format!("{}://{}", zone.scheme(), zone.authority()),
    };
    let text = dir.to_string_lossy();
    let mut url = Url::parse(&text).map_err(|_| refused(text.to_string()))?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    let same_bucket = url.scheme() == zone.scheme() && url.authority() == zone.authority();
    if !same_bucket || url.query().is_some() || !url.password().unwrap_or_default().is_empty() {
        return Err(refused(format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path())));
    }
    if url.path().starts_with(zone.path()) {
        let (archive, landing) = (PathBuf::from(url.as_str()), PathBuf::from(zone.as_str()));
        return Err(ConfigError::ArchiveInLandingZone { archive, landing });
    }
    Ok(url)
}

/// Whether the archive `dir` is the landing zone or below it, by real path.
pub fn archive_inside(dir: &Path, landing_zone: &Path) -> bool {
    resolved(dir).starts_with(resolved(landing_zone))
}

/// `path` made absolute with its existing part's symlinks resolved, so
/// that two spellings of one directory compare equal.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_needs_a_directory_outside_the_landing_zone() {
        let dir = tempfile::tempdir().unwrap();
        let landing = dir.path().join("in");
        std::fs::create_dir(&landing).unwrap();
        let err = CleanConfig::from_args(CleanSource::Archive, None, &landing, None).unwrap_err();
        assert!(matches!(err, ConfigError::ArchiveDirNeeded), "{err}");
        for inside in [landing.join("done"), landing.clone(), dir.path().join("in/../in/x")] {
            let err = CleanConfig::from_args(CleanSource::Archive, Some(&inside), &landing, None).unwrap_err();
            assert!(matches!(err, ConfigError::ArchiveInLandingZone { .. }), "{}: {err}", inside.display());
        }
        let outside = dir.path().join("archive");
        let ok = CleanConfig::from_args(CleanSource::Archive, Some(&outside), &landing, None).unwrap();
        assert_eq!(ok, CleanConfig::Archive { dir: outside, landing_zone: landing.clone() });
        let delete = CleanConfig::from_args(CleanSource::Delete, None, &landing, None).unwrap();
        assert_eq!(delete, CleanConfig::Delete { landing_zone: landing.clone() });
    }

    #[test]
    fn a_symlink_into_the_landing_zone_is_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let landing = dir.path().join("in");
        std::fs::create_dir(&landing).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&landing, &link).unwrap();
        let err = CleanConfig::from_args(CleanSource::Archive, Some(&link.join("done")), &landing, None).unwrap_err();
        assert!(matches!(err, ConfigError::ArchiveInLandingZone { .. }), "{err}");
    }

    #[test]
    fn an_object_store_zone_archives_within_its_own_bucket() {
        let zone = Url::parse("s3://bucket/in/").unwrap();
        let landing = PathBuf::from("s3://bucket/in");
        let archive = |dir: &str| {
            CleanConfig::from_args(CleanSource::Archive, Some(Path::new(dir)), &landing, Some(&zone))
                .map_err(|e| e.to_string())
        };
        let ok = archive("s3://bucket/done").unwrap();
        assert_eq!(ok, CleanConfig::Archive { dir: "s3://bucket/done/".into(), landing_zone: landing.clone() });
        let other = archive("s3://other/done/").unwrap_err();
        assert!(other.contains("must be a URL in the landing zone's own s3://bucket"), "{other}");
        assert!(archive("/var/done").unwrap_err().contains("must be a URL"));
        let inside = archive("s3://bucket/in/done/").unwrap_err();
        assert!(inside.contains("lies inside --landing-zone"), "{inside}");
    }
}
