//! Why an outbound call did not happen or did not finish.

use std::net::IpAddr;

/// Why [`Egress::send`](crate::Egress::send) failed. Every message is meant to be shown to
/// the person who wrote the spec (it never contains the request body or header values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// The URL does not parse, has no host, or carries credentials (`user:pass@`).
    #[error("invalid URL: {0}")]
    BadUrl(String),
    /// The URL's scheme is not `http` or `https` (`ftp`, `file`, `gopher` ...).
    #[error("the URL scheme `{0}` is not allowed: only http and https are")]
    SchemeNotAllowed(String),
    /// Under [`Policy::Strict`](crate::Policy::Strict), `host` is or resolves to `addr`,
    /// whose class `reason` (see [`classify`](crate::classify)) is not allowed. Nothing was
    /// sent to any address of that host.
    #[error("{}", refused_message(host, *addr, reason))]
    Refused {
        /// The host as written in the URL.
        host: String,
        /// The first refused address.
        addr: IpAddr,
        /// The address class, such as `"loopback"` or `"metadata"`.
        reason: &'static str,
    },
    /// Under [`Policy::Strict`](crate::Policy::Strict), the host name itself is refused
    /// before any lookup: a single-label name (`http://metadata/`) or one under `.internal`.
    #[error("refused to call {host}: {reason}")]
    RefusedHost {
        /// The host as written in the URL.
        host: String,
        /// Why the name is refused.
        reason: &'static str,
    },
    /// The host name could not be resolved, or resolved to no address. A failed lookup is
    /// never retried elsewhere: it is a refusal.
    #[error("could not resolve {0}")]
    Resolve(String),
    /// The connection or the whole exchange took longer than the configured timeouts.
    #[error("the request timed out")]
    Timeout,
    /// The response body is larger than `limit` bytes; reading stopped there.
    #[error("the response body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The configured `max_response_bytes`.
        limit: usize,
    },
    /// The request body is larger than `limit` bytes; nothing was sent.
    #[error("the request body is larger than the limit of {limit} bytes")]
    RequestTooLarge {
        /// The configured `max_request_bytes`.
        limit: usize,
    },
    /// The server answered with a redirect (301, 302, 303, 307 or 308). Redirects are never
    /// followed: the target could be an address the guard would refuse.
    #[error("{}", redirect_message(*status, location.as_deref()))]
    Redirect {
        /// The redirect status code.
        status: u16,
        /// The `Location` header, when present and readable.
        location: Option<String>,
    },
    /// The method or a header name or value is not valid HTTP.
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// Any other failure to build the client or to exchange the request: connection
    /// refused, TLS failure, malformed response ...
    #[error("HTTP request failed: {0}")]
    Http(String),
}

fn refused_message(host: &str, addr: IpAddr, reason: &str) -> String {
    let literal = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    if literal.parse::<IpAddr>() == Ok(addr) {
        format!("refused to call {host}: {reason} addresses are not allowed")
    } else {
        format!("refused to call {host} ({addr}): {reason} addresses are not allowed")
    }
}

fn redirect_message(status: u16, location: Option<&str>) -> String {
    match location {
        Some(location) => format!(
            "the server answered {status} redirecting to {location}; redirects are never followed"
        ),
        None => format!("the server answered {status} (a redirect); redirects are never followed"),
    }
}

#[cfg(test)]
mod tests {
    use super::EgressError;

    #[test]
    fn messages_read_well() {
        let refused = EgressError::Refused {
            host: "internal.test".to_owned(),
            addr: "10.0.0.1".parse().expect("test address"),
            reason: "private",
        };
        assert_eq!(
            refused.to_string(),
            "refused to call internal.test (10.0.0.1): private addresses are not allowed"
        );
        let literal = EgressError::Refused {
            host: "[::1]".to_owned(),
            addr: "::1".parse().expect("test address"),
            reason: "loopback",
        };
        assert_eq!(
            literal.to_string(),
            "refused to call [::1]: loopback addresses are not allowed"
        );
        let redirect = EgressError::Redirect {
            status: 302,
            location: Some("/elsewhere".to_owned()),
        };
        assert_eq!(
            redirect.to_string(),
            "the server answered 302 redirecting to /elsewhere; redirects are never followed"
        );
        assert_eq!(
            EgressError::SchemeNotAllowed("ftp".to_owned()).to_string(),
            "the URL scheme `ftp` is not allowed: only http and https are"
        );
        assert_eq!(
            EgressError::TooLarge { limit: 10 }.to_string(),
            "the response body is larger than the limit of 10 bytes"
        );
    }
}
