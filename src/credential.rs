//! Extraction of the API-key credentials an HTTP client presented, and of the request path.
//!
//! This module only *finds* credentials: it looks at header values (as given to `--header`),
//! URLs, and raw HTTP/1.x request heads, and reports every credential it found together with
//! where it was found. It never validates a token and never touches a key store; the caller
//! does both. Nothing here panics on any input, and no error or `Debug` output ever contains a
//! credential value.
//!
//! A request is read as a hyper server reads it, so that `keyctl verify --request` and a
//! server cannot be told apart by a crafted request: the head by `httparse` (hyper's HTTP/1
//! parser, at its defaults), the target by [`http::Uri`]. [`Presented::from_target_and_headers`]
//! and [`Presented::add_uri`] take what a server already holds, the same way.
//! [`Presented::from_request_head`] adds keyctl's size limits and refuses a little more than
//! hyper does, never less.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;
use http::Uri;
use percent_encoding::percent_decode_str;

/// Largest accepted request head in bytes, counting line ends and the terminating blank line.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest accepted number of header lines in a request head (the request line not counted).
pub const MAX_HEADERS: usize = 100;
/// Largest accepted length in bytes of one request-head line, not counting its CRLF or LF.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// Header names (lowercase) whose whole value is a credential.
pub const CREDENTIAL_HEADERS: [&str; 3] = ["x-auth-key", "x-api-auth", "x-api-key"];
/// Query parameter names (exact, case-sensitive) whose value is a credential.
pub const CREDENTIAL_PARAMS: [&str; 4] = ["_auth_key", "_api_auth", "accesskey", "api_key"];

/// Where a credential was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Given as a command-line argument.
    Argument,
    /// Read from standard input.
    Stdin,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The password of `Authorization: Basic <base64(user:password)>`.
    Basic,
    /// A dedicated header; holds the lowercase header name, e.g. `"x-auth-key"`.
    Header(String),
    /// A query parameter; holds the parameter name, e.g. `"accesskey"`.
    Query(String),
}

impl Source {
    /// Stable label used in JSON output, e.g. `"argument"`, `"stdin"`,
    /// `"header:authorization-bearer"`, `"basic"`, `"header:x-api-key"` or `"query:api_key"`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Source::Argument => "argument".to_owned(),
            Source::Stdin => "stdin".to_owned(),
            Source::Bearer => "header:authorization-bearer".to_owned(),
            Source::Basic => "basic".to_owned(),
            Source::Header(name) => format!("header:{}", name.to_ascii_lowercase()),
            Source::Query(name) => format!("query:{name}"),
        }
    }

    /// True for [`Source::Query`]: query strings end up in access logs and shell history.
    #[must_use]
    pub fn is_query(&self) -> bool {
        matches!(self, Source::Query(_))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl serde::Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A credential as presented, together with where it was found.
///
/// Its `Debug` output shows the source and the token length, never the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The presented token, exactly as extracted (not validated).
    pub token: String,
    /// Where the token was found.
    pub source: Source,
}

impl Credential {
    /// Creates a credential from a token and its source.
    pub fn new(token: impl Into<String>, source: Source) -> Self {
        Self {
            token: token.into(),
            source,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("source", &self.source)
            .field("token_len", &self.token.len())
            .finish_non_exhaustive()
    }
}

/// The result of [`Presented::outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No credential was presented.
    Missing,
    /// Two or more distinct tokens were presented.
    Ambiguous,
    /// Exactly one distinct token was presented (possibly several times); the first
    /// occurrence's source is kept.
    One(Credential),
}

/// Why a request (or a header, or a URL) could not be read.
///
/// No variant ever carries input text, so displaying an error cannot leak a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The request head is larger than [`MAX_HEAD_BYTES`].
    TooLarge,
    /// The request head has more than [`MAX_HEADERS`] header lines.
    TooManyHeaders,
    /// A request-head line is longer than [`MAX_LINE_BYTES`].
    LineTooLong,
    /// The input is not a well-formed header, URL or request head; the text is static.
    Malformed(&'static str),
    /// Reading the request head failed.
    Io(io::ErrorKind),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TooLarge => {
                write!(f, "request head is larger than {MAX_HEAD_BYTES} bytes")
            }
            RequestError::TooManyHeaders => {
                write!(f, "request head has more than {MAX_HEADERS} header lines")
            }
            RequestError::LineTooLong => {
                write!(f, "request head line is longer than {MAX_LINE_BYTES} bytes")
            }
            RequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            RequestError::Io(kind) => write!(f, "cannot read request head: {kind}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Options that change how credentials are recognised.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// When set, a Basic credential is only accepted if its username equals this exactly;
    /// otherwise it is dropped and [`Presented::basic_user_mismatch`] is set.
    pub basic_user: Option<String>,
}

/// What a request presented, gathered from headers, a URL and/or a raw request head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presented {
    /// Every credential found, in the order found (the same token may appear several times).
    pub credentials: Vec<Credential>,
    /// Request path without query string and fragment, as sent (still percent-encoded).
    pub path: Option<String>,
    /// An `https` absolute URL was seen.
    pub https: bool,
    /// `X-Forwarded-Proto` was seen: `Some(true)` when every value of every such header
    /// is `https`, `Some(false)` when any is not.
    pub forwarded_https: Option<bool>,
    /// A Basic credential was dropped because its username differed from
    /// [`Options::basic_user`].
    pub basic_user_mismatch: bool,
    /// An `Authorization` header with a scheme other than Bearer or Basic (or with an empty
    /// value) was seen and ignored.
    pub other_auth_scheme: bool,
}

