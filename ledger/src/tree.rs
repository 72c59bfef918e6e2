//! The state tree: a sparse Merkle tree over every account, whose root goes into each header.
//!
//! Keys are `SHA-256(public key)` (256 bits, most significant bit first = left/right at depth 0).
//! The tree is binary and canonical: an empty subtree hashes to 32 zero bytes, a subtree holding
//! exactly one account is that account's leaf, `SHA-256(0x00 | key | balance u64 | nonce u64)`,
//! and any larger subtree is an inner node `SHA-256(0x01 | left | right)`. The root therefore
//! depends only on the set of accounts, never on the order they were written in.
//!
//! A block's writes are planned first ([`StateTree::plan`]): the new root and the hash of every
//! node on the changed accounts' paths (about log2(accounts) each, the shared upper levels once),
//! computed over all cores with rayon while the tree stays as it is. That lets a proposed block
//! be executed, and its root checked, without disturbing the committed state. Once the block is
//! committed, [`StateTree::apply`] writes the plan in place, reusing the planned hashes. Nodes
//! are reference-counted (`Arc`), so a clone of the tree is O(1) and an update copies only the
//! nodes some other version still shares.

use crate::address::PublicKey;
use crate::hash::Hash;
use crate::state::Account;
use std::sync::Arc;

/// Below this many updates in a subtree, the two halves are hashed on one thread.
const PARALLEL_THRESHOLD: usize = 1024;

type Key = [u8; 32];
/// An account under its tree key.
type Entry = (Key, Account);

/// The tree key of an account: SHA-256 of its public key.
pub fn tree_key(public_key: &PublicKey) -> Key {
    Hash::digest(public_key.as_bytes()).0
}

fn bit(key: &Key, depth: usize) -> bool {
    key[depth / 8] & (0x80 >> (depth % 8)) != 0
}

// Both hashes take their input as one array: a state update computes some 200,000 of them, and
// feeding SHA-256 one buffer costs measurably less than three pieces.

fn leaf_hash(key: &Key, account: &Account) -> Hash {
    let mut input = [0u8; 1 + 32 + 16];
    input[1..33].copy_from_slice(key);
    input[33..].copy_from_slice(&account.encode());
    Hash::digest(&input)
}

fn inner_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0x01; 1 + 32 + 32];
    input[1..33].copy_from_slice(left.as_bytes());
    input[33..].copy_from_slice(right.as_bytes());
    Hash::digest(&input)
}

#[derive(Clone, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(Arc<Leaf>),
    Inner(Arc<Inner>),
}

#[derive(Clone)]
struct Leaf {
    key: Key,
    account: Account,
    hash: Hash,
}

#[derive(Clone)]
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
}

/// `updates` (sorted, distinct keys) with `leaf`'s entry added unless `updates` rewrites it:
/// the entries of the subtree that replaces a leaf.
fn merged_with_leaf(leaf: &Leaf, updates: &[Entry]) -> Vec<Entry> {
    match updates.binary_search_by(|(key, _)| key.cmp(&leaf.key)) {
        Ok(_) => updates.to_vec(),
        Err(position) => {
            let mut merged = Vec::with_capacity(updates.len() + 1);
            merged.extend_from_slice(&updates[..position]);
            merged.push((leaf.key, leaf.account));
            merged.extend_from_slice(&updates[position..]);
            merged
        }
    }
}

/// Splits sorted entries at `depth` into those going left (bit 0) and right (bit 1).
fn split(entries: &[Entry], depth: usize) -> (&[Entry], &[Entry]) {
    entries.split_at(entries.partition_point(|(key, _)| !bit(key, depth)))
}

// An update runs in two passes over the same nodes in the same order. `plan_*` reads the tree
// and pushes the hash of every node the update creates or rewrites, in post-order (left
// subtree, right subtree, node); `write_*` then changes the tree in place and takes those
// hashes in the same order, so nothing is hashed twice and, where the tree holds the only
// reference to a node, nothing is allocated or freed.

/// The hash of the canonical subtree holding exactly `entries` (sorted, distinct keys).
fn plan_build(depth: usize, entries: &[Entry], out: &mut Vec<Hash>) -> Hash {
    let hash = match entries {
        [] => return Hash::ZERO,
        [(key, account)] => leaf_hash(key, account),
        _ => {
            let (left, right) = split(entries, depth);
            let (l, r) = plan_pair(
                entries.len(),
                out,
                |out| plan_build(depth + 1, left, out),
                |out| plan_build(depth + 1, right, out),
            );
            inner_hash(&l, &r)
        }
    };
    out.push(hash);
    hash
}

