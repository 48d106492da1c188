//! Which proxy, if any, the default transport sends a request through:
//! `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` read as curl
//! and reqwest read them, or the builder's explicit setting.
//!
//! The rules themselves (which variable wins, what a `NO_PROXY` entry
//! matches) are hyper-util's [`Matcher`]; this module decides where its
//! inputs come from and refuses a proxy URL the connector cannot use, so
//! a typo fails `build()` instead of sending around the proxy.

mod connector;
mod error;

use std::fmt;

use hyper_util::client::proxy::matcher::Matcher;

pub(crate) use connector::{ProxyAuthorization, ProxyConnector};
pub use error::ProxyError;

use crate::client::error::Error;

/// Where the proxy settings come from.
#[derive(Clone, Debug, Default)]
pub(crate) enum ProxySetting {
    /// The environment variables (the default).
    #[default]
    Env,
    /// No proxy, whatever the environment says.
    Off,
    /// This proxy for every destination.
    Url(ProxyUrl),
}

/// A proxy URL, which may carry `user:password@`: shown only redacted.
#[derive(Clone)]
pub(crate) struct ProxyUrl(String);

impl ProxyUrl {
    pub(crate) fn new(url: &str) -> ProxyUrl {
        ProxyUrl(url.trim().to_owned())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

/// The variables read, in the order read: the upper-case name first, as
/// hyper-util and reqwest do.
const ALL: [&str; 2] = ["ALL_PROXY", "all_proxy"];
const HTTP: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
const HTTPS: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
const NO: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// The proxy rules for `setting`, with `no_proxy` (the builder's) in place
/// of `NO_PROXY` when set. `var` reads a variable: the process
/// environment in the client, a table in the tests. `None`: no proxy.
///
/// # Errors
///
/// A proxy URL (set or read) that is not an `http://` proxy this
/// transport can use, named without its credentials.
pub(crate) fn rules(
    setting: &ProxySetting,
    no_proxy: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Matcher>, Error> {
    let first = |names: [&'static str; 2]| {
        names.iter().find_map(|name| {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (*name, v))
        })
    };
    let builder = match setting {
        ProxySetting::Off => return Ok(None),
        ProxySetting::Url(ProxyUrl(url)) => {
            check("proxy(..)", url)?;
            Matcher::builder().all(url.clone())
        }
        ProxySetting::Env => {
            let mut builder = Matcher::builder();
            if let Some((name, url)) = first(ALL) {
                check(name, &url)?;
                builder = builder.all(url);
            }
            // A CGI script's HTTP_PROXY may come from the request's
            // `Proxy:` header ("httpoxy"): not trusted, as in hyper-util.
            if var("REQUEST_METHOD").is_none() {
                if let Some((name, url)) = first(HTTP) {
                    check(name, &url)?;
                    builder = builder.http(url);
                }
            }
            if let Some((name, url)) = first(HTTPS) {
                check(name, &url)?;
                builder = builder.https(url);
            }
            if let Some((_, list)) = first(NO) {
                builder = builder.no(list);
            }
            builder
        }
    };
    let builder = match no_proxy {
        Some(list) => builder.no(list),
        None => builder,
    };
    Ok(Some(builder.build()))
}

/// Refuses what hyper-util's matcher would drop without a word (a URL
/// that does not parse) and what the connector cannot speak (TLS to the
/// proxy, SOCKS).
fn check(source: &str, url: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::config(format!(
            "the proxy URL from {source} ({}) {why}; or turn proxies off with `proxy(None)`",
            redacted(url)
        ))
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        None | Some("http") => {}
        Some("https") => {
            return Err(bad(
                "asks for TLS to the proxy, which is not supported: use http://",
            ))
        }
        Some(other) => {
            return Err(bad(&format!(
                "has the scheme {other}, not supported: use an http:// proxy"
            )))
        }
    }
    match uri.authority() {
        Some(authority) if !authority.host().is_empty() => Ok(()),
        _ => Err(bad("names no host")),
    }
}

/// `url` with any `user:password@` replaced, for messages and `Debug`.
pub(crate) fn redacted(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => format!("[credentials redacted]@{}", &rest[at + 1..]),
        None => rest.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use http::Uri;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let table: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| table.get(name).cloned()
    }

    /// The proxy a request to `dst` goes through, `None` for direct.
    fn via(rules: &Option<Matcher>, dst: &str) -> Option<String> {
        let dst: Uri = dst.parse().unwrap();
        let intercept = rules.as_ref()?.intercept(&dst)?;
        Some(intercept.uri().to_string())
    }

    #[test]
    fn each_scheme_takes_its_own_variable_in_either_case() {
        let rules = rules(
            &ProxySetting::Env,
            None,
            env(&[
                ("https_proxy", "http://secure:3128"),
                ("HTTP_PROXY", "http://plain:8080"),
            ]),
        )
        .unwrap();
        assert_eq!(
            via(&rules, "https://api.together.ai/v1").as_deref(),
            Some("http://secure:3128/")
        );
        assert_eq!(
            via(&rules, "http://example.com/").as_deref(),
            Some("http://plain:8080/")
        );
    }