impl Presented {
    /// Whether the request came over https: as every `X-Forwarded-Proto` value says when
    /// the request passed through a proxy, else as its URL says.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.forwarded_https.unwrap_or(self.https)
    }

    /// Missing when no credential; One when all credentials found carry the same token string
    /// (the first one's source is kept); Ambiguous when two or more distinct tokens were found.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        match self.credentials.split_first() {
            None => Outcome::Missing,
            Some((first, rest)) if rest.iter().all(|c| c.token == first.token) => {
                Outcome::One(first.clone())
            }
            Some(_) => Outcome::Ambiguous,
        }
    }

    /// Parses a `"Name: value"` string (as given to `--header`) and adds it like
    /// [`Presented::add_header`].
    ///
    /// A string without `':'`, or with an empty or invalid name (including whitespace before
    /// the colon), is `Malformed`.
    ///
    /// # Errors
    /// `Malformed` as above, or any error of [`Presented::add_header`].
    pub fn add_header_line(&mut self, line: &str, opts: &Options) -> Result<(), RequestError> {
        let (name, value) = line
            .split_once(':')
            .ok_or(RequestError::Malformed("header line without ':'"))?;
        if name.is_empty() {
            return Err(RequestError::Malformed("empty header name"));
        }
        self.add_header(name, value, opts)
    }

    /// Adds one header already split into name and value.
    ///
    /// The name must be an RFC 7230 token and is matched case-insensitively; the value is
    /// trimmed of surrounding spaces and tabs and must not contain control characters other
    /// than tab. Headers that carry no credential are accepted and ignored.
    ///
    /// # Errors
    /// `Malformed` for an invalid name, a control character in the value, or an
    /// `Authorization: Basic` value that is not base64 of UTF-8 `user:password`.
    pub fn add_header(
        &mut self,
        name: &str,
        value: &str,
        opts: &Options,
    ) -> Result<(), RequestError> {
        if !is_token(name) {
            return Err(RequestError::Malformed("invalid header name"));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(RequestError::Malformed("control character in header value"));
        }
        let value = trim_ows(value);
        if name.eq_ignore_ascii_case("authorization") {
            self.add_authorization(value, opts)?;
        } else if name.eq_ignore_ascii_case("x-forwarded-proto") {
            let all_https = value
                .split(',')
                .all(|v| trim_ows(v).eq_ignore_ascii_case("https"));
            self.forwarded_https = Some(self.forwarded_https.unwrap_or(true) && all_https);
        } else if let Some(header) = CREDENTIAL_HEADERS
            .iter()
            .find(|h| name.eq_ignore_ascii_case(h))
        {
            self.credentials
                .push(Credential::new(value, Source::Header((*header).to_owned())));
        }
        Ok(())
    }

    /// Adds an absolute URL (`"https://host/p?q"`) or an origin-form target (`"/p?q"`).
    ///
    /// The URL is parsed as [`http::Uri`] parses it (as hyper parses a request target), then
    /// taken as [`Presented::add_uri`] takes it. Spaces and control characters anywhere, even
    /// in a fragment that `Uri` would drop unread, and anything `Uri` refuses (such as `<`,
    /// `>` or a backtick in the path, `"` in the query, or a host that is not ASCII) are
    /// `Malformed`, and then nothing is added.
    ///
    /// # Errors
    /// `Malformed` as described above, or any error of [`Presented::add_uri`].
    pub fn add_url(&mut self, url: &str) -> Result<(), RequestError> {
        self.add_uri(&parse_url(url)?)
    }

    /// Adds a URL or request target already parsed as an [`http::Uri`], such as the one a
    /// hyper server hands over for a request.
    ///
    /// Only an absolute URL with an `http` or `https` scheme (case-insensitive) and a host, or
    /// an origin-form target (a path starting with `'/'`, no scheme, no host) is taken: it sets
    /// `path` (query and fragment stripped, not decoded) if not already set, sets `https` for
    /// the `https` scheme, and adds query credentials. Anything else (another scheme, `*`,
    /// authority-form, userinfo, a credential parameter that is not UTF-8 once decoded) is
    /// `Malformed`, and then nothing is added.
    ///
    /// # Errors
    /// `Malformed` as described above.
    pub fn add_uri(&mut self, uri: &Uri) -> Result<(), RequestError> {
        let target = Target::from_uri(uri)?;
        let found = query_credentials(target.query)?;
        if self.path.is_none() {
            self.path = Some(target.path.to_owned());
        }
        self.https |= target.https;
        self.credentials.extend(found);
        Ok(())
    }

    /// What a request presented, from its target and its header fields as an HTTP server
    /// holds them once it has parsed the request head: the one reading shared by
    /// [`Presented::from_request_head`] and a server, so that both find the same credentials.
    ///
    /// The target is taken as [`Presented::add_uri`] takes it, then each header in the order
    /// given as [`Presented::add_header`] takes it; a value must be UTF-8. With hyper, pass
    /// `req.uri()` and
    /// `req.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes()))`, with hyper's HTTP/1
    /// parser left at its defaults (no obs-fold, no spaces before a colon, no lenient request
    /// line). The order of the headers changes no verdict, only which source is kept for a
    /// token presented more than once (a `HeaderMap` yields the values of one name together).
    ///
    /// ```
    /// use keyctl::credential::{Options, Presented};
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-api-key", http::HeaderValue::from_static("kc_example"));
    /// let uri: http::Uri = "/v1/items?page=2".parse().unwrap();
    /// let presented = Presented::from_target_and_headers(
    ///     &uri,
    ///     headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
    ///     &Options::default(),
    /// )
    /// .unwrap();
    /// assert_eq!(presented.path.as_deref(), Some("/v1/items"));
    /// assert_eq!(presented.credentials.len(), 1);
    /// ```
    ///
    /// # Errors
    /// `Malformed` for a header value that is not UTF-8, or any error of
    /// [`Presented::add_uri`] or [`Presented::add_header`].
    pub fn from_target_and_headers<'a>(
        target: &Uri,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        opts: &Options,
    ) -> Result<Presented, RequestError> {
        let mut presented = Presented::default();
        presented.add_uri(target)?;
        presented.add_headers(headers, opts)?;
        Ok(presented)
    }

    /// Adds headers as a server hands them over, name and raw value, like
    /// [`Presented::add_header`] each.
    ///
    /// # Errors
    /// `Malformed` for a header value that is not UTF-8, or any error of
    /// [`Presented::add_header`].
    pub fn add_headers<'a>(
        &mut self,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        opts: &Options,
    ) -> Result<(), RequestError> {
        for (name, value) in headers {
            let value = std::str::from_utf8(value)
                .map_err(|_| RequestError::Malformed("header value is not UTF-8"))?;
            self.add_header(name, value, opts)?;
        }
        Ok(())
    }

    /// Parses a raw HTTP/1.x request head: the request line `METHOD SP target SP HTTP/1.x`,
    /// then header lines, up to the first empty line (or the end of input); anything after the
    /// empty line is ignored. CRLF and bare LF line ends are accepted.
    ///
    /// The head is read as hyper reads it: by `httparse` with its default (strict) settings,
    /// the target by [`http::Uri`], then taken as [`Presented::from_target_and_headers`] takes
    /// it. keyctl checks more around that:
    ///
    /// - The size limits are checked first, while splitting lines: a head (including line
    ///   ends and the blank line) over [`MAX_HEAD_BYTES`] is `TooLarge`, more than
    ///   [`MAX_HEADERS`] header lines is `TooManyHeaders`, a line over [`MAX_LINE_BYTES`] is
    ///   `LineTooLong`.
    /// - The end of input ends the head as a blank line would (a server would wait for more).
    /// - Empty lines before the request line (which `httparse` skips), invalid UTF-8
    ///   anywhere in the head (which `httparse` takes in header values), and an obs-fold
    ///   continuation line are `Malformed`.
    ///
    /// Beyond those, whatever `httparse` refuses is `Malformed`: a request line that is not
    /// exactly `METHOD SP target SP HTTP/1.0` or `HTTP/1.1`, a header line without `':'`, with
    /// a name that is not an RFC 7230 token or a space before the colon, a bare CR, or a
    /// control character in a value; and so is a target that [`Presented::add_uri`] refuses
    /// (including `*` and authority-form).
    ///
    /// # Errors
    /// The limit errors and `Malformed`, as described above.
    pub fn from_request_head(head: &[u8], opts: &Options) -> Result<Presented, RequestError> {
        let head = split_head(head)?;
        let Some((_, header_lines)) = head.lines.split_first() else {
            return Err(RequestError::Malformed("missing request line"));
        };
        std::str::from_utf8(head.bytes)
            .map_err(|_| RequestError::Malformed("request head is not UTF-8"))?;
        if header_lines
            .iter()
            .any(|line| line.starts_with(b" ") || line.starts_with(b"\t"))
        {
            return Err(RequestError::Malformed(
                "obsolete line folding is not supported",
            ));
        }

        let bytes = head.terminated();
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&bytes) {
            Ok(httparse::Status::Complete(len)) if len == bytes.len() => {}
            Ok(_) => return Err(RequestError::Malformed("incomplete request head")),
            Err(e) => return Err(head.explain(e, &request)),
        }
        let target = request
            .path
            .ok_or(RequestError::Malformed("invalid request line"))?;
        Self::from_target_and_headers(
            &parse_url(target)?,
            request.headers.iter().map(|h| (h.name, h.value)),
            opts,
        )
    }

    /// Like [`Presented::from_request_head`], but reads the head from `r`.
    ///
    /// Reads one byte at a time and stops right after the blank line, so a body that follows
    /// is left unread (wrap slow unbuffered readers in a `BufReader`). Never reads more than
    /// `MAX_HEAD_BYTES + 1` bytes nor buffers more than that.
    ///
    /// # Errors
    /// As [`Presented::from_request_head`], plus `Io` when reading fails.
    pub fn read_request_head(r: impl Read, opts: &Options) -> Result<Presented, RequestError> {
        const LIMIT: usize = MAX_HEAD_BYTES + 1;
        let mut limited = r.take(LIMIT as u64);
        let mut head: Vec<u8> = Vec::with_capacity(1024);
        let mut byte = [0u8; 1];
        loop {
            match limited.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => {
                    if head.len() == head.capacity() {
                        let more = head.capacity().min(LIMIT.saturating_sub(head.len()));
                        head.reserve_exact(more.max(1));
                    }
                    head.push(byte[0]);
                    if ends_with_blank_line(&head) {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RequestError::Io(e.kind())),
            }
        }
        Self::from_request_head(&head, opts)
    }

    /// Handles the (trimmed) value of an `Authorization` header.
    fn add_authorization(&mut self, value: &str, opts: &Options) -> Result<(), RequestError> {
        let (scheme, rest) = match value.split_once([' ', '\t']) {
            Some((scheme, rest)) => (scheme, trim_ows(rest)),
            None => (value, ""),
        };
        if scheme.eq_ignore_ascii_case("bearer") {
            self.credentials.push(Credential::new(rest, Source::Bearer));
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD_PAD_INDIFFERENT
                .decode(rest)
                .map_err(|_| RequestError::Malformed("Basic credentials are not valid base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| RequestError::Malformed("Basic credentials are not valid UTF-8"))?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or(RequestError::Malformed("Basic credentials without ':'"))?;
            match &opts.basic_user {
                Some(expected) if expected != user => self.basic_user_mismatch = true,
                _ => self
                    .credentials
                    .push(Credential::new(password, Source::Basic)),
            }
        } else {
            self.other_auth_scheme = true;
        }
        Ok(())
    }
}

/// The parts of a URL or request target that matter here.
struct Target<'a> {
    https: bool,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// Takes an absolute `http`/`https` URL with a host and no userinfo, or an origin-form
    /// target; refuses every other form `Uri` can hold (`*`, authority-form, other schemes).
    fn from_uri(uri: &'a Uri) -> Result<Self, RequestError> {
        let https = match uri.scheme_str() {
            None if uri.authority().is_none() && uri.path().starts_with('/') => false,
            None => {
                return Err(RequestError::Malformed(
                    "URL is neither absolute nor origin-form",
                ));
            }
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            Some(_) => return Err(RequestError::Malformed("unsupported URL scheme")),
        };
        if uri.scheme().is_some() {
            match uri.authority().map(http::uri::Authority::as_str) {
                None | Some("") => return Err(RequestError::Malformed("URL without host")),
                Some(authority) if authority.contains('@') => {
                    return Err(RequestError::Malformed("userinfo in URL is not supported"));
                }
                Some(_) => {}
            }
        }
        let path = match uri.path() {
            "" => "/",
            path => path,
        };
        Ok(Self {
            https,
            path,
            query: uri.query(),
        })
    }
}

