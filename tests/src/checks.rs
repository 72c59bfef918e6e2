//! Checkers run after scenarios. Each has a unit test that plants the violation it looks for.

use serde_json::Value;
use std::collections::HashMap;

/// Pairs of lines of one `signed.jsonl` that sign different things for the same height, round
/// and type: a validator equivocated (or forgot what it signed across a crash).
pub fn conflicting_signatures(lines: &[Value]) -> Vec<(Value, Value)> {
    let mut seen: HashMap<(u64, u64, String, String), &Value> = HashMap::new();
    let mut conflicts = Vec::new();
    for line in lines {
        let key = (
            line["height"].as_u64().unwrap_or(u64::MAX),
            line["round"].as_u64().unwrap_or(u64::MAX),
            line["type"].as_str().unwrap_or("?").to_string(),
            line["validator"].as_str().unwrap_or("?").to_string(),
        );
        match seen.get(&key) {
            Some(first) if first["block_hash"] != line["block_hash"] => {
                conflicts.push(((*first).clone(), line.clone()))
            }
            Some(_) => {}
            None => {
                seen.insert(key, line);
            }
        }
    }
    conflicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_a_planted_double_sign_and_accepts_a_resend() {
        let a = json!({"height": 5, "round": 0, "type": "prevote", "validator": "aa", "block_hash": "01", "signature": "s1"});
        let resent = a.clone();
        let other_round = json!({"height": 5, "round": 1, "type": "prevote", "validator": "aa", "block_hash": "02", "signature": "s2"});
        assert!(conflicting_signatures(&[a.clone(), resent, other_round]).is_empty());
        let conflict = json!({"height": 5, "round": 0, "type": "prevote", "validator": "aa", "block_hash": null, "signature": "s3"});
        assert_eq!(conflicting_signatures(&[a.clone(), conflict.clone()]), vec![(a, conflict)]);
    }
}
