//! The state tree: a sparse Merkle tree over every account, whose root goes into each header.
//!
//! Keys are `SHA-256(public key)` (256 bits, most significant bit first = left/right at depth 0).
//! The tree is binary and canonical: an empty subtree hashes to 32 zero bytes, a subtree holding
//! exactly one account is that account's leaf, `SHA-256(0x00 | key | balance u64 | nonce u64)`,
//! and any larger subtree is an inner node `SHA-256(0x01 | left | right)`. The root therefore
//! depends only on the set of accounts, never on the order they were written in.
//!
//! Nodes are immutable and shared (`Arc`): [`StateTree::update`] builds a new version that
//! re-hashes only the paths of the accounts a block touches (about log2(accounts) nodes each,
//! the shared upper levels once per block), spread over all cores with rayon, while the old
//! version stays readable. That lets a proposed block be executed, and its root checked, without
//! disturbing the committed state.

use crate::address::PublicKey;
use crate::hash::Hash;
use crate::state::Account;
use std::sync::Arc;

/// Below this many updates in a subtree, the two halves are hashed on one thread.
const PARALLEL_THRESHOLD: usize = 1024;

type Key = [u8; 32];

/// The tree key of an account: SHA-256 of its public key.
pub fn tree_key(public_key: &PublicKey) -> Key {
    Hash::digest(public_key.as_bytes()).0
}

fn bit(key: &Key, depth: usize) -> bool {
    key[depth / 8] & (0x80 >> (depth % 8)) != 0
}

fn leaf_hash(key: &Key, account: &Account) -> Hash {
    Hash::digest_parts(&[&[0x00], key, &account.encode()])
}

fn inner_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::digest_parts(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

#[derive(Clone, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(Arc<Leaf>),
    Inner(Arc<Inner>),
}

struct Leaf {
    key: Key,
    account: Account,
    hash: Hash,
}

struct Inner {
    left: Node,
    right: Node,
    hash: Hash,
}

impl Node {
    fn hash(&self) -> Hash {
        match self {
            Node::Empty => Hash::ZERO,
            Node::Leaf(leaf) => leaf.hash,
            Node::Inner(inner) => inner.hash,
        }
    }

    fn leaf(key: Key, account: Account) -> Node {
        Node::Leaf(Arc::new(Leaf { key, account, hash: leaf_hash(&key, &account) }))
    }

    fn inner(left: Node, right: Node) -> Node {
        let hash = inner_hash(&left.hash(), &right.hash());
        Node::Inner(Arc::new(Inner { left, right, hash }))
    }
}

/// Runs both closures, in parallel when the work is large enough to pay for it.
fn join<A, B>(parallel: bool, left: A, right: B) -> (Node, Node)
where
    A: FnOnce() -> Node + Send,
    B: FnOnce() -> Node + Send,
{
    if parallel {
        rayon::join(left, right)
    } else {
        (left(), right())
    }
}

/// Builds the canonical subtree at `depth` holding exactly `entries` (sorted, distinct keys).
fn build(depth: usize, entries: &[(Key, Account)]) -> Node {
    match entries {
        [] => Node::Empty,
        [(key, account)] => Node::leaf(*key, *account),
        _ => {
            let split = entries.partition_point(|(key, _)| !bit(key, depth));
            let (left, right) = entries.split_at(split);
            let (l, r) =
                join(entries.len() >= PARALLEL_THRESHOLD, || build(depth + 1, left), || build(depth + 1, right));
            Node::inner(l, r)
        }
    }
}

