//! Reading what a request says: its host, path parameters and query string.

use std::borrow::Cow;

/// Why the request's host cannot be trusted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HostError {
    /// More than one `Host` header.
    Multiple,
    /// Neither an absolute-form target nor a `Host` header.
    Missing,
    /// Not a host name.
    Malformed,
}

/// The host a request is for: the authority of an absolute-form target if there is one
/// (RFC 9112 §3.2.2), else the single `Host` header; lower-cased, without port or trailing
/// dot. `X-Forwarded-Host` is never consulted. Borrowed from the request unless it has
/// upper-case letters.
pub(crate) fn request_host<'r>(
    uri: &'r http::Uri,
    headers: &'r http::HeaderMap,
) -> Result<Cow<'r, str>, HostError> {
    if let Some(authority) = uri.authority() {
        return normalise_host(authority.host());
    }
    let mut values = headers.get_all(http::header::HOST).iter();
    let value = values.next().ok_or(HostError::Missing)?;
    if values.next().is_some() {
        return Err(HostError::Multiple);
    }
    let text = value.to_str().map_err(|_| HostError::Malformed)?;
    let host = match text.strip_prefix('[') {
        // [v6]:port
        Some(rest) => rest
            .split_once(']')
            .map(|(inside, _)| inside)
            .ok_or(HostError::Malformed)?,
        None => text.rsplit_once(':').map_or(text, |(host, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                host
            } else {
                text
            }
        }),
    };
    normalise_host(host)
}

fn normalise_host(raw: &str) -> Result<Cow<'_, str>, HostError> {
    let raw = raw.trim_start_matches('[').trim_end_matches(']');
    let host = raw.strip_suffix('.').unwrap_or(raw);
    if host.is_empty() || host.len() > 253 {
        return Err(HostError::Malformed);
    }
    let mut upper = false;
    for b in host.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b':' | b'_' => {}
            b'A'..=b'Z' => upper = true,
            _ => return Err(HostError::Malformed),
        }
    }
    if upper {
        Ok(Cow::Owned(host.to_ascii_lowercase()))
    } else {
        Ok(Cow::Borrowed(host))
    }
}

/// Decodes `%XX` escapes (a `+` stays a `+`, as in paths). Invalid escapes are kept as
/// they are; invalid UTF-8 is replaced.
pub(crate) fn percent_decode(raw: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy()
}

/// The query string's pairs, decoded as forms are (`+` is a space, then `%XX` escapes),
/// in order (repeated keys repeat); empty pairs are skipped.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(uri: &str, hosts: &[&str]) -> Result<String, HostError> {
        let uri: http::Uri = uri.parse().expect("uri");
        let mut headers = http::HeaderMap::new();
        for h in hosts {
            headers.append(http::header::HOST, h.parse().expect("header"));
        }
        request_host(&uri, &headers).map(Cow::into_owned)
    }

    #[test]
    fn hosts() {
        let cases: &[(&str, &[&str], Result<&str, HostError>)] = &[
            (
                "/x",
                &["Hello-Alice.localhost:8080"],
                Ok("hello-alice.localhost"),
            ),
            ("/x", &["example.com."], Ok("example.com")),
            ("/x", &["[::1]:8000"], Ok("::1")),
            ("/x", &["127.0.0.1:80"], Ok("127.0.0.1")),
            (
                "http://Abs.Example.com:9/x",
                &["other.test"],
                Ok("abs.example.com"),
            ),
            ("/x", &[], Err(HostError::Missing)),
            ("/x", &["a.test", "b.test"], Err(HostError::Multiple)),
            ("/x", &["bad host"], Err(HostError::Malformed)),
            ("/x", &[""], Err(HostError::Malformed)),
            ("/x", &["a/b"], Err(HostError::Malformed)),
        ];
        for (uri, hosts, expected) in cases {
            let got = host_of(uri, hosts);
            assert_eq!(
                got.as_deref(),
                expected.as_ref().map(|s| *s),
                "{uri} {hosts:?}"
            );
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("John%20Doe"), "John Doe");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(query_pairs("a+b%21=1")[0].0, "a b!");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn queries() {
        assert_eq!(
            query_pairs("a=1&b=x+y&a=2&flag&=v&&c=%26"),
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x y".to_owned()),
                ("a".to_owned(), "2".to_owned()),
                ("flag".to_owned(), String::new()),
                (String::new(), "v".to_owned()),
                ("c".to_owned(), "&".to_owned()),
            ]
        );
    }
}