/// The hash of `node` with `updates` (sorted, distinct keys) written into it.
fn plan_update(node: &Node, depth: usize, updates: &[Entry], out: &mut Vec<Hash>) -> Hash {
    if updates.is_empty() {
        return node.hash();
    }
    match node {
        Node::Empty => plan_build(depth, updates, out),
        Node::Leaf(leaf) => plan_build(depth, &merged_with_leaf(leaf, updates), out),
        Node::Inner(inner) => {
            let (left, right) = split(updates, depth);
            let (l, r) = plan_pair(
                updates.len(),
                out,
                |out| plan_update(&inner.left, depth + 1, left, out),
                |out| plan_update(&inner.right, depth + 1, right, out),
            );
            let hash = inner_hash(&l, &r);
            out.push(hash);
            hash
        }
    }
}

/// Plans two sibling subtrees, in parallel for large updates; their hashes land in `out`
/// left before right either way.
fn plan_pair<L, R>(work: usize, out: &mut Vec<Hash>, left: L, right: R) -> (Hash, Hash)
where
    L: FnOnce(&mut Vec<Hash>) -> Hash + Send,
    R: FnOnce(&mut Vec<Hash>) -> Hash + Send,
{
    if work < PARALLEL_THRESHOLD {
        return (left(out), right(out));
    }
    let mut right_out = Vec::new();
    let (l, r) = rayon::join(|| left(out), || right(&mut right_out));
    out.append(&mut right_out);
    (l, r)
}

/// The next planned hash, or (if the plan ran short, which a plan of this very tree never does)
/// the hash computed by `fallback`.
fn next_hash(hashes: &mut std::slice::Iter<'_, Hash>, fallback: impl FnOnce() -> Hash) -> Hash {
    hashes.next().copied().unwrap_or_else(fallback)
}

/// Builds the canonical subtree holding exactly `entries`, with the hashes [`plan_build`] gave.
fn write_build(depth: usize, entries: &[Entry], hashes: &mut std::slice::Iter<'_, Hash>) -> Node {
    match entries {
        [] => Node::Empty,
        [(key, account)] => {
            let hash = next_hash(hashes, || leaf_hash(key, account));
            Node::Leaf(Arc::new(Leaf { key: *key, account: *account, hash }))
        }
        _ => {
            let (left, right) = split(entries, depth);
            let left = write_build(depth + 1, left, hashes);
            let right = write_build(depth + 1, right, hashes);
            let hash = next_hash(hashes, || inner_hash(&left.hash(), &right.hash()));
            Node::Inner(Arc::new(Inner { left, right, hash }))
        }
    }
}

