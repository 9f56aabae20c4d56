//! Detectors: named patterns for personal data and secrets inside free text.
//!
//! A [`Detector`] is a regular expression that finds candidates, an optional [`Validator`] that
//! accepts or rejects each candidate (checksums, allocation rules), and the [`RedactAction`]
//! applied to accepted matches. When the pattern has a capture group named `value`, only that
//! group is redacted (so `password=hunter2` keeps `password=`).
//!
//! The built-in catalogue ([`builtin`]) is versioned as [`BUILTIN_VERSION`]: any change to a
//! pattern, validator or default action bumps it, because the version is written into every
//! record's `redactions.rule_set` and an auditor must be able to tell which rules were in force.
//!
//! Built-in patterns are ASCII-only on purpose: ASCII classes keep the combined lazy DFA small
//! and fast. For the same reason they avoid large bounded repetitions (`{0,256}` of a negated
//! class unrolls into thousands of NFA states and makes the lazy DFA thrash its cache): sanity
//! upper bounds are left to the validators, and an IPv6 candidate must contain `::` or seven
//! colons, so clock times (`10:30`) never reach the IPv6 validator. They do not use `\b` (Unicode word boundaries make the DFA give up on non-ASCII
//! text); `(?-u:\b)` is ASCII and DFA-friendly.

use crate::point::RedactAction;

use super::validators;

/// Version of the built-in detector catalogue, written into `redactions.rule_set`.
pub const BUILTIN_VERSION: &str = "builtin.2";

/// What decides whether a pattern match is a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validator {
    /// Every match counts.
    None,
    /// Luhn check digit over the digits (spaces and dashes ignored).
    Luhn,
    /// Payment card: length 13-19, a major scheme's issuer prefix, Luhn.
    PaymentCard,
    /// IBAN: registered length per country and ISO 13616 mod-97; trailing groups that break the
    /// check are dropped (the pattern may swallow a following upper-case word).
    Iban,
    /// US SSN allocation rules.
    UsSsn,
    /// Canadian SIN: Luhn and assigned first digit.
    CaSin,
    /// UK National Insurance number prefix and suffix rules.
    UkNino,
    /// Spanish DNI / NIE control letter (mod 23).
    EsDni,
    /// Dotted-quad IPv4 with octets 0-255.
    Ipv4,
    /// IPv6 text forms (RFC 4291 §2.2).
    Ipv6,
    /// JWT compact form whose header names an `alg`.
    Jwt,
    /// E-mail address: no empty or dotted-edge labels, and a top-level domain that is not a
    /// common file extension (`icon@2x.png`).
    Email,
    /// Phone number: 8 to 15 digits in total (ITU-T E.164 allows at most 15).
    Phone,
}

impl Validator {
    /// Names accepted in the config file's `validate = "..."`.
    pub const NAMES: &'static [(&'static str, Validator)] = &[
        ("none", Validator::None),
        ("luhn", Validator::Luhn),
        ("payment_card", Validator::PaymentCard),
        ("iban", Validator::Iban),
        ("us_ssn", Validator::UsSsn),
        ("ca_sin", Validator::CaSin),
        ("uk_nino", Validator::UkNino),
        ("es_dni", Validator::EsDni),
        ("ipv4", Validator::Ipv4),
        ("ipv6", Validator::Ipv6),
        ("jwt", Validator::Jwt),
        ("email", Validator::Email),
        ("phone", Validator::Phone),
    ];

    /// The validator called `name` in config files.
    pub fn from_name(name: &str) -> Option<Validator> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// The accepted length of the candidate `m` (a prefix of it, for IBANs), or `None`.
    pub(crate) fn accept(self, m: &str) -> Option<usize> {
        let ok = match self {
            Validator::None => true,
            Validator::Luhn => validators::luhn(m),
            Validator::PaymentCard => validators::payment_card(m),
            Validator::Iban => {
                // Drop trailing space-separated groups until the check holds.
                let mut cand = m;
                loop {
                    if validators::iban(cand) {
                        return Some(cand.len());
                    }
                    match cand.rfind([' ', '-']) {
                        Some(i) if i >= 15 => cand = &cand[..i],
                        _ => return None,
                    }
                }
            }
            Validator::UsSsn => validators::us_ssn(m),
            Validator::CaSin => validators::ca_sin(m),
            Validator::UkNino => validators::uk_nino(m),
            Validator::EsDni => validators::es_dni(m),
            Validator::Ipv4 => validators::ipv4(m),
            Validator::Ipv6 => validators::ipv6(m),
            Validator::Jwt => validators::jwt(m),
            Validator::Email => email(m),
            Validator::Phone => {
                let n = m.bytes().filter(u8::is_ascii_digit).count();
                (8..=15).contains(&n)
            }
        };
        ok.then_some(m.len())
    }
}