/// Parses a URL or request target as hyper does (`http::Uri`), refusing spaces and control
/// characters anywhere first, even in a fragment, which `Uri` drops without looking at it.
fn parse_url(url: &str) -> Result<Uri, RequestError> {
    if url.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(RequestError::Malformed("invalid character in URL"));
    }
    Uri::try_from(url).map_err(|_| RequestError::Malformed(url_error(url)))
}

/// Why `Uri` refused `url`, in the words [`Target::from_uri`] uses for the same faults.
fn url_error(url: &str) -> &'static str {
    if url.starts_with('/') {
        return "invalid URL";
    }
    let Some((scheme, after)) = url.split_once("://") else {
        return "URL is neither absolute nor origin-form";
    };
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return "unsupported URL scheme";
    }
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    if authority.is_empty() {
        "URL without host"
    } else if authority.contains('@') {
        "userinfo in URL is not supported"
    } else {
        "invalid URL"
    }
}

/// Credentials carried by a query string. Parameter names are percent-decoded before being
/// compared; `'+'` is kept as is. A parameter without `'='` counts as an empty value.
fn query_credentials(query: Option<&str>) -> Result<Vec<Credential>, RequestError> {
    let mut found = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name: Cow<'_, [u8]> = percent_decode_str(raw_name).into();
        let Some(param) = CREDENTIAL_PARAMS.iter().find(|p| p.as_bytes() == &*name) else {
            continue;
        };
        let value = percent_decode_str(raw_value).decode_utf8().map_err(|_| {
            RequestError::Malformed("query credential is not valid UTF-8 once decoded")
        })?;
        found.push(Credential::new(value, Source::Query((*param).to_owned())));
    }
    Ok(found)
}

/// A request head cut at its first empty line, within the size limits.
struct Head<'a> {
    /// The head's bytes: through the empty line and its line end, or to the end of input.
    bytes: &'a [u8],
    /// The lines before the empty line, request line first, without CRLF or LF.
    lines: Vec<&'a [u8]>,
    /// Whether an empty line (rather than the end of input) ended the head.
    blank_line: bool,
}

/// Cuts a request head at its first empty line and enforces the size limits without
/// allocating per byte. `httparse` has no limit on a line, nor one on the head that counts
/// as keyctl counts, so this runs first, on the bytes as given.
fn split_head(head: &[u8]) -> Result<Head<'_>, RequestError> {
    let mut lines = Vec::new();
    let mut rest = head;
    let mut consumed = 0usize;
    let mut blank_line = false;
    while !rest.is_empty() {
        // A line of MAX_LINE_BYTES plus CR and LF fits in this window; a longer one doesn't.
        let window = &rest[..rest.len().min(MAX_LINE_BYTES + 2)];
        let (line, used) = match window.iter().position(|&b| b == b'\n') {
            Some(lf) => (&window[..lf], lf + 1),
            None if rest.len() > window.len() => return Err(RequestError::LineTooLong),
            None => (window, window.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE_BYTES {
            return Err(RequestError::LineTooLong);
        }
        consumed += used;
        if consumed > MAX_HEAD_BYTES {
            return Err(RequestError::TooLarge);
        }
        if line.is_empty() {
            blank_line = true;
            break;
        }
        if lines.len() > MAX_HEADERS {
            return Err(RequestError::TooManyHeaders);
        }
        lines.push(line);
        rest = &rest[used..];
    }
    Ok(Head {
        bytes: &head[..consumed],
        lines,
        blank_line,
    })
}

impl Head<'_> {
    /// The head as `httparse` needs it to be complete: when the end of input ended it, the
    /// last line and the empty line get the LF they lack (a lone CR before the end stays the
    /// CR of a CRLF, as the line split took it).
    fn terminated(&self) -> Cow<'_, [u8]> {
        if self.blank_line && self.bytes.ends_with(b"\n") {
            return Cow::Borrowed(self.bytes);
        }
        let mut bytes = self.bytes.to_vec();
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        if !self.blank_line {
            bytes.push(b'\n');
        }
        Cow::Owned(bytes)
    }

    /// Turns an `httparse` error into the message for the line at fault: the request line
    /// unless `httparse` got through all of it, else the first header line that is wrong.
    fn explain(&self, error: httparse::Error, request: &httparse::Request<'_, '_>) -> RequestError {
        let Some((request_line, header_lines)) = self.lines.split_first() else {
            return RequestError::Malformed("missing request line");
        };
        // httparse sets method, target and version as it reads them; the line was all read
        // when nothing but those, two spaces and the line end is in it.
        let request_line_read = match (request.method, request.path, request.version) {
            (Some(method), Some(target), Some(_)) => {
                request_line.len() == method.len() + target.len() + "  HTTP/1.1".len()
            }
            _ => false,
        };
        if !request_line_read {
            return RequestError::Malformed("invalid request line");
        }
        if error == httparse::Error::TooManyHeaders {
            return RequestError::TooManyHeaders;
        }
        for line in header_lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return RequestError::Malformed("header line without ':'");
            };
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                return RequestError::Malformed("invalid header name");
            }
            if line[colon..]
                .iter()
                .any(|&b| b.is_ascii_control() && b != b'\t')
            {
                return RequestError::Malformed("control character in header value");
            }
        }
        RequestError::Malformed("invalid header line")
    }
}

/// True once `head` ends with an empty line (LF, or CRLF, alone on its line).
fn ends_with_blank_line(head: &[u8]) -> bool {
    matches!(head, b"\n" | b"\r\n") || head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n")
}

/// True for a valid HTTP header name (an RFC 7230 `token`).
#[must_use]
pub fn is_header_name(s: &str) -> bool {
    is_token(s)
}