/// Writes `updates` into `node` in place, with the hashes [`plan_update`] gave.
fn write_update(node: &mut Node, depth: usize, updates: &[Entry], hashes: &mut std::slice::Iter<'_, Hash>) {
    if updates.is_empty() {
        return;
    }
    match node {
        Node::Empty => *node = write_build(depth, updates, hashes),
        Node::Leaf(leaf) => match updates {
            // The common case, an existing account's new state: the leaf is rewritten in place.
            [(key, account)] if *key == leaf.key => {
                let hash = next_hash(hashes, || leaf_hash(key, account));
                let leaf = Arc::make_mut(leaf);
                leaf.account = *account;
                leaf.hash = hash;
            }
            _ => *node = write_build(depth, &merged_with_leaf(leaf, updates), hashes),
        },
        Node::Inner(inner) => {
            let inner = Arc::make_mut(inner);
            let (left, right) = split(updates, depth);
            write_update(&mut inner.left, depth + 1, left, hashes);
            write_update(&mut inner.right, depth + 1, right, hashes);
            inner.hash = next_hash(hashes, || inner_hash(&inner.left.hash(), &inner.right.hash()));
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

/// Sorts by key and keeps the last entry of each key.
fn sorted_entries(accounts: impl IntoIterator<Item = (PublicKey, Account)>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = accounts.into_iter().map(|(pk, a)| (tree_key(&pk), a)).collect();
    // A stable sort keeps the input order among equal keys, so the last write of a key wins.
    entries.sort_by_key(|entry| entry.0);
    let mut deduped: Vec<Entry> = Vec::with_capacity(entries.len());
    for entry in entries {
        match deduped.last_mut() {
            Some(last) if last.0 == entry.0 => *last = entry,
            _ => deduped.push(entry),
        }
    }
    deduped
}

/// A batch of account writes planned against one version of the tree: the root it leads to
/// and the hash of every node it creates, computed without changing the tree
/// ([`StateTree::plan`]), ready to be written in place ([`StateTree::apply`]).
#[derive(Clone)]
pub struct TreeUpdate {
    base: Hash,
    root: Hash,
    entries: Vec<Entry>,
    hashes: Vec<Hash>,
}

impl TreeUpdate {
    /// The root after the update.
    pub fn root(&self) -> Hash {
        self.root
    }
}

/// One version of the state tree. Cloning is O(1) and shares every node; a shared node is
/// copied before an update writes to it, so other versions never change.
#[derive(Clone, Default)]
pub struct StateTree {
    root: Node,
}

impl StateTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree holding exactly `accounts` (a later entry for the same key wins).
    pub fn from_accounts(accounts: impl IntoIterator<Item = (PublicKey, Account)>) -> Self {
        let mut tree = StateTree::new();
        tree.apply(tree.plan(accounts));
        tree
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

    /// Plans writing `changes` (a later entry for the same key wins): the new root and every
    /// new node's hash, hashing only the paths of the changed accounts (about log2(accounts)
    /// nodes each, the shared upper levels once), spread over all cores. `self` is unchanged.
    pub fn plan(&self, changes: impl IntoIterator<Item = (PublicKey, Account)>) -> TreeUpdate {
        self.plan_entries(sorted_entries(changes))
    }

    /// Writes a planned update in place: nodes only this version holds are rewritten, shared
    /// ones copied first. An update planned against another version is planned again here.
    pub fn apply(&mut self, update: TreeUpdate) {
        let update = if update.base == self.root() { update } else { self.plan_entries(update.entries) };
        let mut hashes = update.hashes.iter();
        write_update(&mut self.root, 0, &update.entries, &mut hashes);
        debug_assert!(hashes.next().is_none() && self.root() == update.root, "plan and write disagree");
    }

    fn plan_entries(&self, entries: Vec<Entry>) -> TreeUpdate {
        let mut hashes = Vec::new();
        let root = plan_update(&self.root, 0, &entries, &mut hashes);
        TreeUpdate { base: self.root(), root, entries, hashes }
    }

    /// A new version with `changes` written; `self` is unchanged.
    pub fn update(&self, changes: impl IntoIterator<Item = (PublicKey, Account)>) -> StateTree {
        let mut next = self.clone();
        next.apply(self.plan(changes));
        next
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
    pub leaf: Option<Entry>,
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
    fn a_plan_changes_nothing_and_applying_it_gives_its_root() {
        let initial: Vec<_> = (0..3000).map(|i| (pk(i), acct(i as u64, 0))).collect();
        let mut tree = StateTree::from_accounts(initial.clone());
        let before = tree.root();
        // Existing accounts rewritten, new ones added, and one key written twice (the last wins):
        // large enough to plan both halves of the upper levels in parallel.
        let mut changes: Vec<_> = (2000..5000).map(|i| (pk(i), acct(9, 1))).collect();
        changes.push((pk(2500), acct(10, 2)));
        let plan = tree.plan(changes.clone());
        assert_eq!(tree.root(), before);
        let expected = StateTree::from_accounts(initial.into_iter().chain(changes)).root();
        assert_eq!(plan.root(), expected);
        tree.apply(plan);
        assert_eq!(tree.root(), expected);
        assert_eq!(tree.get(&pk(2500)), Some(acct(10, 2)));
        assert_eq!(tree.len(), 5000);
    }

    #[test]
    fn applying_to_a_shared_tree_leaves_the_other_version_intact() {
        let mut tree = StateTree::from_accounts((0..200).map(|i| (pk(i), acct(1, 0))));
        let snapshot = tree.clone();
        let root = snapshot.root();
        tree.apply(tree.plan([(pk(5), acct(2, 1)), (pk(500), acct(3, 0))]));
        assert_eq!(snapshot.root(), root);
        assert_eq!(snapshot.get(&pk(5)), Some(acct(1, 0)));
        assert_eq!(snapshot.get(&pk(500)), None);
        assert_eq!(tree.get(&pk(5)), Some(acct(2, 1)));
    }

    #[test]
    fn a_plan_made_against_another_version_is_planned_again() {
        let base = StateTree::from_accounts((0..100).map(|i| (pk(i), acct(1, 0))));
        let plan = base.plan([(pk(1), acct(7, 1))]);
        let mut moved_on = base.update([(pk(2), acct(8, 1))]);
        moved_on.apply(plan);
        assert_eq!(moved_on.get(&pk(1)), Some(acct(7, 1)));
        assert_eq!(moved_on.get(&pk(2)), Some(acct(8, 1)));
        let all = (0..100).map(|i| (pk(i), acct(1, 0))).chain([(pk(1), acct(7, 1)), (pk(2), acct(8, 1))]);
        assert_eq!(moved_on.root(), StateTree::from_accounts(all).root());
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
