//! The transport under octocrab: ureq (blocking, rustls), the one HTTP client git-oc uses for
//! SwitchBoard and GitHub alike, wrapped as the tower `Service` octocrab sends its requests
//! through. It adds GitHub's headers, and waits out GitHub's rate limits: `Retry-After`, else
//! `X-RateLimit-Reset` when the quota is spent, else a minute for a secondary limit, within a
//! bounded number of retries and a bounded total wait. The wait and the clock are injected.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Full};

/// Waits out a rate limit (the thread sleeps in production; tests record instead).
pub type Sleep = Arc<dyn Fn(Duration) + Send + Sync>;
/// Seconds since the Unix epoch, for `X-RateLimit-Reset`.
pub type Now = Arc<dyn Fn() -> u64 + Send + Sync>;

/// How git-oc behaves when GitHub says it is sending too much.
#[derive(Clone)]
pub struct RateLimits {
    /// Retries after a rate-limited answer, at most.
    pub max_retries: u32,
    /// Total time waited for one request, at most; a longer wait gives up at once.
    pub max_wait: Duration,
    pub sleep: Sleep,
    pub now: Now,
}

impl RateLimits {
    /// Real waiting and the system clock.
    pub fn system(max_wait: Duration) -> Self {
        RateLimits {
            max_retries: 3,
            max_wait,
            sleep: Arc::new(std::thread::sleep),
            now: Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            }),
        }
    }
}

/// Why a request got no answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No answer within the timeout.
    Timeout { url: String, after: Duration },
    /// Nothing listens there, or the host cannot be found.
    Unreachable { url: String, cause: String },
    /// Anything else between git-oc and the server (TLS, protocol, a body that cannot be read).
    Other { url: String, cause: String },
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Timeout { url, after } => {
                write!(f, "no answer from {url} within {} s", after.as_secs())
            }
            TransportError::Unreachable { url, cause } => write!(f, "could not connect to {url}: {cause}"),
            TransportError::Other { url, cause } => write!(f, "request to {url} failed: {cause}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// What a rate-limited answer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimited {
    /// How long GitHub asks git-oc to wait.
    pub wait: Duration,
    /// A secondary (abuse) limit rather than the hourly quota.
    pub secondary: bool,
}

/// Whether an answer is GitHub's rate limit, and how long it asks to wait. A 403 is a rate
/// limit only when it says so (headers or message); otherwise it is a permission error.
pub fn rate_limited(status: StatusCode, headers: &HeaderMap, body: &[u8], now: u64) -> Option<RateLimited> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::FORBIDDEN {
        return None;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let number = |name: &str| header(name).and_then(|v| v.parse::<u64>().ok());
    let retry_after = number("retry-after");
    let spent = number("x-ratelimit-remaining") == Some(0);
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    let says_so = text.contains("rate limit");
    let secondary = text.contains("secondary rate limit") || (!spent && retry_after.is_some());
    if status == StatusCode::FORBIDDEN && retry_after.is_none() && !spent && !says_so {
        return None;
    }
    let wait = match (retry_after, spent, number("x-ratelimit-reset")) {
        (Some(s), _, _) => s,
        (None, true, Some(reset)) => reset.saturating_sub(now),
        // GitHub: "wait at least one minute" when a secondary limit gives no time.
        _ => 60,
    };
    Some(RateLimited {
        wait: Duration::from_secs(wait),
        secondary,
    })
}

/// The ureq agent as a tower service for octocrab.
#[derive(Clone)]
pub struct Transport {
    agent: ureq::Agent,
    timeout: Duration,
    limits: RateLimits,
}

