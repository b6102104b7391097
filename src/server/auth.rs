//! Bearer tokens for the endpoints that change state or show internals.
//!
//! Two sets, each optional: **admin** tokens guard outcome reports and `/v1/policies` (with the
//! schemas under it), and, by flag, `/metrics` and the health endpoints; **decide** tokens
//! guard decisions. An admin token is accepted wherever a decide token is. A set that is not
//! configured leaves its endpoints open, as before tokens existed.
//!
//! Tokens come from a file (one a line; blank lines and `#` comments skipped) or an
//! environment variable (separated by commas, spaces or newlines), never from the command
//! line, where `ps` shows them to every user. Only their BLAKE3 digests are kept, and a
//! presented token is compared by digest: `blake3::Hash` compares in constant time.

use super::AppState;
use super::error::{ApiError, ErrorCode};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::Arc;

/// The longest token file read; a token file is a few lines.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// A set of accepted tokens, by digest.
#[derive(Clone, Default)]
pub struct Tokens(Vec<blake3::Hash>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.0.len())
    }
}

impl Tokens {
    /// The tokens in `text`, separated by newlines, commas or spaces; `#` starts a comment
    /// that runs to the end of its line.
    pub fn parse(text: &str) -> Tokens {
        Tokens(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or(""))
                .flat_map(|l| l.split(|c: char| c == ',' || c.is_whitespace()))
                .filter(|t| !t.is_empty())
                .map(|t| blake3::hash(t.as_bytes()))
                .collect(),
        )
    }

    /// Reads a token file; an unreadable, oversized or empty one is an error that names it.
    pub fn from_file(path: &Path) -> Result<Tokens, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read token file `{}`: {e}", path.display()))?;
        if !meta.is_file() || meta.len() > MAX_TOKEN_FILE_BYTES {
            return Err(format!(
                "token file `{}` is not a regular file of at most {MAX_TOKEN_FILE_BYTES} bytes",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read token file `{}`: {e}", path.display()))?;
        let tokens = Tokens::parse(&text);
        if tokens.is_empty() {
            return Err(format!("token file `{}` holds no token", path.display()));
        }
        Ok(tokens)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn accepts(&self, token: &str) -> bool {
        let presented = blake3::hash(token.as_bytes());
        // Every digest is compared, so the time taken does not say which one matched.
        self.0
            .iter()
            .fold(false, |found, t| (*t == presented) | found)
    }
}

/// Which tokens guard what.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub admin: Tokens,
    pub decide: Tokens,
    /// `/metrics` needs an admin token.
    pub protect_metrics: bool,
    /// `/healthz` and `/readyz` need an admin token.
    pub protect_health: bool,
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Open,
    Decide,
    Admin,
}

impl Auth {
    fn need(&self, path: &str) -> Need {
        let admin = path.starts_with("/v1/decisions/")
            || path == "/v1/policies"
            || path.starts_with("/v1/policies/")
            || path == "/metrics" && self.protect_metrics
            || (path == "/healthz" || path == "/readyz") && self.protect_health;
        if path.starts_with("/v1/decide/") {
            Need::Decide
        } else if admin {
            Need::Admin
        } else {
            Need::Open
        }
    }

    /// Whether a request for `path` with this `Authorization` header may go on.
    fn allows(&self, path: &str, authorization: Option<&HeaderValue>) -> bool {
        let need = self.need(path);
        let configured = match need {
            Need::Open => return true,
            Need::Decide => !self.decide.is_empty(),
            Need::Admin => !self.admin.is_empty(),
        };
        if !configured {
            return true;
        }
        let Some(token) = authorization.and_then(|h| h.to_str().ok()).and_then(bearer) else {
            return false;
        };
        self.admin.accepts(token) || need == Need::Decide && self.decide.accepts(token)
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// The middleware: a 401 with `WWW-Authenticate: Bearer` for a missing or wrong token.
pub async fn require(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let auth = &state.config.auth;
    if auth.allows(req.uri().path(), req.headers().get(header::AUTHORIZATION)) {
        return next.run(req).await;
    }
    let mut response = ApiError::new(
        ErrorCode::Unauthorized,
        "a valid bearer token is required: send `Authorization: Bearer <token>`",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn tokens_are_read_from_lines_commas_and_spaces_without_comments() {
        let t = Tokens::parse("# deploy tokens\nalpha\n\n beta , gamma # old\n");
        assert_eq!(t.0.len(), 3);
        assert!(t.accepts("alpha") && t.accepts("beta") && t.accepts("gamma"));
        assert!(!t.accepts("old") && !t.accepts("") && !t.accepts("alph"));
    }

    #[test]
    fn each_set_guards_its_endpoints_and_admin_tokens_are_accepted_everywhere() {
        let auth = Auth {
            admin: Tokens::parse("root"),
            decide: Tokens::parse("caller"),
            protect_metrics: true,
            protect_health: false,
        };
        let ok = |path: &str, h: Option<&str>| auth.allows(path, h.map(header).as_ref());
        assert!(!ok("/v1/decide/notifications", None));
        assert!(ok("/v1/decide/notifications", Some("Bearer caller")));
        assert!(ok("/v1/decide/notifications/batch", Some("bearer root")));
        assert!(!ok("/v1/decide/notifications", Some("Bearer nope")));
        assert!(!ok("/v1/decide/notifications", Some("Basic caller")));
        assert!(!ok("/v1/decisions/d1/outcome", Some("Bearer caller")));
        assert!(ok("/v1/decisions/d1/outcome", Some("Bearer root")));
        assert!(!ok("/v1/policies", Some("Bearer caller")));
        assert!(!ok("/v1/policies/notifications/schema", None));
        assert!(!ok("/metrics", None));
        assert!(ok("/metrics", Some("Bearer root")));
        assert!(ok("/healthz", None));
        assert!(ok("/openapi.json", None));
    }

    #[test]
    fn an_unconfigured_set_leaves_its_endpoints_open() {
        let open = Auth::default();
        assert!(open.allows("/v1/decide/x", None));
        assert!(open.allows("/v1/policies", None));
        let admin_only = Auth {
            admin: Tokens::parse("root"),
            ..Auth::default()
        };
        // Decisions are configured apart: admin tokens alone leave them open.
        assert!(admin_only.allows("/v1/decide/x", None));
        assert!(!admin_only.allows("/v1/policies", None));
    }
}
