//! Strict parsing of integer base units, and digit grouping for text output.
//!
//! Amounts are integer base units everywhere (SPEC §3): there is no decimal point. A value is
//! accepted only when it is a plain decimal integer: ASCII digits, no sign, no spaces, no
//! fraction or exponent, no `0x`, no grouping commas, no leading zero, and at most `u64::MAX`.
//! Anything else is refused with a message; nothing is ever rounded or truncated.

/// Parses a count of base units (fees, nonces, heights and block counts too).
pub fn parse_units(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("empty: give a whole number of base units, e.g. 1000".into());
    }
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_digit()) {
        let hint = match bad {
            '.' => "amounts are whole base units; there is no decimal point",
            'e' | 'E' => "no exponents: write all the digits",
            '-' | '+' => "no sign: give a whole number of base units",
            ',' | '_' | '\'' => "no digit grouping: write the digits alone",
            'x' | 'X' => "decimal only, not hex",
            c if c.is_whitespace() => "no spaces around or inside the number",
            _ => "digits only",
        };
        return Err(format!("{text:?} is not a plain decimal integer ({hint})"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(format!("{text:?} has a leading zero: write it without one"));
    }
    text.parse::<u64>().map_err(|_| format!("{text:?} is too large: at most {} base units", group(u64::MAX)))
}

/// Parses a transfer amount: like [`parse_units`], and greater than zero.
pub fn parse_amount(text: &str) -> Result<u64, String> {
    match parse_units(text)? {
        0 => Err("the amount must be greater than zero".into()),
        n => Ok(n),
    }
}

/// `1234567` → `"1,234,567"`.
pub fn group(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_decimal_integers() {
        for (text, value) in [("1", 1), ("0", 0), ("10", 10), ("1000", 1000), ("18446744073709551615", u64::MAX)] {
            assert_eq!(parse_units(text), Ok(value), "{text:?}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let refused = [
            "",
            " ",
            "1.5",
            "1.0",
            ".5",
            "1e3",
            "1E3",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1 000",
            "0x10",
            "0X10",
            "1,000",
            "1_000",
            "01",
            "00",
            "18446744073709551616",
            "99999999999999999999999",
            "١٢",
            "abc",
            "1\n",
        ];
        for text in refused {
            let error = parse_units(text).expect_err(text);
            assert!(!error.is_empty(), "{text:?} has a message");
        }
        assert!(parse_units("1.5").unwrap_err().contains("no decimal point"));
        assert!(parse_units("18446744073709551616").unwrap_err().contains("too large"));
    }

    #[test]
    fn amount_is_positive() {
        assert!(parse_amount("0").is_err());
        assert_eq!(parse_amount("7"), Ok(7));
    }

    #[test]
    fn grouping() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_250), "1,250");
        assert_eq!(group(1_000_000_000_000), "1,000,000,000,000");
        assert_eq!(group(u64::MAX), "18,446,744,073,709,551,615");
    }
}