/// Returns `node` with `updates` (sorted, distinct keys) written into it.
fn update(node: &Node, depth: usize, updates: &[(Key, Account)]) -> Node {
    if updates.is_empty() {
        return node.clone();
    }
    match node {
        Node::Empty => build(depth, updates),
        Node::Leaf(leaf) => match updates.binary_search_by(|(key, _)| key.cmp(&leaf.key)) {
            Ok(_) => build(depth, updates),
            Err(position) => {
                let mut merged = Vec::with_capacity(updates.len() + 1);
                merged.extend_from_slice(&updates[..position]);
                merged.push((leaf.key, leaf.account));
                merged.extend_from_slice(&updates[position..]);
                build(depth, &merged)
            }
        },
        Node::Inner(inner) => {
            let split = updates.partition_point(|(key, _)| !bit(key, depth));
            let (left, right) = updates.split_at(split);
            let (l, r) = join(
                updates.len() >= PARALLEL_THRESHOLD,
                || update(&inner.left, depth + 1, left),
                || update(&inner.right, depth + 1, right),
            );
            Node::inner(l, r)
        }
    }
}

fn count(node: &Node) -> usize {
    match node {
        Node::Empty => 0,
        Node::Leaf(_) => 1,
        Node::Inner(inner) => count(&inner.left) + count(&inner.right),
    }
}

/// One version of the state tree. Cloning is O(1) and shares every node.
#[derive(Clone, Default)]
pub struct StateTree {
    root: Node,
}

/// Sorts by key and keeps the last entry of each key.
fn sorted_entries(accounts: impl IntoIterator<Item = (PublicKey, Account)>) -> Vec<(Key, Account)> {
    let mut entries: Vec<(Key, Account)> = accounts.into_iter().map(|(pk, a)| (tree_key(&pk), a)).collect();
    // A stable sort keeps the input order among equal keys, so the last write of a key wins.
    entries.sort_by_key(|entry| entry.0);
    let mut deduped: Vec<(Key, Account)> = Vec::with_capacity(entries.len());
    for entry in entries {
        match deduped.last_mut() {
            Some(last) if last.0 == entry.0 => *last = entry,
            _ => deduped.push(entry),
        }
    }
    deduped
}

impl StateTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree holding exactly `accounts` (a later entry for the same key wins).
    pub fn from_accounts(accounts: impl IntoIterator<Item = (PublicKey, Account)>) -> Self {
        StateTree { root: build(0, &sorted_entries(accounts)) }
    }

    /// The root hash that commits to every account.
    pub fn root(&self) -> Hash {
        self.root.hash()
    }

    /// The number of accounts (walks the tree: for tests and diagnostics).
    pub fn len(&self) -> usize {
        count(&self.root)
    }

    /// True when no account exists.
    pub fn is_empty(&self) -> bool {
        matches!(self.root, Node::Empty)
    }

    /// A new version with `changes` written; `self` is unchanged. Cost is proportional to the
    /// number of changed accounts times the tree's depth, not to the number of accounts.
    pub fn update(&self, changes: impl IntoIterator<Item = (PublicKey, Account)>) -> StateTree {
        StateTree { root: update(&self.root, 0, &sorted_entries(changes)) }
    }

    /// The account stored under `public_key`, if any.
    pub fn get(&self, public_key: &PublicKey) -> Option<Account> {
        let key = tree_key(public_key);
        let mut node = &self.root;
        let mut depth = 0;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf(leaf) => return (leaf.key == key).then_some(leaf.account),
                Node::Inner(inner) => {
                    node = if bit(&key, depth) { &inner.right } else { &inner.left };
                    depth += 1;
                }
            }
        }
    }

    /// A proof that `public_key` holds some account, or holds none, against [`StateTree::root`].
    pub fn prove(&self, public_key: &PublicKey) -> AccountProof {
        let key = tree_key(public_key);
        let mut siblings = Vec::new();
        let mut node = &self.root;
        loop {
            match node {
                Node::Empty => return AccountProof { siblings, leaf: None },
                Node::Leaf(leaf) => return AccountProof { siblings, leaf: Some((leaf.key, leaf.account)) },
                Node::Inner(inner) => {
                    let right = bit(&key, siblings.len());
                    let (next, sibling) = if right { (&inner.right, &inner.left) } else { (&inner.left, &inner.right) };
                    siblings.push(sibling.hash());
                    node = next;
                }
            }
        }
    }
}

