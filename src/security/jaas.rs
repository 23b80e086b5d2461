//! `sasl.jaas.config` in the Java form, for the login modules this client understands:
//!
//! ```text
//! org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";
//! org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="...";
//! org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice";
//! ```
//!
//! One module entry: the class, a control flag (`required`, `requisite`, `sufficient`,
//! `optional`), `key=value` options (a value in double quotes may hold spaces, `;` and `\"`),
//! and a closing `;`. The values may hold a password: errors never quote them.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// A parsed login module entry.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct JaasEntry {
    pub(crate) module: String,
    pub(crate) options: BTreeMap<String, String>,
}

impl std::fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&String> = self.options.keys().collect();
        f.debug_struct("JaasEntry").field("module", &self.module).field("option_keys", &keys).finish()
    }
}

fn bad(why: impl std::fmt::Display) -> Error {
    Error::config(format!("sasl.jaas.config: {why}"))
}

/// Parses one login module entry.
pub(crate) fn parse(text: &str) -> Result<JaasEntry> {
    let mut chars = text.trim().chars().peekable();
    let word = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '=' || c == ';' || c == '"' {
                break;
            }
            w.push(c);
            chars.next();
        }
        w
    };
    let module = word(&mut chars);
    if module.is_empty() {
        return Err(bad("expected a login module class name first"));
    }
    let flag = word(&mut chars);
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.to_ascii_lowercase().as_str()) {
        return Err(bad(format!(
            "expected a control flag (required, requisite, sufficient, optional) after {module}, found {flag:?}"
        )));
    }
    let mut options = BTreeMap::new();
    loop {
        let key = word(&mut chars);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if key.is_empty() {
            match chars.next() {
                Some(';') => break,
                None => return Err(bad("the entry does not end with ';'")),
                Some(c) => return Err(bad(format!("unexpected {c:?}"))),
            }
        }
        if chars.next() != Some('=') {
            return Err(bad(format!("option {key} has no '=value'")));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            loop {
                match chars.next() {
                    None => return Err(bad(format!("the value of {key} has no closing quote"))),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => v.push(c),
                        None => return Err(bad(format!("the value of {key} ends in a backslash"))),
                    },
                    Some(c) => v.push(c),
                }
            }
            v
        } else {
            word(&mut chars)
        };
        options.insert(key, value);
    }
    if chars.any(|c| !c.is_whitespace()) {
        return Err(bad("only one login module entry is supported (text follows the first ';')"));
    }
    Ok(JaasEntry { module, options })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_java_forms() {
        let e = parse(r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="a b;\"c";"#)
            .unwrap();
        assert_eq!(e.module, "org.apache.kafka.common.security.plain.PlainLoginModule");
        assert_eq!(e.options["username"], "alice");
        assert_eq!(e.options["password"], "a b;\"c");
        let e = parse("x.ScramLoginModule REQUIRED\n  username=bob\n  password=pw ;").unwrap();
        assert_eq!((e.options["username"].as_str(), e.options["password"].as_str()), ("bob", "pw"));
        let e = parse("m.OAuthBearerLoginModule required;").unwrap();
        assert!(e.options.is_empty());
    }

    #[test]
    fn malformed_entries_name_the_problem_not_the_secret() {
        for (text, want) in [
            ("", "class name"),
            ("m.Module", "control flag"),
            ("m.Module maybe x=1;", "control flag"),
            (r#"m.Module required password="hunter2"#, "no closing quote"),
            ("m.Module required password=hunter2", "does not end with ';'"),
            ("m.Module required password;", "no '=value'"),
            ("m.A required; m.B required;", "only one"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        let e = parse(r#"m.M required password="hunter2";"#).unwrap();
        assert!(!format!("{e:?}").contains("hunter2"));
    }
}
