//! Checksum and shape validators that turn a pattern match into a detection.
//!
//! A regular expression finds candidates; a validator decides. Checksums cut false positives by
//! an order of magnitude where a standard defines one: a random 16-digit number passes the Luhn
//! check (ISO/IEC 7812-1 Annex B) with probability 1/10, a random IBAN-shaped string passes
//! ISO 13616's mod-97 check with probability about 1/97.
//!
//! Every function here takes the matched text only, never panics on any input (they are run on
//! untrusted text on the worker thread), and allocates nothing.

/// The ASCII digits of `s` as values, skipping spaces, dashes and dots; `None` if anything else
/// occurs or there are more than `N` digits.
fn digits<const N: usize>(s: &str) -> Option<([u8; N], usize)> {
    let mut out = [0u8; N];
    let mut n = 0;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {
                *out.get_mut(n)? = b - b'0';
                n += 1;
            }
            b' ' | b'-' | b'.' => {}
            _ => return None,
        }
    }
    Some((out, n))
}

/// The Luhn (mod-10) check over a digit sequence.
fn luhn_digits(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !d.is_empty() && sum.is_multiple_of(10)
}

/// Whether the ASCII digits of `s` (every other character ignored, so `LC12345674` checks
/// `12345674`) pass the Luhn check; at least 2 and at most 32 digits.
pub fn luhn(s: &str) -> bool {
    let mut d = [0u8; 32];
    let mut n = 0;
    for b in s.bytes().filter(u8::is_ascii_digit) {
        let Some(slot) = d.get_mut(n) else {
            return false;
        };
        *slot = b - b'0';
        n += 1;
    }
    n >= 2 && luhn_digits(&d[..n])
}

/// A payment card number: 13 to 19 digits (ISO/IEC 7812), whole or in groups of at least three
/// separated by spaces, dashes (mixed too) or dots (4-digit groups only), with an issuer prefix of a major scheme (Visa 4; Mastercard 51-55 and
/// 2221-2720; American Express 34, 37; Discover 6011, 644-649, 65; JCB 3528-3589; Diners 300-305,
/// 36, 38, 39; UnionPay 62; Maestro 50, 56-58, 67), and a valid Luhn check digit.
pub fn payment_card(s: &str) -> bool {
    let Some((d, n)) = digits::<19>(s) else {
        return false;
    };
    if !(13..=19).contains(&n) {
        return false;
    }
    // People type cards in groups, with spaces, dashes, both ("4111-1111 1111 1111") or a
    // doubled space; dots only as 4-digit groups ("4111.1111.1111.1111"). A group of one or two
    // digits is not a card's grouping but a number next to one.
    let dotted = s.contains('.');
    if dotted && (s.contains(' ') || s.contains('-') || s.split('.').any(|g| g.len() != 4)) {
        return false;
    }
    let mut groups = s.split([' ', '-', '.']).filter(|g| !g.is_empty());
    let first = groups.next().map_or(0, str::len);
    let mut rest = groups.peekable();
    if rest.peek().is_some() && (first < 3 || rest.any(|g| g.len() < 3)) {
        return false;
    }
    let p = |k: usize| d[..k].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let iin = match d[0] {
        4 => true,
        5 => matches!(p(2), 50..=58),
        2 => (2221..=2720).contains(&p(4)),
        3 => {
            matches!(p(2), 34 | 36 | 37 | 38 | 39)
                || (300..=305).contains(&p(3))
                || (3528..=3589).contains(&p(4))
        }
        6 => p(4) == 6011 || (644..=649).contains(&p(3)) || matches!(p(2), 62 | 65 | 67),
        _ => false,
    };
    iin && luhn_digits(&d[..n])
}

/// IBAN lengths per country (ISO 13616 registry, release 2024), for the countries most likely to
/// appear; an IBAN of another country is accepted when its length is 15-34 and mod-97 holds.
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AT", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"CH", 21),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"EE", 20),
    (b"ES", 24),
    (b"FI", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GR", 27),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MT", 31),
    (b"NL", 18),
    (b"NO", 15),
    (b"PL", 28),
    (b"PT", 25),
    (b"RO", 24),
    (b"SA", 24),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"TR", 26),
    (b"UA", 29),
];