impl Transport {
    pub fn new(timeout: Duration, limits: RateLimits) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .http_status_as_error(false)
            .user_agent(concat!("git-oc/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Transport { agent, timeout, limits }
    }

    /// Send one request, retrying while GitHub rate-limits it and the budget allows. Blocks the
    /// thread: the runtime around GitHub calls has nothing else to do meanwhile.
    fn send(&self, parts: &http::request::Parts, body: &Bytes) -> Result<http::Response<Full<Bytes>>, TransportError> {
        let url = crate::execution::secrets::redact_url(&parts.uri.to_string()).into_owned();
        let mut waited = Duration::ZERO;
        let mut retries = 0;
        loop {
            let mut request = http::Request::builder()
                .method(parts.method.clone())
                .uri(parts.uri.clone());
            for (name, value) in &parts.headers {
                request = request.header(name, value);
            }
            let mut request = request.body(body.to_vec()).map_err(|e| TransportError::Other {
                url: url.clone(),
                cause: e.to_string(),
            })?;
            let headers = request.headers_mut();
            headers
                .entry(http::header::ACCEPT)
                .or_insert(HeaderValue::from_static("application/vnd.github+json"));
            headers.insert("x-github-api-version", HeaderValue::from_static("2022-11-28"));
            if !body.is_empty() {
                headers
                    .entry(http::header::CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
            }
            let _span = tracing::debug_span!("github", method = %parts.method, url = %url).entered();
            let mut response = self.agent.run(request).map_err(|e| self.failure(&url, e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response
                .body_mut()
                .with_config()
                .limit(32 * 1024 * 1024)
                .read_to_vec()
                .map_err(|e| self.failure(&url, e))?;
            tracing::debug!(status = status.as_u16(), "answered");
            if let Some(limit) = rate_limited(status, &headers, &bytes, (self.limits.now)())
                && retries < self.limits.max_retries
                && waited + limit.wait <= self.limits.max_wait
            {
                tracing::info!(wait_s = limit.wait.as_secs(), retries, "GitHub rate limit: waiting");
                (self.limits.sleep)(limit.wait);
                waited += limit.wait;
                retries += 1;
                continue;
            }
            let mut out = http::Response::builder().status(status);
            if let Some(h) = out.headers_mut() {
                *h = headers;
            }
            return out
                .body(Full::new(Bytes::from(bytes)))
                .map_err(|e| TransportError::Other {
                    url: url.clone(),
                    cause: e.to_string(),
                });
        }
    }

    fn failure(&self, url: &str, e: ureq::Error) -> TransportError {
        let url = url.to_owned();
        let cause = crate::execution::secrets::redact_urls(&e.to_string()).into_owned();
        match e {
            ureq::Error::Timeout(_) => TransportError::Timeout {
                url,
                after: self.timeout,
            },
            ureq::Error::Io(io) if is_unreachable(io.kind()) => TransportError::Unreachable { url, cause },
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => TransportError::Unreachable { url, cause },
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => TransportError::Timeout {
                url,
                after: self.timeout,
            },
            _ => TransportError::Other { url, cause },
        }
    }
}

fn is_unreachable(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused | K::ConnectionReset | K::ConnectionAborted | K::NotConnected | K::AddrNotAvailable
    ) || matches!(kind, K::HostUnreachable | K::NetworkUnreachable)
}

impl tower::Service<http::Request<octocrab::OctoBody>> for Transport {
    type Response = http::Response<Full<Bytes>>;
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<octocrab::OctoBody>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = crate::execution::secrets::redact_url(&parts.uri.to_string()).into_owned();
            let body = body
                .collect()
                .await
                .map_err(|e| TransportError::Other {
                    url,
                    cause: e.to_string(),
                })?
                .to_bytes();
            this.send(&parts, &body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_are_told_from_permission_errors() {
        let now = 1_000;
        let forbidden = StatusCode::FORBIDDEN;
        // A permission error: no rate-limit header, no rate-limit message.
        assert_eq!(
            rate_limited(
                forbidden,
                &headers(&[("x-ratelimit-remaining", "4999")]),
                br#"{"message":"Resource not accessible by personal access token"}"#,
                now
            ),
            None
        );
        // Retry-After wins.
        let r = rate_limited(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "7")]),
            b"{}",
            now,
        )
        .unwrap();
        assert_eq!(r.wait, Duration::from_secs(7));
        assert!(r.secondary);
        // The hourly quota spent: until X-RateLimit-Reset.
        let r = rate_limited(
            forbidden,
            &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1030")]),
            br#"{"message":"API rate limit exceeded for user ID 1."}"#,
            now,
        )
        .unwrap();
        assert_eq!((r.wait, r.secondary), (Duration::from_secs(30), false));
        // A reset in the past waits nothing.
        let r = rate_limited(
            forbidden,
            &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "900")]),
            b"{}",
            now,
        )
        .unwrap();
        assert_eq!(r.wait, Duration::ZERO);
        // A secondary limit with no time given: a minute.
        let r = rate_limited(
            forbidden,
            &HeaderMap::new(),
            br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#,
            now,
        )
        .unwrap();
        assert_eq!((r.wait, r.secondary), (Duration::from_secs(60), true));
        assert_eq!(rate_limited(StatusCode::NOT_FOUND, &HeaderMap::new(), b"", now), None);
    }
}
