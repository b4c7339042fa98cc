//! `/fileexporter/v1`: the batch feeds. Each list operation narrows the choice by one
//! parameter (feed → version → format → date → interval → file); `getfeedfile` answers
//! a signed, expiring link that `/fileexporter/v1/files/{token}` serves. Everything is
//! read from the caller's tenant only: another tenant's days and files do not exist here.

use chrono::{NaiveDate, Utc};
use poem::Body;
use poem_openapi::param::Path;
use poem_openapi::payload::Binary;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::auth::ApiKeyAuth;
use super::json_body::JsonBody;
use super::responses::Success;
use super::timestamp::Timestamp;
use crate::error::{ApiError, ErrorCode, Failure, error_list};
use crate::export::feed::{FEED, FORMAT, VERSION};
use crate::export::job::run_prefix;
use crate::export::link::FileGrant;
use crate::ids::TenantId;
use crate::state::SharedState;
use crate::store::feed::{PublishedDay, PublishedFile};

#[derive(Tags)]
enum FileExporterTag {
    /// Daily batch feeds of every utterance, as gzip JSONL files per UTC hour.
    FileExporter,
}

/// Names a feed.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct FeedRequest {
    /// The feed: `utterances`.
    pub feed: String,
}

/// Names a feed version.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct FeedVersionRequest {
    pub feed: String,
    /// The feed's version: `1`.
    pub version: String,
}

/// Names a feed format.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct FeedFormatRequest {
    pub feed: String,
    pub version: String,
    /// The file format: `jsonl` (gzip-compressed, one utterance per line).
    pub format: String,
}

/// Names an exported day.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct FeedDateRequest {
    pub feed: String,
    pub version: String,
    pub format: String,
    /// The UTC day, `YYYY-MM-DD`.
    #[oai(validator(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub date: String,
}

/// Names an hour of an exported day.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct FeedIntervalRequest {
    pub feed: String,
    pub version: String,
    pub format: String,
    /// The UTC day, `YYYY-MM-DD`.
    #[oai(validator(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub date: String,
    /// The UTC hour, `hr=HH` (as `listfeedintervals` answers).
    pub interval: String,
}

/// Names one file.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct FeedFileRequest {
    pub feed: String,
    pub version: String,
    pub format: String,
    /// The UTC day, `YYYY-MM-DD`.
    #[oai(validator(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub date: String,
    /// Optional: a file name is unique within its day.
    #[oai(skip_serializing_if_is_none)]
    pub interval: Option<String>,
    /// As `listfeedfiles` answers.
    pub file_name: String,
}

/// The feeds this tenant can export.
#[derive(Debug, Clone, Object)]
pub struct FeedsResponse {
    pub feeds: Vec<String>,
}

/// The versions of a feed.
#[derive(Debug, Clone, Object)]
pub struct FeedVersionsResponse {
    pub versions: Vec<String>,
}

/// The formats of a feed version.
#[derive(Debug, Clone, Object)]
pub struct FeedFormatsResponse {
    pub formats: Vec<String>,
}

/// The exported days, oldest first (`YYYY-MM-DD`, UTC). A day appears once its export
/// is complete (daily, after `export.daily_at`, 02:00 UTC by default) and until feed
/// retention removes it.
#[derive(Debug, Clone, Object)]
pub struct FeedDatesResponse {
    pub dates: Vec<String>,
}

/// The hours of a day that have utterances (`hr=HH`, UTC).
#[derive(Debug, Clone, Object)]
pub struct FeedIntervalsResponse {
    pub intervals: Vec<String>,
}

/// The files of an hour.
#[derive(Debug, Clone, Object)]
pub struct FeedFilesResponse {
    pub files: Vec<String>,
}

/// A link to download the file: a plain GET, no API key, valid until `expiresAt`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct FeedFileLink {
    pub url: String,
    /// RFC 3339, UTC.
    pub expires_at: Timestamp,
}

