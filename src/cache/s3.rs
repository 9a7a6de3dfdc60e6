//! S3-compatible object storage as a build cache (`s3://bucket/prefix`: AWS S3, MinIO, Ceph
//! RGW, R2, Garage, ...). Requests are presigned by `rusty-s3` (SigV4 without an SDK or an async
//! runtime) and sent with lvm's own HTTP client. Endpoint, region and credentials come from the
//! usual AWS variables, then the profile of `~/.aws/credentials` and `~/.aws/config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::percent_decode_str;
use rusty_s3::{Bucket, Credentials, S3Action as _, UrlStyle};
use serde::Deserialize;

use super::CacheError;
use super::listing::{Listing, MAX_LISTED_ENTRIES, MAX_LISTING_PAGES, entry_key_of_object};
use crate::fetch::FetchOptions;

/// How long a presigned request stays valid: long enough for a slow upload to start.
const PRESIGNED_FOR: Duration = Duration::from_secs(3600);

/// Where and as whom S3 requests go, as the AWS tools work it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `AWS_ENDPOINT_URL` (or the profile's `endpoint_url`); `None`: AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    /// (access key id, secret, session token).
    pub credentials: Option<(String, String, Option<String>)>,
}

impl S3Settings {
    /// Reads the AWS variables through `var` (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`,
    /// `AWS_PROFILE`), then the profile's entries in the credentials and config files (their
    /// places from `AWS_SHARED_CREDENTIALS_FILE`/`AWS_CONFIG_FILE`, else `~/.aws/`).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> S3Settings {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
        let aws_dir = var("HOME").map(|h| PathBuf::from(h).join(".aws"));
        let file = |override_var: &str, name: &str| {
            var(override_var)
                .map(PathBuf::from)
                .or_else(|| aws_dir.as_ref().map(|d| d.join(name)))
        };
        let read = |path: Option<PathBuf>, section: &str| {
            path.and_then(|p| std::fs::read_to_string(p).ok())
                .map(|text| ini_section(&text, section))
                .unwrap_or_default()
        };
        let credentials_file = read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), &profile);
        // The config file names profiles `[profile NAME]`, except `[default]`.
        let config_section = if profile == "default" {
            profile.clone()
        } else {
            format!("profile {profile}")
        };
        let config_file = read(file("AWS_CONFIG_FILE", "config"), &config_section);
        let from_files = |name: &str| {
            credentials_file
                .get(name)
                .or_else(|| config_file.get(name))
                .cloned()
        };
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Some((id, secret, var("AWS_SESSION_TOKEN"))),
            _ => match (
                from_files("aws_access_key_id"),
                from_files("aws_secret_access_key"),
            ) {
                (Some(id), Some(secret)) => Some((id, secret, from_files("aws_session_token"))),
                _ => None,
            },
        };
        S3Settings {
            endpoint: var("AWS_ENDPOINT_URL").or_else(|| config_file.get("endpoint_url").cloned()),
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .or_else(|| config_file.get("region").cloned())
                .unwrap_or_else(|| "us-east-1".to_string()),
            credentials,
        }
    }
}