/// A Merkle proof for one account against a state root (format in `docs/FORMAT.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountProof {
    /// Sibling hashes from the root down to the proven position.
    pub siblings: Vec<Hash>,
    /// The leaf found at the end of the path: `None` for an empty subtree.
    pub leaf: Option<(Key, Account)>,
}

impl AccountProof {
    /// Checks the proof against `root` and returns what it proves about `public_key`:
    /// `Some(account)` if present, `None` if absent. `Err(())` if the proof does not hold.
    #[allow(clippy::result_unit_err)]
    pub fn verify(&self, root: &Hash, public_key: &PublicKey) -> Result<Option<Account>, ()> {
        let key = tree_key(public_key);
        let depth = self.siblings.len();
        if depth > 256 {
            return Err(());
        }
        let (mut hash, proven) = match &self.leaf {
            None => (Hash::ZERO, None),
            Some((leaf_key, account)) => {
                // A different leaf proves absence only if it sits on this key's path.
                if (0..depth).any(|d| bit(leaf_key, d) != bit(&key, d)) {
                    return Err(());
                }
                (leaf_hash(leaf_key, account), (*leaf_key == key).then_some(*account))
            }
        };
        for (d, sibling) in self.siblings.iter().enumerate().rev() {
            hash = if bit(&key, d) { inner_hash(sibling, &hash) } else { inner_hash(&hash, sibling) };
        }
        if hash == *root {
            Ok(proven)
        } else {
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(i: u32) -> PublicKey {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        PublicKey(bytes)
    }

    fn acct(balance: u64, nonce: u64) -> Account {
        Account { balance, nonce }
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(StateTree::new().root(), Hash::ZERO);
        let tree = StateTree::new().update([(pk(1), acct(5, 0))]);
        assert_eq!(tree.root(), leaf_hash(&tree_key(&pk(1)), &acct(5, 0)));
        assert_eq!(tree.get(&pk(1)), Some(acct(5, 0)));
        assert_eq!(tree.get(&pk(2)), None);
    }

    #[test]
    fn incremental_equals_rebuild_and_old_versions_stay() {
        let initial: Vec<_> = (0..500).map(|i| (pk(i), acct(i as u64, 0))).collect();
        let v1 = StateTree::from_accounts(initial.clone());
        let changes: Vec<_> = (400..700).map(|i| (pk(i), acct(7, 1))).collect();
        let v2 = v1.update(changes.clone());
        let all: Vec<_> = initial.into_iter().chain(changes).collect();
        assert_eq!(v2.root(), StateTree::from_accounts(all).root());
        assert_eq!(v1.get(&pk(450)), Some(acct(450, 0)));
        assert_eq!(v2.get(&pk(450)), Some(acct(7, 1)));
        assert_eq!(v2.len(), 700);
    }

    #[test]
    fn proofs_of_presence_and_absence() {
        let tree = StateTree::from_accounts((0..300).map(|i| (pk(i), acct(i as u64 + 1, 2))));
        let root = tree.root();
        for i in [0, 17, 299] {
            assert_eq!(tree.prove(&pk(i)).verify(&root, &pk(i)), Ok(Some(acct(i as u64 + 1, 2))));
        }
        for i in [300, 1000] {
            assert_eq!(tree.prove(&pk(i)).verify(&root, &pk(i)), Ok(None));
        }
        // A proof for one key does not prove another's account, and a tampered proof fails.
        assert!(!matches!(tree.prove(&pk(3)).verify(&root, &pk(4)), Ok(Some(_))));
        let mut tampered = tree.prove(&pk(5));
        tampered.leaf = Some((tree_key(&pk(5)), acct(1_000_000, 2)));
        assert!(tampered.verify(&root, &pk(5)).is_err());
    }
}