fn example_request() -> (String, String, String, String) {
    (
        FEED.into(),
        VERSION.into(),
        FORMAT.into(),
        "2026-11-23".into(),
    )
}

impl poem_openapi::types::Example for FeedRequest {
    fn example() -> Self {
        FeedRequest { feed: FEED.into() }
    }
}

impl poem_openapi::types::Example for FeedVersionRequest {
    fn example() -> Self {
        FeedVersionRequest {
            feed: FEED.into(),
            version: VERSION.into(),
        }
    }
}

impl poem_openapi::types::Example for FeedFormatRequest {
    fn example() -> Self {
        let (feed, version, format, _) = example_request();
        FeedFormatRequest {
            feed,
            version,
            format,
        }
    }
}

impl poem_openapi::types::Example for FeedDateRequest {
    fn example() -> Self {
        let (feed, version, format, date) = example_request();
        FeedDateRequest {
            feed,
            version,
            format,
            date,
        }
    }
}

impl poem_openapi::types::Example for FeedIntervalRequest {
    fn example() -> Self {
        let (feed, version, format, date) = example_request();
        FeedIntervalRequest {
            feed,
            version,
            format,
            date,
            interval: "hr=07".into(),
        }
    }
}

impl poem_openapi::types::Example for FeedFileRequest {
    fn example() -> Self {
        let (feed, version, format, date) = example_request();
        FeedFileRequest {
            feed,
            version,
            format,
            date,
            interval: Some("hr=07".into()),
            file_name: "utterances-2026-11-23-hr07.jsonl.gz".into(),
        }
    }
}

impl poem_openapi::types::Example for FeedFileLink {
    fn example() -> Self {
        FeedFileLink {
            url: "https://callscribe.example.com/fileexporter/v1/files/djF8MDE5M2EzZjQ.x1Qm".into(),
            expires_at: "2026-11-24T09:15:00Z".into(),
        }
    }
}

/// A feed file's bytes.
#[derive(ApiResponse)]
pub enum FeedFileDownload {
    /// The gzip-compressed JSONL file: one utterance per line.
    #[oai(status = 200, content_type = "application/gzip")]
    File(
        Binary<Body>,
        /// `attachment; filename="..."`
        #[oai(header = "content-disposition")]
        String,
        #[oai(header = "content-length")] u64,
    ),
}

// The listings take a JSON body, so the body limit (413) and the content type (415)
// apply to them as to every other POST. `listfeeds` reads no body: only its size counts.
error_list!(ListErrors: 400, 401, 404, 413, 415, 429, 500, 503);
error_list!(FeedsErrors: 400, 401, 413, 429, 500, 503);
error_list!(DownloadErrors: 403, 404, 413, 500, 503);

pub struct FileExporterApi {
    pub state: SharedState,
}