/// File extensions that look like top-level domains in `name@2x.png`-style asset names.
const NOT_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "pdf", "txt", "json", "yaml", "yml",
    "toml", "lock", "js", "ts", "css", "html", "rs", "py", "go", "rb", "md", "zip", "gz", "tar",
];

fn email(m: &str) -> bool {
    let Some((local, domain)) = m.rsplit_once('@') else {
        return false;
    };
    let Some((_, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && !NOT_TLDS.iter().any(|x| x.eq_ignore_ascii_case(tld))
}

/// What may stand next to a match for it to count. Regular expressions here have no
/// look-around, so the scanner checks the neighbouring bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// Anything.
    Any,
    /// Not a letter, digit or `_`, and not `-` or `.` followed (before: preceded) by one: keeps
    /// parts of longer numbers, dotted versions (`v1.2.3.4`) and dashed references out.
    Numeric,
    /// Not an ASCII letter, digit or `_` (and not `:` for IPv6 forms).
    Token,
}

/// A named pattern, its validator and its action.
#[derive(Debug, Clone, PartialEq)]
pub struct Detector {
    pub(crate) name: String,
    pub(crate) pattern: String,
    pub(crate) validator: Validator,
    pub(crate) action: RedactAction,
    pub(crate) boundary: Boundary,
    pub(crate) builtin: bool,
}

impl Detector {
    /// A user-defined detector. `pattern` uses the `regex` crate's syntax; a capture group named
    /// `value` limits redaction to that group. The pattern is compiled (and any error reported
    /// naming this detector) when the runtime is installed.
    pub fn new(name: impl Into<String>, pattern: impl Into<String>, action: RedactAction) -> Self {
        Detector {
            name: name.into(),
            pattern: pattern.into(),
            validator: Validator::None,
            action,
            boundary: Boundary::Any,
            builtin: false,
        }
    }

    /// Accept only matches that pass `validator`.
    pub fn validate(mut self, validator: Validator) -> Self {
        self.validator = validator;
        self
    }

    /// The detector's name (`email`, `payment_card`, ...), as written in provenance entries.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// What is done to its matches.
    pub fn action(&self) -> RedactAction {
        self.action
    }
}

fn b(
    name: &str,
    pattern: &str,
    validator: Validator,
    action: RedactAction,
    boundary: Boundary,
) -> Detector {
    Detector {
        name: name.to_owned(),
        pattern: pattern.to_owned(),
        validator,
        action,
        boundary,
        builtin: true,
    }
}

/// The built-in detectors, in priority order: when matches of two detectors overlap, the union
/// is redacted under the name and action of the one listed first. Secrets come first (a bearer
/// JWT is a secret before it is anything else), then payment and identity numbers, then contact
/// data and addresses (IPv6 before IPv4, which it may embed).
pub fn builtin() -> Vec<Detector> {
    use Boundary::{Any, Numeric, Token};
    use RedactAction::{Erase, Hash, Mask};
    vec![
        b(
            "private_key",
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?s:.)*?(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|$)",
            Validator::None,
            Erase,
            Any,
        ),
        b(
            "aws_access_key_id",
            r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z2-7]{16}",
            Validator::None,
            Erase,
            Token,
        ),
        b(
            "aws_secret_access_key",
            r#"(?i-u:aws_?secret(?:_?access)?_?key)["']?[ \t]*[:=][ \t]*["']?(?P<value>[A-Za-z0-9/+=]{40})"#,
            Validator::None,
            Erase,
            Any,
        ),
        b(
            "github_token",
            r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})",
            Validator::None,
            Erase,
            Token,
        ),
        b(
            "slack_token",
            r"(?:xox[abposer]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,})",
            Validator::None,
            Erase,
            Token,
        ),
        b(
            "stripe_key",
            r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}",
            Validator::None,
            Erase,
            Token,
        ),
        b(
            "openai_key",
            r"sk-(?:proj-|svcacct-|admin-|ant-(?:api03-|admin01-)?)?[A-Za-z0-9_-]{20,}",
            Validator::None,
            Erase,
            Token,
        ),
        b(
            "google_api_key",
            r"AIza[0-9A-Za-z_-]{35}",
            Validator::None,
            Erase,
            Token,
        ),
        b(
            "jwt",
            r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}",
            Validator::Jwt,
            Erase,
            Token,
        ),
        b(
            "bearer_token",
            r"(?i-u:bearer)[ \t]+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)",
            Validator::None,
            Erase,
            Any,
        ),
        b(
            "url_password",
            r#"[A-Za-z][A-Za-z0-9+.-]*://[^/ \t\r\n:@"'<>]*:(?P<value>[^/ \t\r\n@"'<>]+)@"#,
            Validator::None,
            Erase,
            Any,
        ),
        b(
            "password_assignment",
            r#"(?i-u:password|passwd|pwd|secret|client_secret|api_key|apikey|access_token|auth_token|private_key)["']?[ \t]*[:=][ \t]*["']?(?P<value>[^ \t\r\n"',;&]{4,})"#,
            Validator::None,
            Erase,
            Any,
        ),
        b(
            "payment_card",
            r"(?:[0-9](?:[ -]{1,2}|\.)?){12,18}[0-9]",
            Validator::PaymentCard,
            Mask { keep: 4 },
            Numeric,
        ),
        b(
            "iban",
            r"(?i-u:[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?:[ -][A-Z0-9]{4}){2,7}(?:[ -][A-Z0-9]{1,3})?))",
            Validator::Iban,
            Mask { keep: 4 },
            Token,
        ),
        b(
            "us_ssn",
            r#"[0-9]{3}[-. ][0-9]{2}[-. ][0-9]{4}|(?-u:\b)(?i-u:ssn|social security (?:number|no\.?))["']?[ \t]*[#:=]?[ \t]*["']?(?P<value>[0-9]{9})"#,
            Validator::UsSsn,
            Hash,
            Numeric,
        ),
        b(
            "ca_sin",
            r#"[0-9]{3}[- ][0-9]{3}[- ][0-9]{3}|(?-u:\b)(?i-u:sin|nas|social insurance number)["']?[ \t]*[#:=]?[ \t]*["']?(?P<value>[0-9]{9})"#,
            Validator::CaSin,
            Hash,
            Numeric,
        ),
        b(
            "uk_nino",
            r"(?i-u:[A-Z]{2}[ -]?[0-9]{2}[ -]?[0-9]{2}[ -]?[0-9]{2}[ -]?[A-D])",
            Validator::UkNino,
            Hash,
            Token,
        ),
        b(
            "es_dni",
            r"(?i-u:(?:[XYZ][ -]?[0-9]{7}|[0-9]{8}|[0-9]{2}\.[0-9]{3}\.[0-9]{3})[ -]?[A-Z])",
            Validator::EsDni,
            Hash,
            Token,
        ),
        b(
            "email",
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}",
            Validator::Email,
            Hash,
            Token,
        ),
        b(
            "phone",
            r"\+[0-9](?:[ .()-]{0,2}[0-9]){6,16}|(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-. ])[2-9][0-9]{2}[-. ][0-9]{4}|0[1-9][0-9]{0,3}(?: [0-9]{2,8}){1,4}",
            Validator::Phone,
            Hash,
            Numeric,
        ),
        b(
            "ipv6",
            r"(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)(?:(?:\.[0-9]{1,3}){3})?",
            Validator::Ipv6,
            Hash,
            Token,
        ),
        b(
            "ipv4",
            r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}",
            Validator::Ipv4,
            Hash,
            Numeric,
        ),
    ]
}

/// Object keys whose values are erased whole wherever they occur (compared ASCII
/// case-insensitively, with `-` and `_` equal): the `sensitive_key` detector.
pub const SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "client_secret",
    "secret_key",
    "api_key",
    "apikey",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "session_token",
    "private_key",
    "authorization",
    "cookie",
    "set_cookie",
    "cvv",
    "cvc",
    "pin",
];