/// An IBAN (ISO 13616): two letters, two check digits, up to 30 alphanumerics (spaces or dashes
/// between groups allowed; any case, but a lower-case one only for a registered country), the
/// registered length for known countries, and `mod 97 == 1` after moving
/// the first four characters to the end and mapping letters to 10..35.
pub fn iban(s: &str) -> bool {
    let mut buf = [0u8; 34];
    let mut n = 0;
    let mut lower = false;
    for b in s.bytes() {
        match b {
            b' ' | b'-' => {}
            b'0'..=b'9' | b'A'..=b'Z' => {
                let Some(slot) = buf.get_mut(n) else {
                    return false;
                };
                *slot = b;
                n += 1;
            }
            b'a'..=b'z' => {
                let Some(slot) = buf.get_mut(n) else {
                    return false;
                };
                *slot = b.to_ascii_uppercase();
                lower = true;
                n += 1;
            }
            _ => return false,
        }
    }
    // Lower-case text is common; lower-case IBANs are rare: only registered countries.
    if lower && !IBAN_LENGTHS.iter().any(|(c, _)| c[..] == buf[..2]) {
        return false;
    }
    if n < 15 || !buf[0].is_ascii_uppercase() || !buf[1].is_ascii_uppercase() {
        return false;
    }
    if !buf[2].is_ascii_digit() || !buf[3].is_ascii_digit() {
        return false;
    }
    if IBAN_LENGTHS
        .iter()
        .any(|(c, len)| c[..] == buf[..2] && n != *len)
    {
        return false;
    }
    // Process the rearranged string digit by digit, keeping the remainder below 97 so the
    // arithmetic fits a u32 (97 * 100 + 99 < 2^32).
    let mut rem = 0u32;
    for &b in buf[4..n].iter().chain(&buf[..4]) {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A US Social Security Number written `AAA-GG-SSSS` (dashes, spaces or dots, mixed too) or as
/// nine digits (the pattern finds those only after `SSN` or `social security number`): the
/// area is not 000, 666 or 900-999, the group not 00 and the serial not 0000 (SSA rules since
/// 2011; the area rule excludes ITINs, which start with 9).
pub fn us_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    let sep = |c: u8| matches!(c, b'-' | b' ' | b'.');
    let shaped = match b.len() {
        9 => true,
        11 => sep(b[3]) && sep(b[6]),
        _ => false,
    };
    if !shaped {
        return false;
    }
    let Some((d, 9)) = digits::<9>(s) else {
        return false;
    };
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = d[3] * 10 + d[4];
    let serial = d[5..9].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// A Canadian Social Insurance Number written `NNN-NNN-NNN` or `NNN NNN NNN` (mixed too) or as
/// nine digits (the pattern finds those only after `SIN`, `NAS` or the words): nine digits with a
/// valid Luhn check digit (first digits are not checked: 0 appears in the official examples).
pub fn ca_sin(s: &str) -> bool {
    let b = s.as_bytes();
    let sep = |c: u8| matches!(c, b'-' | b' ');
    let shaped = match b.len() {
        9 => true,
        11 => sep(b[3]) && sep(b[7]),
        _ => false,
    };
    if !shaped {
        return false;
    }
    let Some((d, 9)) = digits::<9>(s) else {
        return false;
    };
    luhn_digits(&d)
}

/// A UK National Insurance number (`AB 12 34 56 C`; spaces or dashes optional, any case): the prefix letters follow
/// HMRC's allocation rules (first not D, F, I, Q, U, V; second not D, F, I, O, Q, U, V; not BG,
/// GB, KN, NK, NT, TN, ZZ) and the suffix is A-D.
pub fn uk_nino(s: &str) -> bool {
    let mut c = [0u8; 9];
    let mut n = 0;
    for b in s.bytes() {
        if b == b' ' || b == b'-' {
            continue;
        }
        let Some(slot) = c.get_mut(n) else {
            return false;
        };
        *slot = b.to_ascii_uppercase();
        n += 1;
    }
    if n != 9 {
        return false;
    }
    let (a, b) = (c[0], c[1]);
    let first_ok = a.is_ascii_uppercase() && !b"DFIQUV".contains(&a);
    let second_ok = b.is_ascii_uppercase() && !b"DFIOQUV".contains(&b);
    let banned = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"]
        .iter()
        .any(|p| p[..] == c[..2]);
    first_ok
        && second_ok
        && !banned
        && c[2..8].iter().all(u8::is_ascii_digit)
        && matches!(c[8], b'A'..=b'D')
}

/// A Spanish DNI (`12345678Z`, `12.345.678-z`) or NIE (`X1234567L`, `x-1234567-l`): the control
/// letter is `TRWAGMYFPDXBNJZSQVHLCKE[number mod 23]`, with NIE prefixes X, Y, Z read as 0, 1, 2.
pub fn es_dni(s: &str) -> bool {
    const LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    // Separators (`12.345.678-Z`, `X-1234567-L`, `12345678 Z`) and case do not matter.
    let mut c = [0u8; 9];
    let mut n = 0;
    for b in s.bytes() {
        if matches!(b, b' ' | b'-' | b'.') {
            continue;
        }
        let Some(slot) = c.get_mut(n) else {
            return false;
        };
        *slot = b.to_ascii_uppercase();
        n += 1;
    }
    if n != 9 {
        return false;
    }
    let (body, letter) = (&c[..8], c[8]);
    let mut num = match body[0] {
        b'X' => 0u32,
        b'Y' => 1,
        b'Z' => 2,
        d @ b'0'..=b'9' => u32::from(d - b'0'),
        _ => return false,
    };
    for &d in &body[1..] {
        if !d.is_ascii_digit() {
            return false;
        }
        num = num * 10 + u32::from(d - b'0');
    }
    LETTERS.get((num % 23) as usize) == Some(&letter)
}

/// A dotted-quad IPv4 address: four decimal octets 0-255 without leading zeros.
pub fn ipv4(s: &str) -> bool {
    let mut parts = 0;
    for part in s.split('.') {
        parts += 1;
        let ok = !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part.len() == 1 || !part.starts_with('0'))
            && part.parse::<u16>().is_ok_and(|v| v <= 255);
        if !ok {
            return false;
        }
    }
    parts == 4
}

/// An IPv6 address (RFC 4291 §2.2 text forms, including `::` compression and a trailing dotted
/// quad). To keep Rust paths (`abc::def`) and clock times out, the text must contain a decimal
/// digit and either be a full eight-group form or contain `::`.
pub fn ipv6(s: &str) -> bool {
    s.len() >= 3
        && s.bytes().any(|b| b.is_ascii_digit())
        && (s.contains("::") || s.bytes().filter(|&b| b == b':').count() == 7)
        && s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Decode unpadded base64url (RFC 4648 §5) into `out`, returning the decoded length; `None` on
/// a character outside the alphabet or when `out` is too small.
fn base64url_decode(s: &[u8], out: &mut [u8]) -> Option<usize> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        })
    };
    let mut n = 0;
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let bytes = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..bytes {
            *out.get_mut(n)? = (acc >> (16 - 8 * i)) as u8;
            n += 1;
        }
    }
    Some(n)
}