    #[test]
    fn the_upper_case_name_wins_and_all_proxy_fills_in() {
        let rules = rules(
            &ProxySetting::Env,
            None,
            env(&[
                ("HTTPS_PROXY", "http://upper:1"),
                ("https_proxy", "http://lower:2"),
                ("all_proxy", "http://any:3"),
            ]),
        )
        .unwrap();
        assert_eq!(
            via(&rules, "https://x.test/").as_deref(),
            Some("http://upper:1/")
        );
        assert_eq!(
            via(&rules, "http://x.test/").as_deref(),
            Some("http://any:3/")
        );
    }

    #[test]
    fn no_proxy_bypasses_hosts_domains_and_networks() {
        let rules = rules(
            &ProxySetting::Env,
            None,
            env(&[
                ("HTTPS_PROXY", "http://proxy:3128"),
                ("no_proxy", "internal.example, 10.0.0.0/8 ,localhost"),
            ]),
        )
        .unwrap();
        assert_eq!(via(&rules, "https://internal.example/"), None);
        assert_eq!(via(&rules, "https://api.internal.example/"), None);
        assert_eq!(via(&rules, "https://10.1.2.3/"), None);
        assert_eq!(via(&rules, "https://localhost:8443/"), None);
        assert!(via(&rules, "https://notinternal.example/").is_some());
        assert!(via(&rules, "https://api.together.ai/").is_some());
    }

    #[test]
    fn the_builders_no_proxy_replaces_the_variable() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("NO_PROXY", "api.together.ai"),
        ]);
        let rules = rules(&ProxySetting::Env, Some("other.example"), vars).unwrap();
        assert!(via(&rules, "https://api.together.ai/").is_some());
        assert_eq!(via(&rules, "https://other.example/"), None);
    }

    #[test]
    fn an_explicit_proxy_ignores_the_environment_and_off_is_off() {
        let vars = || env(&[("HTTPS_PROXY", "http://from-env:1"), ("NO_PROXY", "*")]);
        let explicit = ProxySetting::Url(ProxyUrl::new("http://mine:2"));
        let rules = rules(&explicit, None, vars()).unwrap();
        assert_eq!(
            via(&rules, "https://api.together.ai/").as_deref(),
            Some("http://mine:2/")
        );
        assert!(super::rules(&ProxySetting::Off, None, vars())
            .unwrap()
            .is_none());
        let everything_bypassed = super::rules(&explicit, Some("*"), vars()).unwrap();
        assert_eq!(via(&everything_bypassed, "https://api.together.ai/"), None);
    }

    #[test]
    fn a_cgi_script_ignores_http_proxy() {
        let vars = env(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker:1"),
        ]);
        let rules = rules(&ProxySetting::Env, None, vars).unwrap();
        assert_eq!(via(&rules, "http://example.com/"), None);
    }

    #[test]
    fn unusable_proxy_urls_fail_without_showing_credentials() {
        for (url, why) in [
            ("https://user:hunter2@proxy:3128", "TLS to the proxy"),
            ("socks5://user:hunter2@proxy:1080", "socks5"),
            ("http://user:hunter2@", "is not a URL"),
            ("http://user:hunter2@:3128", "names no host"),
            ("http://user:hunter2@bad host:1", "is not a URL"),
        ] {
            let error = rules(&ProxySetting::Env, None, env(&[("HTTPS_PROXY", url)])).unwrap_err();
            let text = error.to_string();
            assert!(text.contains("HTTPS_PROXY") && text.contains(why), "{text}");
            assert!(
                !text.contains("hunter2") && !format!("{error:?}").contains("hunter2"),
                "{text}"
            );
        }
        let explicit = ProxySetting::Url(ProxyUrl::new("ftp://user:hunter2@proxy:21"));
        let text = rules(&explicit, None, env(&[])).unwrap_err().to_string();
        assert!(
            text.contains("proxy(..)") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(!format!("{explicit:?}").contains("hunter2"));
    }

    #[test]
    fn redaction_keeps_the_host_and_drops_the_userinfo() {
        assert_eq!(
            redacted("http://u:p@proxy:3128"),
            "http://[credentials redacted]@proxy:3128"
        );
        assert_eq!(
            redacted("u:p@proxy:3128/x@y"),
            "[credentials redacted]@proxy:3128/x@y"
        );
        assert_eq!(redacted("http://proxy:3128"), "http://proxy:3128");
        // An `@` in a password: everything before the last one is userinfo.
        assert_eq!(
            redacted("http://u:p@ss@proxy"),
            "http://[credentials redacted]@proxy"
        );
    }
}