#[OpenApi(
    prefix_path = "/fileexporter/v1",
    tag = "FileExporterTag::FileExporter"
)]
impl FileExporterApi {
    /// List feeds
    ///
    /// The feeds this service exports: `utterances`, every transcribed utterance. No
    /// request body is needed.
    #[oai(
        path = "/static/listfeeds",
        method = "post",
        operation_id = "listFeeds"
    )]
    async fn list_feeds(
        &self,
        _auth: ApiKeyAuth,
    ) -> Result<Success<FeedsResponse>, Failure<FeedsErrors>> {
        Ok(Success::json(FeedsResponse {
            feeds: vec![FEED.into()],
        }))
    }

    /// List a feed's versions
    ///
    /// The versions of the named feed; a version keeps its line format forever.
    #[oai(
        path = "/static/listfeedversions",
        method = "post",
        operation_id = "listFeedVersions"
    )]
    async fn list_feed_versions(
        &self,
        _auth: ApiKeyAuth,
        body: JsonBody<FeedRequest>,
    ) -> Result<Success<FeedVersionsResponse>, Failure<ListErrors>> {
        check_feed(&body.feed, None, None)?;
        Ok(Success::json(FeedVersionsResponse {
            versions: vec![VERSION.into()],
        }))
    }

    /// List a feed version's formats
    ///
    /// The file formats of the named feed version: `jsonl`, gzip-compressed.
    #[oai(
        path = "/static/listfeedformats",
        method = "post",
        operation_id = "listFeedFormats"
    )]
    async fn list_feed_formats(
        &self,
        _auth: ApiKeyAuth,
        body: JsonBody<FeedVersionRequest>,
    ) -> Result<Success<FeedFormatsResponse>, Failure<ListErrors>> {
        check_feed(&body.feed, Some(&body.version), None)?;
        Ok(Success::json(FeedFormatsResponse {
            formats: vec![FORMAT.into()],
        }))
    }

    /// List the exported days
    ///
    /// The UTC days whose export is complete, oldest first. Yesterday appears after the
    /// daily export (02:00 UTC by default); days leave with feed retention (30 days).
    #[oai(
        path = "/static/listfeeddates",
        method = "post",
        operation_id = "listFeedDates"
    )]
    async fn list_feed_dates(
        &self,
        auth: ApiKeyAuth,
        body: JsonBody<FeedFormatRequest>,
    ) -> Result<Success<FeedDatesResponse>, Failure<ListErrors>> {
        check_feed(&body.feed, Some(&body.version), Some(&body.format))?;
        let days = self.state.store.published_days(&auth.0.tenant_id).await?;
        Ok(Success::json(FeedDatesResponse {
            dates: days
                .iter()
                .map(|d| d.date.format("%Y-%m-%d").to_string())
                .collect(),
        }))
    }

    /// List a day's hourly intervals
    ///
    /// The UTC hours of the day that have utterances, as `hr=HH`. A day without
    /// utterances has none.
    #[oai(
        path = "/static/listfeedintervals",
        method = "post",
        operation_id = "listFeedIntervals"
    )]
    async fn list_feed_intervals(
        &self,
        auth: ApiKeyAuth,
        body: JsonBody<FeedDateRequest>,
    ) -> Result<Success<FeedIntervalsResponse>, Failure<ListErrors>> {
        check_feed(&body.feed, Some(&body.version), Some(&body.format))?;
        let day = self.day(&auth.0.tenant_id, &body.date).await?;
        let mut intervals: Vec<String> = day.files.into_iter().map(|f| f.interval).collect();
        intervals.dedup();
        Ok(Success::json(FeedIntervalsResponse { intervals }))
    }

    /// List an interval's files
    ///
    /// The file names of one hour of the day; pass one to `getfeedfile`.
    #[oai(
        path = "/static/listfeedfiles",
        method = "post",
        operation_id = "listFeedFiles"
    )]
    async fn list_feed_files(
        &self,
        auth: ApiKeyAuth,
        body: JsonBody<FeedIntervalRequest>,
    ) -> Result<Success<FeedFilesResponse>, Failure<ListErrors>> {
        check_feed(&body.feed, Some(&body.version), Some(&body.format))?;
        let day = self.day(&auth.0.tenant_id, &body.date).await?;
        let files: Vec<String> = day
            .files
            .into_iter()
            .filter(|f| f.interval == body.interval)
            .map(|f| f.name)
            .collect();
        if files.is_empty() {
            return Err(ApiError::not_found(format!(
                "interval `{}` not found on {}",
                super::echo(&body.interval),
                body.date
            ))
            .into());
        }
        Ok(Success::json(FeedFilesResponse { files }))
    }

    /// Get a link to a file
    ///
    /// The link is served by this service, needs no API key, and expires after
    /// `export.link_ttl_seconds` (15 minutes by default).
    #[oai(
        path = "/static/getfeedfile",
        method = "post",
        operation_id = "getFeedFile"
    )]
    async fn get_feed_file(
        &self,
        auth: ApiKeyAuth,
        body: JsonBody<FeedFileRequest>,
        request: &poem::Request,
    ) -> Result<Success<FeedFileLink>, Failure<ListErrors>> {
        check_feed(&body.feed, Some(&body.version), Some(&body.format))?;
        let day = self.day(&auth.0.tenant_id, &body.date).await?;
        let wanted = |f: &&PublishedFile| {
            f.name == body.file_name && body.interval.as_ref().is_none_or(|i| *i == f.interval)
        };
        let Some(file) = day.files.iter().find(wanted) else {
            return Err(ApiError::not_found(format!(
                "file `{}` not found on {}",
                super::echo(&body.file_name),
                body.date
            ))
            .into());
        };
        let ttl = self.state.config.export.link_ttl_seconds;
        let expires = chrono::DateTime::from_timestamp(Utc::now().timestamp() + ttl as i64, 0)
            .unwrap_or_else(Utc::now);
        let token = self.state.links.sign(&FileGrant {
            tenant_id: auth.0.tenant_id.clone(),
            date: day.date,
            file_name: file.name.clone(),
            expires,
        });
        Ok(Success::json(FeedFileLink {
            url: format!("{}/fileexporter/v1/files/{token}", self.base_url(request)),
            expires_at: Timestamp::new(expires, chrono::SecondsFormat::Secs),
        }))
    }

    /// Download a file (signed link)
    ///
    /// The URL `getfeedfile` answers. A link that was altered or has expired is refused
    /// with 403 whether or not the file exists.
    #[oai(
        path = "/files/:token",
        method = "get",
        operation_id = "downloadFeedFile"
    )]
    async fn download(
        &self,
        /// The signed token from `getfeedfile`'s URL.
        token: Path<String>,
    ) -> Result<FeedFileDownload, Failure<DownloadErrors>> {
        let grant = self
            .state
            .links
            .verify(&token.0, Utc::now())
            .map_err(|e| ApiError::new(ErrorCode::LinkRefused, e.to_string()))?;
        let gone = || ApiError::not_found("the file no longer exists; list the feed again");
        let day = self
            .state
            .store
            .published_day(&grant.tenant_id, grant.date)
            .await?
            .ok_or_else(gone)?;
        if !day.files.iter().any(|f| f.name == grant.file_name) {
            return Err(gone().into());
        }
        let key = format!(
            "{}/{}",
            run_prefix(&grant.tenant_id, grant.date, &day.run_id),
            grant.file_name
        );
        let stored = self
            .state
            .exporter
            .storage()
            .get(&key)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(gone)?;
        Ok(FeedFileDownload::File(
            Binary(Body::from_async_read(stored.reader)),
            format!("attachment; filename=\"{}\"", grant.file_name),
            stored.len,
        ))
    }
}