/// RFC 7230 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Trims optional whitespace (spaces and tabs) from both ends.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn no_opts() -> Options {
        Options::default()
    }

    fn user_opts(user: &str) -> Options {
        Options {
            basic_user: Some(user.to_owned()),
        }
    }

    fn header(line: &str) -> Result<Presented, RequestError> {
        header_with(line, &no_opts())
    }

    fn header_with(line: &str, opts: &Options) -> Result<Presented, RequestError> {
        let mut p = Presented::default();
        p.add_header_line(line, opts)?;
        Ok(p)
    }

    fn url(u: &str) -> Result<Presented, RequestError> {
        let mut p = Presented::default();
        p.add_url(u)?;
        Ok(p)
    }

    fn head(text: &str) -> Result<Presented, RequestError> {
        Presented::from_request_head(text.as_bytes(), &no_opts())
    }

    fn one(token: &str, source: Source) -> Outcome {
        Outcome::One(Credential::new(token, source))
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn hdr(name: &str) -> Source {
        Source::Header(name.to_owned())
    }

    fn query(name: &str) -> Source {
        Source::Query(name.to_owned())
    }

    const TOKEN: &str = "kc_AbCdEf0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW";

    /// A CRLF request head of exactly `total` bytes made of filler headers.
    fn padded_head(total: usize, header_lines: usize) -> Vec<u8> {
        let start = "GET / HTTP/1.1\r\n";
        let body = total - start.len() - 2;
        let mut out = start.to_owned();
        for i in 0..header_lines {
            // Each filler line is "X-Fill: " + padding + "\r\n" (10 bytes + padding).
            let len = body / header_lines + usize::from(i < body % header_lines);
            out.push_str("X-Fill: ");
            out.push_str(&"a".repeat(len - 10));
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        assert_eq!(out.len(), total);
        out.into_bytes()
    }

    fn head_with_line_of(len: usize, eol: &str) -> Vec<u8> {
        let value = "v".repeat(len - "X-Long: ".len());
        format!("GET / HTTP/1.1{eol}X-Long: {value}{eol}{eol}").into_bytes()
    }

    #[test]
    fn labels_and_is_query() {
        let cases = [
            (Source::Argument, "argument"),
            (Source::Stdin, "stdin"),
            (Source::Bearer, "header:authorization-bearer"),
            (Source::Basic, "basic"),
            (hdr("x-auth-key"), "header:x-auth-key"),
            (hdr("x-api-auth"), "header:x-api-auth"),
            (hdr("x-api-key"), "header:x-api-key"),
            (query("_auth_key"), "query:_auth_key"),
            (query("_api_auth"), "query:_api_auth"),
            (query("accesskey"), "query:accesskey"),
            (query("api_key"), "query:api_key"),
        ];
        for (source, label) in cases {
            assert_eq!(source.label(), label);
            assert_eq!(source.is_query(), label.starts_with("query:"));
        }
    }

    #[test]
    fn debug_never_shows_token() {
        let c = Credential::new(TOKEN, Source::Bearer);
        let shown = format!("{c:?} {:?}", header(&format!("X-Api-Key: {TOKEN}")));
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains(&TOKEN.len().to_string()));
    }

    #[test]
    fn errors_never_show_input() {
        let bad = [
            header(&format!("X {TOKEN}: v")),
            header(&format!("Authorization: Basic {TOKEN}!")),
            url(&format!("ftp://{TOKEN}/")),
            head(&format!("GET /{TOKEN} HTTP/9.9\r\n\r\n")),
            head(&format!("GET / HTTP/1.1\r\n{TOKEN}\r\n\r\n")),
        ];
        for result in bad {
            let err = result.expect_err("input is malformed");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(TOKEN), "{shown}");
        }
    }

    #[test]
    fn bearer_header() {
        assert_eq!(
            header(&format!("Authorization: Bearer {TOKEN}"))
                .unwrap()
                .outcome(),
            one(TOKEN, Source::Bearer)
        );
    }

    #[test]
    fn bearer_is_case_insensitive_and_allows_several_spaces() {
        for line in [
            "authorization: bearer tok",
            "AUTHORIZATION:BEARER    tok  ",
            "Authorization:\t Bearer \t tok\t",
        ] {
            assert_eq!(header(line).unwrap().outcome(), one("tok", Source::Bearer));
        }
    }

    #[test]
    fn empty_bearer_is_an_empty_credential() {
        assert_eq!(
            header("Authorization: Bearer").unwrap().outcome(),
            one("", Source::Bearer)
        );
    }

    #[test]
    fn basic_password_is_the_token() {
        let line = format!("Authorization: Basic {}", b64(&format!("me:{TOKEN}")));
        assert_eq!(header(&line).unwrap().outcome(), one(TOKEN, Source::Basic));
    }

    #[test]
    fn basic_password_is_everything_after_first_colon() {
        let line = format!("authorization: basic {}", b64("me:a:b:"));
        assert_eq!(header(&line).unwrap().outcome(), one("a:b:", Source::Basic));
    }

    #[test]
    fn basic_without_padding_is_accepted() {
        // "u:tok" is 5 bytes, so the padded encoding ends in '='.
        let padded = b64("u:tok");
        assert!(padded.ends_with('='));
        let line = format!("Authorization: Basic {}", padded.trim_end_matches('='));
        assert_eq!(header(&line).unwrap().outcome(), one("tok", Source::Basic));
    }

    #[test]
    fn basic_user_matching() {
        let line = format!("Authorization: Basic {}", b64("keyctl:tok"));
        let p = header_with(&line, &user_opts("keyctl")).unwrap();
        assert_eq!(p.outcome(), one("tok", Source::Basic));
        assert!(!p.basic_user_mismatch);

        let p = header_with(&line, &user_opts("other")).unwrap();
        assert_eq!(p.outcome(), Outcome::Missing);
        assert!(p.basic_user_mismatch);

        let p = header_with(&line, &user_opts("KEYCTL")).unwrap();
        assert!(p.basic_user_mismatch, "usernames compare exactly");
    }

    #[test]
    fn basic_malformed() {
        let bad = [
            "Authorization: Basic !!!!".to_owned(),
            "Authorization: Basic".to_owned(),
            format!("Authorization: Basic {}", b64("no-colon")),
            format!(
                "Authorization: Basic {}",
                base64::engine::general_purpose::STANDARD.encode(b"u:\xff\xfe")
            ),
        ];
        for line in bad {
            assert!(
                matches!(header(&line), Err(RequestError::Malformed(_))),
                "{line}"
            );
        }
    }

    #[test]
    fn other_auth_scheme_is_flagged_not_used() {
        for line in ["Authorization: Digest username=x", "Authorization: "] {
            let p = header(line).unwrap();
            assert_eq!(p.outcome(), Outcome::Missing);
            assert!(p.other_auth_scheme);
        }
    }

    #[test]
    fn dedicated_headers_any_case() {
        for (line, name) in [
            ("X-Auth-Key: tok", "x-auth-key"),
            ("x-api-auth:tok", "x-api-auth"),
            ("X-API-KEY: \t tok \t", "x-api-key"),
        ] {
            assert_eq!(header(line).unwrap().outcome(), one("tok", hdr(name)));
        }
    }

    #[test]
    fn empty_header_value_is_an_empty_credential() {
        assert_eq!(
            header("x-auth-key:").unwrap().outcome(),
            one("", hdr("x-auth-key"))
        );
    }

    #[test]
    fn unrelated_headers_are_ignored() {
        let p = header("X-Api-Keys: tok").unwrap();
        assert_eq!(p, Presented::default());
    }

    #[test]
    fn bad_header_lines() {
        for line in [
            "no colon",
            ": empty name",
            "Bad Name: v",
            "X-Api-Key : v",
            " X-Api-Key: v",
            "X-Api-Key: a\rb",
            "X-Api-Key: a\nb",
            "X-Api-Key: a\0b",
        ] {
            assert!(
                matches!(header(line), Err(RequestError::Malformed(_))),
                "{line:?}"
            );
        }
    }

    #[test]
    fn add_header_takes_split_pair() {
        let mut p = Presented::default();
        p.add_header("X-Auth-Key", "  tok ", &no_opts()).unwrap();
        assert_eq!(p.outcome(), one("tok", hdr("x-auth-key")));
        assert!(p.add_header("", "tok", &no_opts()).is_err());
    }

    #[test]
    fn same_token_twice_is_one_with_first_source() {
        let mut p = Presented::default();
        p.add_header_line("X-Api-Key: tok", &no_opts()).unwrap();
        p.add_header_line("Authorization: Bearer tok", &no_opts())
            .unwrap();
        p.add_url("/x?api_key=tok").unwrap();
        assert_eq!(p.credentials.len(), 3);
        assert_eq!(p.outcome(), one("tok", hdr("x-api-key")));
    }

    #[test]
    fn duplicate_header_lines_are_each_added() {
        let p = head("GET / HTTP/1.1\r\nX-Api-Key: a\r\nX-Api-Key: a\r\n\r\n").unwrap();
        assert_eq!(p.credentials.len(), 2);
        assert_eq!(p.outcome(), one("a", hdr("x-api-key")));
    }

    #[test]
    fn distinct_tokens_are_ambiguous() {
        let p = head("GET /?accesskey=b HTTP/1.1\r\nX-Api-Key: a\r\n\r\n").unwrap();
        assert_eq!(p.outcome(), Outcome::Ambiguous);
        let p = head("GET / HTTP/1.1\nX-Api-Key: a\nX-Api-Key: A\n\n").unwrap();
        assert_eq!(p.outcome(), Outcome::Ambiguous);
    }

    #[test]
    fn missing() {
        let p = head("GET /api HTTP/1.1\r\nHost: example\r\n\r\n").unwrap();
        assert_eq!(p.outcome(), Outcome::Missing);
        assert_eq!(Presented::default().outcome(), Outcome::Missing);
    }

    #[test]
    fn query_parameters() {
        for name in CREDENTIAL_PARAMS {
            let p = url(&format!("/p?x=1&{name}=tok&y")).unwrap();
            assert_eq!(p.outcome(), one("tok", query(name)));
            assert!(p.outcome() != Outcome::Missing);
        }
    }

    #[test]
    fn query_names_are_case_sensitive() {
        let p = url("/p?AccessKey=tok&API_KEY=tok&api_key2=tok").unwrap();
        assert_eq!(p.outcome(), Outcome::Missing);
    }

    #[test]
    fn query_values_are_percent_decoded_but_plus_is_kept() {
        let p = url("/p?api_key=a%5Fb%2bc+d").unwrap();
        assert_eq!(p.outcome(), one("a_b+c+d", query("api_key")));
        let p = url("/p?api%5Fkey=tok").unwrap();
        assert_eq!(p.outcome(), one("tok", query("api_key")));
    }

    #[test]
    fn query_value_invalid_utf8_is_malformed_and_adds_nothing() {
        let mut p = Presented::default();
        let err = p.add_url("https://h/p?api_key=ok&accesskey=%FF");
        assert!(matches!(err, Err(RequestError::Malformed(_))));
        assert_eq!(p, Presented::default());
        // Non-credential parameters are not checked.
        assert!(url("/p?other=%FF").is_ok());
    }

    #[test]
    fn empty_query_values_are_empty_credentials() {
        let p = url("/p?accesskey=&_auth_key").unwrap();
        let tokens: Vec<_> = p.credentials.iter().map(|c| c.token.as_str()).collect();
        assert_eq!(tokens, ["", ""]);
    }

    #[test]
    fn absolute_url_path_extraction() {
        for (u, path) in [
            ("https://host:443/a/b?x", "/a/b"),
            ("https://host", "/"),
            ("https://host?x=1", "/"),
            ("http://host#frag", "/"),
            ("http://host/a%2Fb/../c?q#f", "/a%2Fb/../c"),
            ("/api/v1/x?api_key=t", "/api/v1/x"),
            ("/a#b?api_key=t", "/a"),
            ("//double", "//double"),
        ] {
            assert_eq!(url(u).unwrap().path.as_deref(), Some(path), "{u}");
        }
    }

    #[test]
    fn fragment_is_not_a_query() {
        assert_eq!(url("/a#?api_key=t").unwrap().outcome(), Outcome::Missing);
    }

    #[test]
    fn path_is_kept_from_first_url() {
        let mut p = Presented::default();
        p.add_url("/first").unwrap();
        p.add_url("https://h/second").unwrap();
        assert_eq!(p.path.as_deref(), Some("/first"));
        assert!(p.https);
    }

    #[test]
    fn https_detection() {
        assert!(url("https://h/").unwrap().https);
        assert!(url("HTTPS://h/").unwrap().https);
        assert!(!url("http://h/").unwrap().https);
        assert!(!url("/p").unwrap().https);
        assert!(
            head("GET https://h/p HTTP/1.1\r\n\r\n").unwrap().https,
            "absolute-form target"
        );
    }

    #[test]
    fn bad_urls() {
        for u in [
            "",
            "*",
            "host:443",
            "example.com/p",
            "ftp://h/",
            "https:///p",
            "https://user:pw@h/",
            "/a b",
            "/a\tb",
        ] {
            assert!(matches!(url(u), Err(RequestError::Malformed(_))), "{u:?}");
        }
    }

    #[test]
    fn x_forwarded_proto() {
        for (value, https) in [
            ("https", true),
            ("HTTPS", true),
            (" https , https", true),
            (" https , http", false),
            ("http, https", false),
            ("http", false),
            ("", false),
        ] {
            let p = header(&format!("X-Forwarded-Proto: {value}")).unwrap();
            assert_eq!(p.is_https(), https, "{value:?}");
        }
    }

    #[test]
    fn every_x_forwarded_proto_header_must_say_https() {
        let mut p = Presented::default();
        p.add_header_line("X-Forwarded-Proto: http", &no_opts())
            .unwrap();
        p.add_header_line("X-Forwarded-Proto: https", &no_opts())
            .unwrap();
        assert!(!p.is_https());
        let mut p = Presented::default();
        p.add_url("https://h/p").unwrap();
        assert!(p.is_https());
        p.add_header_line("X-Forwarded-Proto: http", &no_opts())
            .unwrap();
        assert!(!p.is_https(), "the proxy's word wins over the URL");
    }

    #[test]
    fn request_head_collects_everything() {
        let text = "POST /api/v1/x?api_key=tok HTTP/1.1\r\n\
                    Host: example\r\n\
                    X-Forwarded-Proto: https\r\n\
                    Authorization: Bearer tok\r\n\
                    \r\n\
                    body: X-Api-Key: other\r\n";
        let p = head(text).unwrap();
        assert_eq!(p.path.as_deref(), Some("/api/v1/x"));
        assert!(p.is_https());
        assert_eq!(p.credentials.len(), 2);
        assert_eq!(p.outcome(), one("tok", query("api_key")));
    }

    #[test]
    fn crlf_lf_and_mixed_line_ends_agree() {
        let crlf = head("GET /p HTTP/1.1\r\nX-Auth-Key: tok\r\nHost: h\r\n\r\n").unwrap();
        let lf = head("GET /p HTTP/1.1\nX-Auth-Key: tok\nHost: h\n\n").unwrap();
        let mixed = head("GET /p HTTP/1.1\r\nX-Auth-Key: tok\nHost: h\n\r\n").unwrap();
        let no_blank = head("GET /p HTTP/1.1\nX-Auth-Key: tok\nHost: h").unwrap();
        assert_eq!(crlf.outcome(), one("tok", hdr("x-auth-key")));
        assert_eq!(crlf, lf);
        assert_eq!(crlf, mixed);
        assert_eq!(crlf, no_blank);
    }

    #[test]
    fn obs_fold_is_malformed() {
        for text in [
            "GET / HTTP/1.1\r\nX-Api-Key: a\r\n  b\r\n\r\n",
            "GET / HTTP/1.1\nX-Api-Key: a\n\tb\n\n",
            "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
        ] {
            assert_eq!(
                head(text),
                Err(RequestError::Malformed(
                    "obsolete line folding is not supported"
                ))
            );
        }
    }

    #[test]
    fn bad_request_heads() {
        for text in [
            "",
            "\r\n",
            "\r\nGET / HTTP/1.1\r\n\r\n",
            "GET /\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1 \r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "GET / HTTP/1.10\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\n\r\n",
            "CONNECT host:443 HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        ] {
            assert!(
                matches!(head(text), Err(RequestError::Malformed(_))),
                "{text:?}"
            );
        }
        let invalid_utf8 = b"GET / HTTP/1.1\r\nX-Api-Key: \xff\r\n\r\n";
        assert!(matches!(
            Presented::from_request_head(invalid_utf8, &no_opts()),
            Err(RequestError::Malformed(_))
        ));
    }

    #[test]
    fn head_size_limit() {
        let at = padded_head(MAX_HEAD_BYTES, 60);
        assert!(Presented::from_request_head(&at, &no_opts()).is_ok());
        assert!(Presented::read_request_head(&at[..], &no_opts()).is_ok());

        let over = padded_head(MAX_HEAD_BYTES + 1, 60);
        assert_eq!(
            Presented::from_request_head(&over, &no_opts()),
            Err(RequestError::TooLarge)
        );
        assert_eq!(
            Presented::read_request_head(&over[..], &no_opts()),
            Err(RequestError::TooLarge)
        );
    }

    #[test]
    fn body_after_head_does_not_count() {
        let mut bytes = padded_head(MAX_HEAD_BYTES, 60);
        bytes.extend(std::iter::repeat_n(b'x', 100_000));
        assert!(Presented::from_request_head(&bytes, &no_opts()).is_ok());
        assert!(Presented::read_request_head(&bytes[..], &no_opts()).is_ok());
    }

    #[test]
    fn header_count_limit() {
        let at = padded_head(4000, MAX_HEADERS);
        assert!(Presented::from_request_head(&at, &no_opts()).is_ok());
        let over = padded_head(4000, MAX_HEADERS + 1);
        assert_eq!(
            Presented::from_request_head(&over, &no_opts()),
            Err(RequestError::TooManyHeaders)
        );
        assert_eq!(
            Presented::read_request_head(&over[..], &no_opts()),
            Err(RequestError::TooManyHeaders)
        );
    }

    #[test]
    fn line_length_limit() {
        for eol in ["\r\n", "\n"] {
            let at = head_with_line_of(MAX_LINE_BYTES, eol);
            assert!(Presented::from_request_head(&at, &no_opts()).is_ok());
            let over = head_with_line_of(MAX_LINE_BYTES + 1, eol);
            assert_eq!(
                Presented::from_request_head(&over, &no_opts()),
                Err(RequestError::LineTooLong)
            );
            assert_eq!(
                Presented::read_request_head(&over[..], &no_opts()),
                Err(RequestError::LineTooLong)
            );
        }
        // A request line too, including one with no line end at all.
        let target = format!("/{}", "a".repeat(MAX_LINE_BYTES));
        let line = format!("GET {target} HTTP/1.1");
        assert_eq!(head(&line), Err(RequestError::LineTooLong));
        assert_eq!(
            head(&format!("{line}\r\n\r\n")),
            Err(RequestError::LineTooLong)
        );
    }

    #[test]
    fn read_stops_at_blank_line() {
        let text = b"GET /p HTTP/1.1\r\nX-Api-Key: tok\r\n\r\nX-Api-Key: body\r\n";
        let mut cursor = Cursor::new(&text[..]);
        let p = Presented::read_request_head(&mut cursor, &no_opts()).unwrap();
        assert_eq!(p.outcome(), one("tok", hdr("x-api-key")));
        let head_len = text.len() - "X-Api-Key: body\r\n".len();
        assert_eq!(cursor.position(), head_len as u64);
    }

    /// A reader that counts how many bytes were taken from it.
    struct Counting<R> {
        inner: R,
        taken: usize,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.taken += n;
            Ok(n)
        }
    }

    #[test]
    fn read_is_bounded_on_endless_input() {
        let mut endless = Counting {
            inner: io::repeat(b'a'),
            taken: 0,
        };
        let result = Presented::read_request_head(&mut endless, &no_opts());
        assert_eq!(result, Err(RequestError::LineTooLong));
        assert!(endless.taken <= MAX_HEAD_BYTES + 1);

        let lines = b"X: y\r\n".repeat(20_000);
        let mut many = Counting {
            inner: Cursor::new(lines),
            taken: 0,
        };
        let result = Presented::read_request_head(&mut many, &no_opts());
        assert!(result.is_err());
        assert!(many.taken <= MAX_HEAD_BYTES + 1);
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "boom"))
        }
    }

    #[test]
    fn read_errors_are_reported() {
        assert_eq!(
            Presented::read_request_head(Failing, &no_opts()),
            Err(RequestError::Io(io::ErrorKind::ConnectionReset))
        );
    }

    #[test]
    fn request_head_uses_basic_user_option() {
        let text = format!(
            "GET / HTTP/1.0\nAuthorization: Basic {}\n\n",
            b64("someone:tok")
        );
        let p = Presented::from_request_head(text.as_bytes(), &user_opts("keyctl")).unwrap();
        assert_eq!(p.outcome(), Outcome::Missing);
        assert!(p.basic_user_mismatch);
        let p = Presented::from_request_head(text.as_bytes(), &no_opts()).unwrap();
        assert_eq!(p.outcome(), one("tok", Source::Basic));
    }

    #[test]
    fn only_http_1_0_and_1_1_are_read() {
        // httparse, and so hyper, reads no other version; keyctl once took HTTP/1.2 to 1.9.
        for version in ["HTTP/1.0", "HTTP/1.1"] {
            assert!(
                head(&format!("GET / {version}\r\n\r\n")).is_ok(),
                "{version}"
            );
        }
        for version in [
            "HTTP/1.2",
            "HTTP/1.9",
            "HTTP/2",
            "HTTP/3.0",
            "http/1.1",
            "HTTP/1.1x",
        ] {
            assert_eq!(
                head(&format!("GET / {version}\r\n\r\n")),
                Err(RequestError::Malformed("invalid request line")),
                "{version}"
            );
        }
    }

    #[test]
    fn targets_that_http_uri_refuses_are_malformed() {
        // keyctl once took any target without spaces or controls; hyper hands a server only
        // what `http::Uri` parses, so these are now malformed in a URL and a request line.
        for target in [
            "/a<b",
            "/a>b",
            "/a`b",
            "/p?q=\"x\"",
            "/p?a<b",
            "https://h%41/p",
            "https://ex\u{e4}mple/p",
            "https://h:1:2/p",
            "https://h\\x/p",
        ] {
            assert_eq!(
                url(target),
                Err(RequestError::Malformed("invalid URL")),
                "{target:?}"
            );
            assert!(
                matches!(
                    head(&format!("GET {target} HTTP/1.1\r\n\r\n")),
                    Err(RequestError::Malformed(_))
                ),
                "{target:?}"
            );
        }
        // What both take, raw non-ASCII in a path or query included.
        for target in [
            "/a\"{}|\\^[]b",
            "/p?q={}|\\^`",
            "/caf\u{e9}?q=\u{e9}",
            "https://[::1]:8443/p",
        ] {
            assert!(url(target).is_ok(), "{target:?}");
            assert!(
                head(&format!("GET {target} HTTP/1.1\r\n\r\n")).is_ok(),
                "{target:?}"
            );
        }
    }

    #[test]
    fn url_messages_name_the_fault() {
        for (u, why) in [
            ("", "URL is neither absolute nor origin-form"),
            ("example.com/p", "URL is neither absolute nor origin-form"),
            ("*", "URL is neither absolute nor origin-form"),
            ("host:443", "URL is neither absolute nor origin-form"),
            ("ftp://h/", "unsupported URL scheme"),
            ("https:///p", "URL without host"),
            ("https://?q", "URL without host"),
            ("https://user:pw@h/", "userinfo in URL is not supported"),
            ("https://user@/", "userinfo in URL is not supported"),
            ("/a b", "invalid character in URL"),
            ("/a#b\tc", "invalid character in URL"),
        ] {
            assert_eq!(url(u), Err(RequestError::Malformed(why)), "{u:?}");
        }
    }

    #[test]
    fn add_uri_takes_only_absolute_http_and_origin_form() {
        for (target, path, https) in [
            ("/p?api_key=tok", "/p", false),
            ("HTTPS://h/p?api_key=tok#f", "/p", true),
            ("http://h?api_key=tok", "/", false),
        ] {
            let uri: Uri = target.parse().unwrap();
            let mut p = Presented::default();
            p.add_uri(&uri).unwrap();
            assert_eq!(p.path.as_deref(), Some(path), "{target}");
            assert_eq!(p.https, https, "{target}");
            assert_eq!(p.outcome(), one("tok", query("api_key")), "{target}");
            assert_eq!(p, url(target).unwrap());
        }
        for target in [
            "*",
            "host:443",
            "ftp://h/?api_key=tok",
            "https://u:pw@h/?api_key=tok",
        ] {
            let uri: Uri = target.parse().unwrap();
            let mut p = Presented::default();
            assert!(
                matches!(p.add_uri(&uri), Err(RequestError::Malformed(_))),
                "{target}"
            );
            assert_eq!(p, Presented::default(), "{target}");
        }
    }

    #[test]
    fn end_of_input_ends_the_head_as_a_blank_line_would() {
        let want = head("GET /p HTTP/1.1\r\nX-Auth-Key: tok\r\n\r\n").unwrap();
        for text in [
            "GET /p HTTP/1.1\r\nX-Auth-Key: tok",
            "GET /p HTTP/1.1\r\nX-Auth-Key: tok\r",
            "GET /p HTTP/1.1\r\nX-Auth-Key: tok\r\n",
            "GET /p HTTP/1.1\r\nX-Auth-Key: tok\r\n\r",
            "GET /p HTTP/1.1\nX-Auth-Key: tok\n",
        ] {
            assert_eq!(head(text).as_ref(), Ok(&want), "{text:?}");
        }
        assert_eq!(head("GET /p HTTP/1.1").unwrap().path.as_deref(), Some("/p"));
    }

    #[test]
    fn leading_empty_lines_stay_malformed() {
        // httparse skips them; keyctl, whose reader stops at the first empty line, refuses.
        for text in ["\r\nGET / HTTP/1.1\r\n\r\n", "\nGET / HTTP/1.1\n\n"] {
            assert_eq!(
                head(text),
                Err(RequestError::Malformed("missing request line"))
            );
        }
    }

    #[test]
    fn head_messages_name_the_line_at_fault() {
        for (text, why) in [
            ("G(T / HTTP/1.1\r\n\r\n", "invalid request line"),
            ("GET / HTTP/1.1 \r\n\r\n", "invalid request line"),
            ("GET / HTTP/1.1\r\r\n\r\n", "invalid request line"),
            ("GET / HTTP/1.1\rX: y\r\n\r\n", "invalid request line"),
            (
                "GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",
                "header line without ':'",
            ),
            ("GET / HTTP/1.1\r\n\rX\r\n\r\n", "header line without ':'"),
            (
                "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
                "invalid header name",
            ),
            (
                "GET / HTTP/1.1\r\nX-Api-Key : v\r\n\r\n",
                "invalid header name",
            ),
            ("GET / HTTP/1.1\r\n: v\r\n\r\n", "invalid header name"),
            (
                "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
                "control character in header value",
            ),
            (
                "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
                "control character in header value",
            ),
            (
                "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",
                "control character in header value",
            ),
            (
                "GET / HTTP/1.1\r\nX: ok\r\n \tfold\r\n\r\n",
                "obsolete line folding is not supported",
            ),
            ("GET /a%20<b HTTP/1.1\r\n\r\n", "invalid URL"),
            (
                "CONNECT h:443 HTTP/1.1\r\n\r\n",
                "URL is neither absolute nor origin-form",
            ),
        ] {
            assert_eq!(head(text), Err(RequestError::Malformed(why)), "{text:?}");
        }
    }

    #[test]
    fn server_parts_read_like_the_raw_head() {
        let text = format!(
            "POST https://h/v1/x?api_key=tok HTTP/1.1\r\n\
             X-Api-Key: tok\r\n\
             Authorization: Basic {}\r\n\
             X-Forwarded-Proto: http\r\n\
             \r\n",
            b64("svc:tok")
        );
        let raw = Presented::from_request_head(text.as_bytes(), &user_opts("svc")).unwrap();

        // As a hyper server holds the same request once parsed.
        let uri: Uri = "https://h/v1/x?api_key=tok".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.append("x-api-key", http::HeaderValue::from_static("tok"));
        headers.append(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Basic {}", b64("svc:tok"))).unwrap(),
        );
        headers.append("x-forwarded-proto", http::HeaderValue::from_static("http"));
        let parts = Presented::from_target_and_headers(
            &uri,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
            &user_opts("svc"),
        )
        .unwrap();
        assert_eq!(raw, parts);
        assert_eq!(parts.credentials.len(), 3);
        assert_eq!(parts.outcome(), one("tok", query("api_key")));
        assert!(!parts.is_https());

        let latin1 = [("x-api-key", &b"caf\xe9"[..])];
        assert_eq!(
            Presented::from_target_and_headers(&uri, latin1, &no_opts()),
            Err(RequestError::Malformed("header value is not UTF-8"))
        );
    }

    mod props {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use std::fmt::Write as _;

        /// Arbitrary bytes, sometimes around the head size limit, sometimes head-like.
        fn head_bytes() -> impl Strategy<Value = Vec<u8>> {
            let alphabet = b"GET /?&=:%aA-_\t \r\n".to_vec();
            prop_oneof![
                6 => vec(any::<u8>(), 0..512),
                3 => ("[A-Z]{1,7} (/|https?://h/)[!-~]{0,40} HTTP/1\\.[01]", vec(prop::sample::select(alphabet.clone()), 0..2048))
                    .prop_map(|(line, rest)| [format!("{line}\r\n").into_bytes(), rest].concat()),
                1 => vec(any::<u8>(), 60_000..72_000),
                1 => vec(prop::sample::select(alphabet), 60_000..72_000)
                    .prop_map(|rest| [b"GET / HTTP/1.1\n".to_vec(), rest].concat()),
            ]
        }

        /// Request heads near the edge of what parses: odd methods, targets, versions, line
        /// ends, names, separators and value bytes, with the credential headers often in.
        fn near_heads() -> impl Strategy<Value = Vec<u8>> {
            let lead = prop_oneof![30 => Just(""), 1 => Just("\r\n"), 1 => Just("\n")];
            let method = prop_oneof![
                20 => prop::sample::select(&["GET", "POST", "get"][..]),
                1 => prop::sample::select(&["OPTIONS", "CONNECT", "G(T", ""][..]),
            ];
            let sep = prop_oneof![40 => Just(" "), 1 => Just("  "), 1 => Just("\t")];
            let target = prop_oneof![
                6 => "/[!-~]{0,24}",
                6 => "/p\\?(api_key|accesskey|x)=[!-~]{0,12}",
                3 => "(https?|HTTPS|ftp)://[a-z0-9.:@%\\[\\]]{0,12}(/[!-~]{0,16})?",
                2 => "/[^\\x00-\\x7f]{0,6}",
                1 => "\\*|h:443|",
            ];
            let version = prop_oneof![
                20 => prop::sample::select(&["HTTP/1.1", "HTTP/1.0"][..]),
                1 => prop::sample::select(&["HTTP/1.2", "HTTP/2.0", "HTTP/1.1 ", "http/1.1"][..]),
            ];
            let eol = || {
                prop_oneof![
                    20 => Just("\r\n"),
                    15 => Just("\n"),
                    1 => Just("\r"),
                    1 => Just("\r\r\n"),
                ]
            };
            let name = prop_oneof![
                20 => prop::sample::select(
                    &["Authorization", "X-Api-Key", "x-auth-key", "X-API-AUTH", "X-Forwarded-Proto", "Host"][..],
                ).prop_map(str::to_owned),
                1 => "[!-~ \t]{0,8}",
            ];
            let colon = prop_oneof![
                20 => prop::sample::select(&[": ", ":", ":\t", ":  "][..]),
                1 => prop::sample::select(&[" : ", ""][..]),
            ];
            let value = prop_oneof![
                20 => prop::sample::select(
                    &["Bearer tok", "bearer  tok ", "tok", "tok2", "Basic dTp0b2s=", "https", "http, https", ""][..],
                ).prop_map(|v| v.as_bytes().to_vec()),
                3 => "[ -~\t\u{80}-\u{10ffff}]{0,12}".prop_map(String::into_bytes),
                1 => vec(any::<u8>(), 0..12),
            ];
            let header = (name, colon, value, eol())
                .prop_map(|(n, c, v, e)| [n.as_bytes(), c.as_bytes(), &v, e.as_bytes()].concat());
            (
                (lead, method, sep.clone(), target, sep, version, eol()),
                vec(header, 0..6),
                eol(),
                vec(any::<u8>(), 0..8),
            )
                .prop_map(|((lead, m, s1, t, s2, v, e), headers, end, body)| {
                    [
                        format!("{lead}{m}{s1}{t}{s2}{v}{e}").into_bytes(),
                        headers.concat(),
                        end.as_bytes().to_vec(),
                        body,
                    ]
                    .concat()
                })
        }

        /// How a hyper server reads `bytes` (httparse with its defaults, then `Uri` for the
        /// target), taken as keyctl takes what a server holds. `None` when hyper would wait
        /// for more.
        fn as_hyper_reads(bytes: &[u8]) -> Option<Result<Presented, RequestError>> {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(bytes) {
                Ok(httparse::Status::Complete(_)) => {}
                Ok(httparse::Status::Partial) => return None,
                Err(_) => return Some(Err(RequestError::Malformed("hyper refuses"))),
            }
            let Ok(uri) = Uri::try_from(request.path?.as_bytes()) else {
                return Some(Err(RequestError::Malformed("hyper refuses the target")));
            };
            Some(Presented::from_target_and_headers(
                &uri,
                request.headers.iter().map(|h| (h.name, h.value)),
                &Options::default(),
            ))
        }

        /// The same, with the headers in an `http::HeaderMap` as hyper hands them over: values
        /// of one name together, so only the order of the credentials may differ.
        fn through_header_map(bytes: &[u8]) -> Option<Result<Presented, RequestError>> {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            if !matches!(request.parse(bytes), Ok(httparse::Status::Complete(_))) {
                return None;
            }
            let uri = Uri::try_from(request.path?.as_bytes()).ok()?;
            let mut map = http::HeaderMap::new();
            for h in request.headers.iter() {
                map.append(
                    http::HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                    http::HeaderValue::from_bytes(h.value).ok()?,
                );
            }
            Some(Presented::from_target_and_headers(
                &uri,
                map.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
                &Options::default(),
            ))
        }

        fn sorted_credentials(p: &Presented) -> Vec<(String, String)> {
            let mut found: Vec<_> = p
                .credentials
                .iter()
                .map(|c| (c.token.clone(), c.source.label()))
                .collect();
            found.sort();
            found
        }

        fn token() -> impl Strategy<Value = String> {
            "[a-z0-9]{1,16}_[A-Za-z0-9_]{8,100}"
        }

        fn percent_encode_all(s: &str) -> String {
            s.bytes().fold(String::new(), |mut out, b| {
                let _ = write!(out, "%{b:02X}");
                out
            })
        }

        /// Every header line and every URL that presents `token`, with the expected source.
        fn header_presentations(token: &str) -> Vec<(String, Source)> {
            let mut out = vec![
                (format!("Authorization: Bearer {token}"), Source::Bearer),
                (format!("authorization: bearer  {token}"), Source::Bearer),
                (
                    format!("Authorization: Basic {}", b64(&format!("anyuser:{token}"))),
                    Source::Basic,
                ),
            ];
            for name in CREDENTIAL_HEADERS {
                out.push((format!("{name}: {token}"), hdr(name)));
                out.push((format!("{}:{token}", name.to_uppercase()), hdr(name)));
            }
            out
        }

        fn query_presentations(token: &str) -> Vec<(String, Source)> {
            let mut out = Vec::new();
            for name in CREDENTIAL_PARAMS {
                out.push((format!("/p?{name}={token}"), query(name)));
                let encoded = percent_encode_all(token);
                out.push((format!("/p?a=1&{name}={encoded}"), query(name)));
                out.push((format!("https://h:8443/p?{name}={encoded}#f"), query(name)));
            }
            out
        }

        fn check_round_trip(p: &Presented, token: &str, source: &Source) {
            assert_eq!(p.credentials.len(), 1);
            assert_eq!(p.outcome(), one(token, source.clone()));
        }

        proptest! {
            #[test]
            fn add_header_line_never_panics(line in any::<String>(), shaped in "[ -~]{0,20}:[ -~\t]{0,60}") {
                for l in [line, shaped] {
                    let _ = Presented::default().add_header_line(&l, &Options::default());
                    let _ = Presented::default().add_header_line(&l, &user_opts("u"));
                }
            }

            #[test]
            fn add_url_never_panics(u in any::<String>(), shaped in "(https?://|/)[ -~]{0,80}") {
                for u in [u, shaped] {
                    let _ = Presented::default().add_url(&u);
                }
            }

            #[test]
            fn request_head_never_panics_and_readers_agree(bytes in head_bytes()) {
                let direct = Presented::from_request_head(&bytes, &Options::default());
                let read = Presented::read_request_head(&bytes[..], &Options::default());
                match (&direct, &read) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                    (Err(RequestError::Malformed(_)), _) => prop_assert_eq!(&direct, &read),
                    (Err(_), Err(_)) => {}
                    _ => prop_assert!(false, "from/read disagree: {:?} vs {:?}", direct, read),
                }
            }

            #[test]
            fn keyctl_and_hyper_read_a_request_head_alike(bytes in near_heads()) {
                let ours = Presented::from_request_head(&bytes, &Options::default());
                let Some(theirs) = as_hyper_reads(&bytes) else {
                    // Hyper would wait; keyctl ends the head at the end of input.
                    return Ok(());
                };
                match (&ours, &theirs) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                    (Ok(_), Err(_)) => prop_assert!(false, "keyctl takes what hyper refuses: {:?}", ours),
                    (Err(e), Ok(_)) => prop_assert!(
                        bytes.starts_with(b"\n") || bytes.starts_with(b"\r\n"),
                        "keyctl refuses what hyper takes, and not for an empty first line: {}", e
                    ),
                    (Err(_), Err(_)) => {}
                }
                if let (Ok(raw), Some(mapped)) = (&theirs, through_header_map(&bytes)) {
                    let mapped = mapped.expect("a HeaderMap holds what httparse read");
                    prop_assert_eq!(sorted_credentials(raw), sorted_credentials(&mapped));
                    prop_assert_eq!(
                        Presented { credentials: Vec::new(), ..raw.clone() },
                        Presented { credentials: Vec::new(), ..mapped }
                    );
                }
            }

            #[test]
            fn tokens_round_trip_through_headers(token in token()) {
                for (line, source) in header_presentations(&token) {
                    check_round_trip(&header(&line).unwrap(), &token, &source);
                }
                let basic = format!("Authorization: Basic {}", b64(&format!("anyuser:{token}")));
                let p = header_with(&basic, &user_opts("anyuser")).unwrap();
                check_round_trip(&p, &token, &Source::Basic);
            }

            #[test]
            fn tokens_round_trip_through_urls(token in token()) {
                for (u, source) in query_presentations(&token) {
                    check_round_trip(&url(&u).unwrap(), &token, &source);
                }
            }

            #[test]
            fn tokens_round_trip_through_request_heads(token in token()) {
                for eol in ["\r\n", "\n"] {
                    let mut cases = Vec::new();
                    for (line, source) in header_presentations(&token) {
                        cases.push((format!("GET /p HTTP/1.1{eol}Host: h{eol}{line}{eol}{eol}"), source));
                    }
                    for (target, source) in query_presentations(&token) {
                        cases.push((format!("GET {target} HTTP/1.1{eol}Host: h{eol}{eol}"), source));
                    }
                    for (text, source) in cases {
                        let direct = Presented::from_request_head(text.as_bytes(), &Options::default()).unwrap();
                        check_round_trip(&direct, &token, &source);
                        let read = Presented::read_request_head(text.as_bytes(), &Options::default()).unwrap();
                        prop_assert_eq!(direct, read);
                    }
                }
            }

            #[test]
            fn all_presentations_at_once_are_one(token in token()) {
                let headers: Vec<String> = header_presentations(&token).into_iter().map(|(l, _)| l).collect();
                let text = format!(
                    "GET /p?api_key={} HTTP/1.1\r\n{}\r\n\r\n",
                    percent_encode_all(&token),
                    headers.join("\r\n"),
                );
                let p = Presented::from_request_head(text.as_bytes(), &Options::default()).unwrap();
                prop_assert_eq!(p.credentials.len(), headers.len() + 1);
                prop_assert_eq!(p.outcome(), one(&token, query("api_key")));
            }
        }
    }
}
