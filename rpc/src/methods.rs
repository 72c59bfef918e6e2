//! The method table: every served method with its parameters and result schema. The dispatcher
//! ([`crate::dispatch`]) matches on [`Method`] exhaustively and the OpenRPC document
//! ([`crate::openrpc`]) is generated from [`Method::ALL`], so the two cannot disagree.

/// A method's parameter: its name (for by-name params), position (its index in the list),
/// whether it is required, and its JSON schema (JSON text, for `rpc.discover`).
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// The name.
    pub name: &'static str,
    /// Whether a call must give it.
    pub required: bool,
    /// A JSON schema of the value, as JSON text.
    pub schema: &'static str,
    /// What it is.
    pub description: &'static str,
}

impl ParamSpec {
    /// A required parameter of any type (used in tests and simple specs).
    pub const fn required(name: &'static str, description: &'static str) -> ParamSpec {
        ParamSpec { name, required: true, schema: "{}", description }
    }

    /// An optional parameter of any type.
    pub const fn optional(name: &'static str, description: &'static str) -> ParamSpec {
        ParamSpec { name, required: false, schema: "{}", description }
    }

    const fn typed(name: &'static str, required: bool, schema: &'static str, description: &'static str) -> Self {
        ParamSpec { name, required, schema, description }
    }
}

/// A served method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `status`.
    Status,
    /// `getAccount`.
    GetAccount,
    /// `sendTransaction`.
    SendTransaction,
    /// `getTransaction`.
    GetTransaction,
    /// `getBlock`.
    GetBlock,
    /// `getTransactionsByAddress`.
    GetTransactionsByAddress,
    /// `getValidators`.
    GetValidators,
    /// `getEvidence`.
    GetEvidence,
    /// `subscribe` (WebSocket only).
    Subscribe,
    /// `unsubscribe` (WebSocket only).
    Unsubscribe,
    /// `rpc.discover`.
    Discover,
}

/// A method's documentation and parameter list.
#[derive(Clone, Copy, Debug)]
pub struct MethodSpec {
    /// The wire name.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Its parameters, in positional order.
    pub params: &'static [ParamSpec],
    /// The result's name in the OpenRPC document.
    pub result_name: &'static str,
    /// The result's JSON schema, as JSON text.
    pub result_schema: &'static str,
    /// Served only over the WebSocket endpoint.
    pub websocket_only: bool,
}

const ADDRESS: &str = r##"{"$ref":"#/components/schemas/Address"}"##;
const HASH: &str = r##"{"$ref":"#/components/schemas/Hash"}"##;
const U64: &str = r##"{"$ref":"#/components/schemas/U64"}"##;

const STATUS: MethodSpec = MethodSpec {
    name: "status",
    summary: "The node's identity and the tip of its chain.",
    params: &[],
    result_name: "status",
    result_schema: r##"{"$ref":"#/components/schemas/Status"}"##,
    websocket_only: false,
};

const GET_ACCOUNT: MethodSpec = MethodSpec {
    name: "getAccount",
    summary: "An account's committed balance and nonce, and its pending nonce on this node.",
    params: &[ParamSpec::typed("address", true, ADDRESS, "The account's tally1… address.")],
    result_name: "account",
    result_schema: r##"{"$ref":"#/components/schemas/Account"}"##,
    websocket_only: false,
};