/// A JSON Web Token (RFC 7519) in compact JWS form: three base64url segments whose first decodes
/// to a JSON object naming an `alg` (RFC 7515 §4.1.1).
pub fn jwt(s: &str) -> bool {
    let mut it = s.split('.');
    let (Some(header), Some(payload), Some(sig), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return false;
    };
    if payload.len() < 4 || sig.is_empty() {
        return false;
    }
    // Headers are short; a longer one is still a JWT, so decode a prefix that holds `alg`.
    let head = header.as_bytes();
    let head = &head[..head.len().min(256) / 4 * 4];
    let mut buf = [0u8; 192];
    let Some(n) = base64url_decode(head, &mut buf) else {
        return false;
    };
    let text = &buf[..n];
    text.first() == Some(&b'{') && text.windows(5).any(|w| w == b"\"alg\"")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_cards() {
        assert!(luhn("79927398713"));
        assert!(!luhn("79927398710"));
        for good in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "5555-5555-5555-4444",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "2223003122003222",
            "4111-1111 1111 1111",
            "4111  1111  1111  1111",
            "4111.1111.1111.1111",
            "3782 822463 10005",
        ] {
            assert!(payment_card(good), "{good}");
        }
        for bad in [
            "4111111111111112",
            "1234567812345670",
            "411111111111",
            "9111111111111111",
            "4111.1111.1111 1111",
            "411.11111.1111.1111",
            "4 1111 1111 1111 111",
        ] {
            assert!(!payment_card(bad), "{bad}");
        }
    }

    #[test]
    fn iban_mod97() {
        for good in [
            "GB82WEST12345698765432",
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "FR1420041010050500013M02606",
            "NL91ABNA0417164300",
            "NO9386011117947",
            "gb82west12345698765432",
            "GB82-WEST-1234-5698-7654-32",
        ] {
            assert!(iban(good), "{good}");
        }
        for bad in [
            "GB82WEST12345698765433",
            "DE8937040044053201300",
            "XX00",
            "GB82WEST1234569876543200000000000000",
            // A lower-case IBAN-shaped word of an unregistered country code.
            "qq2500000000000001",
        ] {
            assert!(!iban(bad), "{bad}");
        }
    }

    #[test]
    fn national_ids() {
        assert!(us_ssn("123-45-6789"));
        assert!(us_ssn("123 45 6789"));
        assert!(us_ssn("123-45 6789"));
        assert!(us_ssn("123.45.6789"));
        assert!(us_ssn("123456789"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "123-456789",
            "1234567890",
        ] {
            assert!(!us_ssn(bad), "{bad}");
        }
        assert!(ca_sin("046-454-286"));
        assert!(!ca_sin("046-454-287"));
        assert!(ca_sin("046 454-286"));
        assert!(ca_sin("046454286"));
        assert!(!ca_sin("046.454.286"));
        assert!(uk_nino("AB 12 34 56 C"));
        assert!(uk_nino("AB123456C"));
        assert!(!uk_nino("GB123456C"));
        assert!(!uk_nino("DA123456C"));
        assert!(!uk_nino("AB123456E"));
        assert!(uk_nino("ab123456c"));
        assert!(uk_nino("AB-12-34-56-C"));
        assert!(es_dni("12345678Z"));
        assert!(es_dni("X1234567L"));
        assert!(!es_dni("12345678A"));
        assert!(es_dni("12.345.678-z"));
        assert!(es_dni("x-1234567-l"));
        assert!(es_dni("12345678 Z"));
        assert!(!es_dni("1234567Z"));
    }

    #[test]
    fn addresses() {
        assert!(ipv4("192.168.0.1"));
        assert!(ipv4("8.8.8.8"));
        for bad in ["256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5"] {
            assert!(!ipv4(bad), "{bad}");
        }
        assert!(ipv6("2001:db8::1"));
        assert!(ipv6("::1"));
        assert!(ipv6("fe80:0:0:0:202:b3ff:fe1e:8329"));
        assert!(ipv6("::ffff:192.0.2.1"));
        for bad in ["abc::def", "12:30:45", "2001:db8", "::"] {
            assert!(!ipv6(bad), "{bad}");
        }
    }

    #[test]
    fn jwts() {
        let t = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert!(jwt(t));
        assert!(!jwt("eyJub3RoaW5nIjoxfQ.eyJzdWIiOiIxIn0.abc"));
        assert!(!jwt("a.b"));
        assert!(!jwt("eyJ!!!.eyJzdWIiOiIxIn0.abc"));
    }

    #[test]
    fn validators_never_panic_on_odd_input() {
        for s in [
            "",
            "-",
            " ",
            "é",
            "€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€",
            "1.1.1.1.1.1",
            "::::",
            "........",
        ] {
            let _ = (
                luhn(s),
                payment_card(s),
                iban(s),
                us_ssn(s),
                ca_sin(s),
                uk_nino(s),
                es_dni(s),
                ipv4(s),
                ipv6(s),
                jwt(s),
            );
        }
    }
}