impl FileExporterApi {
    /// The caller's published day, or 404.
    async fn day(&self, tenant: &TenantId, date: &str) -> Result<PublishedDay, ApiError> {
        let parsed = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid_field("date", "must be a date YYYY-MM-DD"))?;
        self.state
            .store
            .published_day(tenant, parsed)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no export for {date}")))
    }

    /// Where links point: the configured public URL, else this request's scheme (https
    /// when the service serves TLS itself) and host.
    fn base_url(&self, request: &poem::Request) -> String {
        if let Some(url) = &self.state.config.export.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let host = request
            .headers()
            .get(poem::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| self.state.config.listen.to_string());
        format!("{}://{host}", request.scheme())
    }
}

/// Checks the feed, and the version and format where given: an unknown one is 404.
fn check_feed(feed: &str, version: Option<&str>, format: Option<&str>) -> Result<(), ApiError> {
    let unknown = |what: &str, value: &str, known: &str| {
        Err(ApiError::not_found(format!(
            "{what} `{}` not found; available: {known}",
            super::echo(value)
        )))
    };
    if feed != FEED {
        return unknown("feed", feed, FEED);
    }
    if let Some(v) = version.filter(|v| *v != VERSION) {
        return unknown("version", v, VERSION);
    }
    if let Some(f) = format.filter(|f| *f != FORMAT) {
        return unknown("format", f, FORMAT);
    }
    Ok(())
}