const SEND_TRANSACTION: MethodSpec = MethodSpec {
    name: "sendTransaction",
    summary: "Submits a signed transfer; idempotent. With wait \"committed\", returns at finality or at the timeout with status pending.",
    params: &[
        ParamSpec::typed("tx", true, r#"{"type":"string","pattern":"^([0-9a-fA-F]{2})+$"}"#, "The transfer's bytes (SPEC §3) as hex."),
        ParamSpec::typed("wait", false, r#"{"type":"string","enum":["none","committed"],"default":"none"}"#, "Whether to wait for finality."),
        ParamSpec::typed("timeout_ms", false, U64, "How long to wait, in milliseconds (default 10000)."),
    ],
    result_name: "submission",
    result_schema: r##"{"$ref":"#/components/schemas/SendResult"}"##,
    websocket_only: false,
};

const GET_TRANSACTION: MethodSpec = MethodSpec {
    name: "getTransaction",
    summary: "A transfer and its status; a hash this node never saw has status unknown.",
    params: &[ParamSpec::typed("hash", true, HASH, "The transfer hash.")],
    result_name: "transaction",
    result_schema: r##"{"$ref":"#/components/schemas/Transaction"}"##,
    websocket_only: false,
};

const GET_BLOCK: MethodSpec = MethodSpec {
    name: "getBlock",
    summary: "A committed block with the certificate that made it final.",
    params: &[ParamSpec::typed(
        "height",
        true,
        r#"{"oneOf":[{"type":"integer","minimum":1},{"type":"string","pattern":"^(latest|[1-9][0-9]*)$"}]}"#,
        "A height, or \"latest\".",
    )],
    result_name: "block",
    result_schema: r##"{"$ref":"#/components/schemas/Block"}"##,
    websocket_only: false,
};

const GET_TRANSACTIONS_BY_ADDRESS: MethodSpec = MethodSpec {
    name: "getTransactionsByAddress",
    summary: "Committed transfers sent or received by an address, newest first, one page at a time.",
    params: &[
        ParamSpec::typed("address", true, ADDRESS, "The address."),
        ParamSpec::typed("limit", false, r#"{"type":"integer","minimum":1,"maximum":500,"default":50}"#, "Page size."),
        ParamSpec::typed("before", false, r#"{"type":"string"}"#, "The cursor `next` of the previous page."),
    ],
    result_name: "page",
    result_schema: r##"{"$ref":"#/components/schemas/TransactionPage"}"##,
    websocket_only: false,
};

const GET_VALIDATORS: MethodSpec = MethodSpec {
    name: "getValidators",
    summary: "The validator set.",
    params: &[],
    result_name: "validators",
    result_schema: r##"{"type":"array","items":{"$ref":"#/components/schemas/Validator"}}"##,
    websocket_only: false,
};

const GET_EVIDENCE: MethodSpec = MethodSpec {
    name: "getEvidence",
    summary: "Equivocation evidence: pairs of conflicting messages signed by one validator.",
    params: &[ParamSpec::typed(
        "from_height",
        false,
        r#"{"type":"integer","minimum":0}"#,
        "Only evidence at or above this height.",
    )],
    result_name: "evidence",
    result_schema: r##"{"type":"array","items":{"$ref":"#/components/schemas/Evidence"}}"##,
    websocket_only: false,
};

const SUBSCRIBE: MethodSpec = MethodSpec {
    name: "subscribe",
    summary: "WebSocket only: notifications of committed blocks (topic newBlocks) or of committed transfers touching an address (topic address).",
    params: &[
        ParamSpec::typed("topic", true, r#"{"type":"string","enum":["newBlocks","address"]}"#, "What to follow."),
        ParamSpec::typed("address", false, ADDRESS, "The address, for topic address."),
    ],
    result_name: "subscription",
    result_schema: r#"{"type":"string","description":"The subscription id, repeated in every notification."}"#,
    websocket_only: true,
};

const UNSUBSCRIBE: MethodSpec = MethodSpec {
    name: "unsubscribe",
    summary: "WebSocket only: ends a subscription of this connection.",
    params: &[ParamSpec::typed("subscription", true, r#"{"type":"string"}"#, "The subscription id.")],
    result_name: "unsubscribed",
    result_schema: r#"{"type":"boolean","const":true}"#,
    websocket_only: true,
};

const DISCOVER: MethodSpec = MethodSpec {
    name: "rpc.discover",
    summary: "This OpenRPC document.",
    params: &[],
    result_name: "openrpc",
    result_schema: r#"{"type":"object","description":"An OpenRPC 1.x document."}"#,
    websocket_only: false,
};

impl Method {
    /// Every method, in documentation order.
    pub const ALL: [Method; 11] = [
        Method::Status,
        Method::GetAccount,
        Method::SendTransaction,
        Method::GetTransaction,
        Method::GetBlock,
        Method::GetTransactionsByAddress,
        Method::GetValidators,
        Method::GetEvidence,
        Method::Subscribe,
        Method::Unsubscribe,
        Method::Discover,
    ];

    /// The method's specification.
    pub fn spec(self) -> &'static MethodSpec {
        match self {
            Method::Status => &STATUS,
            Method::GetAccount => &GET_ACCOUNT,
            Method::SendTransaction => &SEND_TRANSACTION,
            Method::GetTransaction => &GET_TRANSACTION,
            Method::GetBlock => &GET_BLOCK,
            Method::GetTransactionsByAddress => &GET_TRANSACTIONS_BY_ADDRESS,
            Method::GetValidators => &GET_VALIDATORS,
            Method::GetEvidence => &GET_EVIDENCE,
            Method::Subscribe => &SUBSCRIBE,
            Method::Unsubscribe => &UNSUBSCRIBE,
            Method::Discover => &DISCOVER,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The method called `name`, if served.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_schemas_are_json() {
        let mut names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Method::ALL.len());
        for method in Method::ALL {
            let spec = method.spec();
            serde_json::from_str::<serde_json::Value>(spec.result_schema).unwrap();
            for param in spec.params {
                serde_json::from_str::<serde_json::Value>(param.schema).unwrap();
            }
            assert_eq!(Method::from_name(spec.name), Some(method));
        }
    }
}
