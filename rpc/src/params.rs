//! Binding a call's params to a method's parameter list, and strict parsing of each value from
//! its raw JSON text.
//!
//! Params come positionally (in the listed order) or by name; unknown names, extra positions
//! and missing required params are -32602. A param given as `null` counts as absent.
//! u64 values are canonical decimal strings or JSON integers, judged on the raw text, so `1e3`,
//! `1.0`, `-1`, `01` and `18446744073709551616` are refused rather than coerced.

use crate::jsonrpc::ErrorObject;
use crate::methods::ParamSpec;
use crate::wire::codec::parse_decimal_u64;
use serde_json::value::RawValue;
use std::collections::HashMap;
use tally_ledger::{Address, Hash, PublicKey};

/// A call's params, one slot per declared parameter.
pub struct Params<'a> {
    specs: &'static [ParamSpec],
    values: Vec<Option<&'a RawValue>>,
}

impl<'a> Params<'a> {
    /// Binds `raw` (an array, an object or nothing) to `specs`.
    pub fn bind(specs: &'static [ParamSpec], raw: Option<&'a RawValue>) -> Result<Params<'a>, ErrorObject> {
        let mut values: Vec<Option<&'a RawValue>> = vec![None; specs.len()];
        if let Some(raw) = raw {
            if raw.get().starts_with('[') {
                let items: Vec<&'a RawValue> = serde_json::from_str(raw.get())
                    .map_err(|_| ErrorObject::invalid_params_shape("params must be an array or an object"))?;
                if items.len() > specs.len() {
                    let detail = format!("at most {} positional params, got {}", specs.len(), items.len());
                    return Err(ErrorObject::invalid_params_shape(&detail));
                }
                for (slot, item) in values.iter_mut().zip(items) {
                    *slot = Some(item);
                }
            } else {
                let fields: HashMap<String, &'a RawValue> = serde_json::from_str(raw.get())
                    .map_err(|_| ErrorObject::invalid_params_shape("params must be an array or an object"))?;
                for (name, value) in fields {
                    let Some(position) = specs.iter().position(|s| s.name == name) else {
                        return Err(ErrorObject::invalid_params(&name, "unknown parameter"));
                    };
                    values[position] = Some(value);
                }
            }
        }
        for (spec, value) in specs.iter().zip(values.iter_mut()) {
            if value.is_some_and(|v| v.get() == "null") {
                *value = None;
            }
            if spec.required && value.is_none() {
                return Err(ErrorObject::invalid_params(spec.name, "missing required parameter"));
            }
        }
        Ok(Params { specs, values })
    }

    fn slot(&self, name: &str) -> (&'static str, Option<&'a RawValue>) {
        match self.specs.iter().position(|s| s.name == name) {
            Some(i) => (self.specs[i].name, self.values[i]),
            None => ("?", None),
        }
    }

    /// A required parameter, parsed by `parse`.
    pub fn required<T>(&self, name: &str, parse: fn(&RawValue) -> Result<T, String>) -> Result<T, ErrorObject> {
        match self.slot(name) {
            (name, Some(raw)) => parse(raw).map_err(|detail| ErrorObject::invalid_params(name, &detail)),
            (name, None) => Err(ErrorObject::invalid_params(name, "missing required parameter")),
        }
    }

    /// An optional parameter, parsed by `parse` when given.
    pub fn optional<T>(&self, name: &str, parse: fn(&RawValue) -> Result<T, String>) -> Result<Option<T>, ErrorObject> {
        match self.slot(name) {
            (name, Some(raw)) => parse(raw).map(Some).map_err(|detail| ErrorObject::invalid_params(name, &detail)),
            (_, None) => Ok(None),
        }
    }
}

/// A JSON string.
pub fn string(raw: &RawValue) -> Result<String, String> {
    if !raw.get().starts_with('"') {
        return Err("must be a string".into());
    }
    serde_json::from_str(raw.get()).map_err(|_| "must be a string".into())
}

/// A u64: a canonical decimal string or a JSON integer (no sign, fraction, exponent or leading
/// zero, at most 2^64 - 1).
pub fn u64_value(raw: &RawValue) -> Result<u64, String> {
    let text = raw.get();
    let digits = if text.starts_with('"') { string(raw)? } else { text.to_string() };
    parse_decimal_u64(&digits).ok_or_else(|| {
        "must be an unsigned 64-bit integer: decimal digits, no sign, fraction, exponent or leading zero".into()
    })
}

/// A `tally1…` address.
pub fn address(raw: &RawValue) -> Result<PublicKey, String> {
    let text = string(raw)?;
    text.parse::<Address>().map(|a| a.public_key()).map_err(|e| format!("not a tally address: {e}"))
}

/// A 64-character hex hash.
pub fn hash(raw: &RawValue) -> Result<Hash, String> {
    Hash::from_hex(&string(raw)?).ok_or_else(|| "must be 64 hex characters".into())
}

/// Hex bytes (either case, even length, no `0x`).
pub fn hex_bytes(raw: &RawValue) -> Result<Vec<u8>, String> {
    hex::decode(string(raw)?).map_err(|e| format!("must be hex: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn u64_strictness() {
        for ok in ["0", "1", "\"0\"", "\"42\"", "18446744073709551615", "\"18446744073709551615\""] {
            assert!(u64_value(&raw(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "1e3",
            "-1",
            "1.0",
            "18446744073709551616",
            "\"01\"",
            "\"-1\"",
            "\"1e3\"",
            "\" 1\"",
            "true",
            "null",
            "\"\"",
            "[1]",
            "-0",
            "\"18446744073709551616\"",
        ] {
            assert!(u64_value(&raw(bad)).is_err(), "{bad}");
        }
    }

    static SPECS: [ParamSpec; 2] = [ParamSpec::required("a", "a"), ParamSpec::optional("b", "b")];

    #[test]
    fn binding_by_position_and_name() {
        let positional = raw(r#"["x", 5]"#);
        let p = Params::bind(&SPECS, Some(&positional)).unwrap();
        assert_eq!(p.required("a", string).unwrap(), "x");
        assert_eq!(p.optional("b", u64_value).unwrap(), Some(5));
        let named = raw(r#"{"a": "y", "b": null}"#);
        let p = Params::bind(&SPECS, Some(&named)).unwrap();
        assert_eq!(p.required("a", string).unwrap(), "y");
        assert_eq!(p.optional("b", u64_value).unwrap(), None);
        assert!(Params::bind(&SPECS, Some(&raw(r#"["x", 1, 2]"#))).is_err());
        assert!(Params::bind(&SPECS, Some(&raw(r#"{"a": "x", "c": 1}"#))).is_err());
        assert!(Params::bind(&SPECS, Some(&raw(r#"{"b": 1}"#))).is_err());
        assert!(Params::bind(&SPECS, None).is_err());
        assert!(Params::bind(&SPECS, Some(&raw("[null]"))).is_err());
    }
}