/// The `key = value` entries of `[section]` in an INI file (the AWS files' format). Pure.
fn ini_section(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut inside = false;
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside && let Some((key, value)) = line.split_once('=') {
            out.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    out
}

/// An opened `s3://bucket/prefix` cache.
pub(super) struct S3Cache {
    bucket: Bucket,
    prefix: String,
    credentials: Option<Credentials>,
}

impl S3Cache {
    /// The cache `url` in `bucket` under `prefix`: a custom endpoint (MinIO and the like) is
    /// addressed path-style (`endpoint/bucket/key`), AWS itself by virtual host.
    pub(super) fn open(
        url: &str,
        bucket: &str,
        prefix: &str,
        settings: &S3Settings,
    ) -> Result<S3Cache, CacheError> {
        let (endpoint, style) = match &settings.endpoint {
            Some(endpoint) => (endpoint.clone(), UrlStyle::Path),
            None => (
                format!("https://s3.{}.amazonaws.com", settings.region),
                UrlStyle::VirtualHost,
            ),
        };
        let bad = |reason: String| CacheError::BadUrl {
            url: url.to_string(),
            reason,
        };
        let parsed = url::Url::parse(&endpoint)
            .map_err(|e| bad(format!("the S3 endpoint '{endpoint}' is not a URL ({e})")))?;
        let bucket = Bucket::new(parsed, style, bucket.to_string(), settings.region.clone())
            .map_err(|e| bad(format!("the S3 endpoint '{endpoint}' cannot be used ({e})")))?;
        Ok(S3Cache {
            bucket,
            prefix: prefix.to_string(),
            credentials: settings
                .credentials
                .as_ref()
                .map(|(id, secret, token)| match token {
                    Some(token) => Credentials::new_with_token(id, secret, token),
                    None => Credentials::new(id, secret),
                }),
        })
    }

    pub(super) fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    fn object(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// Downloads object `name` to `dest`; `Ok(false)` when the bucket has none. Without
    /// credentials the request is anonymous (a public bucket answers it).
    pub(super) fn get(
        &self,
        url: &str,
        name: &str,
        dest: &Path,
        opts: &FetchOptions,
    ) -> Result<bool, CacheError> {
        let object = self.object(name);
        let signed = self
            .bucket
            .get_object(self.credentials.as_ref(), &object)
            .sign(PRESIGNED_FOR);
        super::download(url, signed.as_str(), dest, opts).map_err(|e| self.anonymous_note(e))
    }

    /// A read error, saying that the request was anonymous when it was.
    fn anonymous_note(&self, error: CacheError) -> CacheError {
        match error {
            CacheError::Read { cache, reason } if self.credentials.is_none() => CacheError::Read {
                cache,
                reason: format!("{reason}; {}", NO_CREDENTIALS),
            },
            other => other,
        }
    }

    /// The store keys with an `entry.json` under the prefix: ListObjectsV2, page by page with
    /// its continuation tokens, each page read with `opts`' limits into `work`; at most
    /// [`MAX_LISTING_PAGES`] pages and [`MAX_LISTED_ENTRIES`] keys.
    pub(super) fn list(
        &self,
        url: &str,
        work: &Path,
        opts: &FetchOptions,
    ) -> Result<Listing, CacheError> {
        let dir = self.object("");
        let page_file = work.join("list.xml");
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LISTING_PAGES {
            let mut action = self.bucket.list_objects_v2(self.credentials.as_ref());
            if !dir.is_empty() {
                action.with_prefix(dir.as_str());
            }
            if let Some(token) = &token {
                action.with_continuation_token(token.as_str());
            }
            let signed = action.sign(PRESIGNED_FOR);
            let found = super::download(url, signed.as_str(), &page_file, opts)
                .map_err(|e| self.anonymous_note(e))?;
            if !found {
                return Err(CacheError::Read {
                    cache: url.to_string(),
                    reason: format!("the bucket '{}' does not exist", self.bucket.name()),
                });
            }
            let xml = std::fs::read(&page_file).map_err(|cause| CacheError::Local {
                path: page_file.clone(),
                cause,
            })?;
            let page = parse_listing(&xml).map_err(|e| CacheError::Read {
                cache: url.to_string(),
                reason: format!("the bucket listing is not an S3 ListObjectsV2 answer ({e})"),
            })?;
            keys.extend(page.contents.iter().filter_map(|object| {
                let name = percent_decode_str(&object.key).decode_utf8().ok()?;
                entry_key_of_object(&name, &dir)
            }));
            match page.next_continuation_token {
                // A server that hands back the token it was given would never end.
                Some(next) if !next.is_empty() && token.as_ref() != Some(&next) => {
                    token = Some(next);
                }
                _ => return Ok(Listing::of(keys, false)),
            }
            if keys.len() > MAX_LISTED_ENTRIES {
                break;
            }
        }
        Ok(Listing::of(keys, true))
    }

    /// Uploads object `name`; needs credentials.
    pub(super) fn put(
        &self,
        url: &str,
        name: &str,
        bytes: &[u8],
        opts: &FetchOptions,
    ) -> Result<(), CacheError> {
        let Some(credentials) = &self.credentials else {
            return Err(CacheError::NoCredentials {
                cache: url.to_string(),
            });
        };
        let object = self.object(name);
        let signed = self
            .bucket
            .put_object(Some(credentials), &object)
            .sign(PRESIGNED_FOR);
        super::http::put_url(url, name, signed.as_str(), bytes, opts)
    }
}

/// The part of a ListObjectsV2 answer a listing needs. rusty-s3's own parser requires every
/// object's `ETag`, `LastModified` and `Size`, which some S3-compatible servers leave out.
#[derive(Debug, Default, Deserialize)]
struct ListingPage {
    #[serde(rename = "Contents", default)]
    contents: Vec<ListedObject>,
    #[serde(rename = "NextContinuationToken")]
    next_continuation_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListedObject {
    #[serde(rename = "Key")]
    key: String,
}

/// Reads one ListObjectsV2 answer. Pure.
fn parse_listing(xml: &[u8]) -> Result<ListingPage, quick_xml::DeError> {
    quick_xml::de::from_reader(xml)
}

/// What a read without credentials adds to its error.
const NO_CREDENTIALS: &str = "no AWS credentials were found (AWS_ACCESS_KEY_ID and \
     AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials), so the request was anonymous";

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> S3Settings {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        S3Settings::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn variables_win_over_profile_files() {
        let dir = tempfile::tempdir().unwrap();
        let aws = dir.path().join(".aws");
        std::fs::create_dir_all(&aws).unwrap();
        std::fs::write(
            aws.join("credentials"),
            "[default]\naws_access_key_id = AKFILE\naws_secret_access_key = sfile\n\
             [ci]\naws_access_key_id=AKCI\naws_secret_access_key=sci\naws_session_token=tok\n",
        )
        .unwrap();
        std::fs::write(
            aws.join("config"),
            "[default]\nregion = eu-west-3\n[profile ci]\nregion = ap-south-1\n\
             endpoint_url = http://127.0.0.1:9000\n",
        )
        .unwrap();
        let home = dir.path().to_str().unwrap();
        let from_files = settings(&[("HOME", home)]);
        assert_eq!(
            from_files.credentials,
            Some(("AKFILE".into(), "sfile".into(), None))
        );
        assert_eq!(
            (from_files.region.as_str(), from_files.endpoint),
            ("eu-west-3", None)
        );
        let ci = settings(&[("HOME", home), ("AWS_PROFILE", "ci")]);
        assert_eq!(
            ci.credentials,
            Some(("AKCI".into(), "sci".into(), Some("tok".into())))
        );
        assert_eq!(ci.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(ci.region, "ap-south-1");
        let vars = settings(&[
            ("HOME", home),
            ("AWS_ACCESS_KEY_ID", "AKVAR"),
            ("AWS_SECRET_ACCESS_KEY", "svar"),
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_ENDPOINT_URL", "http://localhost:1"),
        ]);
        assert_eq!(
            vars.credentials,
            Some(("AKVAR".into(), "svar".into(), None))
        );
        assert_eq!(vars.region, "us-west-2");
        assert_eq!(vars.endpoint.as_deref(), Some("http://localhost:1"));
        let nothing = settings(&[]);
        assert_eq!(
            (nothing.credentials, nothing.region.as_str()),
            (None, "us-east-1")
        );
    }

    #[test]
    fn listing_pages_need_only_keys() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>team-builds</Name><Prefix>lvm/</Prefix><KeyCount>2</KeyCount>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>lvm/a%2Fb/entry.json</Key><Size>10</Size><ETag>"x"</ETag></Contents>
  <Contents><Key>lvm/c/x.rock</Key></Contents>
  <NextContinuationToken>tok+/=&amp;1</NextContinuationToken>
</ListBucketResult>"#;
        let page = parse_listing(xml).unwrap();
        let keys: Vec<&str> = page.contents.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["lvm/a%2Fb/entry.json", "lvm/c/x.rock"]);
        assert_eq!(page.next_continuation_token.as_deref(), Some("tok+/=&1"));
        let empty =
            parse_listing(b"<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>").unwrap();
        assert!(empty.contents.is_empty() && empty.next_continuation_token.is_none());
        assert!(parse_listing(b"<html>not xml").is_err());
    }

    #[test]
    fn custom_endpoints_are_addressed_by_path() {
        let s = S3Settings {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: "us-east-1".into(),
            credentials: None,
        };
        let cache = S3Cache::open("s3://b/p", "b", "lvm", &s).unwrap();
        let url = cache
            .bucket
            .get_object(None, &cache.object("k/entry.json"))
            .sign(PRESIGNED_FOR);
        assert!(
            url.as_str()
                .starts_with("http://127.0.0.1:9000/b/lvm/k/entry.json"),
            "{url}"
        );
    }
}
