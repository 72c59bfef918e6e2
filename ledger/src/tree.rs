//! The state tree: a sparse Merkle tree over every account, whose root goes into each header.
//!
//! Keys are `SHA-256(public key)`, read as 64 nibbles (the high nibble of byte 0 first); nibble
//! `d` picks one of 16 children at depth `d`. The tree is canonical: an empty subtree hashes to
//! 32 zero bytes, a subtree holding exactly one account is that account's leaf,
//! `SHA-256(0x00 | key | balance u64 | nonce u64)`, and any larger subtree is an inner node,
//! `SHA-256(0x01 | bitmap u16 | the non-empty children's hashes in nibble order)`, where bit `i`
//! of the big-endian bitmap is set when child `i` is non-empty. The root therefore depends only
//! on the set of accounts, never on the order they were written in.
//!
//! Sixteen children per node keep a million accounts five levels deep: an update walks and
//! hashes about a quarter of the nodes a binary tree would, and the empty children of sparse
//! nodes cost nothing to hash.
//!
//! A block's writes are planned first ([`StateTree::plan`]): the new root and the hash of every
//! node on the changed accounts' paths (the shared upper levels once), computed over all cores
//! with rayon while the tree stays as it is. That lets a proposed block be executed, and its
//! root checked, without disturbing the committed state. Once the block is committed,
//! [`StateTree::apply`] writes the plan in place, reusing the planned hashes. Nodes are
//! reference-counted (`Arc`), so a clone of the tree is O(1) and an update copies only the
//! nodes some other version still shares.

use crate::address::PublicKey;
use crate::hash::{cmp_bytes32, sort_by_bytes32, Hash};
use crate::state::Account;
use rayon::prelude::*;
use std::sync::Arc;

/// Children per inner node.
const ARITY: usize = 16;
/// Nibbles in a key: the deepest an inner node can sit.
const MAX_DEPTH: usize = 64;
/// Below this many updates in a subtree, its children are planned on one thread.
const PARALLEL_THRESHOLD: usize = 1024;
/// A subtree getting at most this many updates (out of more in its parent) has the nodes its
/// walk reads prefetched first, all together ([`prefetch_paths`]).
const FETCH_BATCH: usize = 64;

type Key = [u8; 32];
/// An account under its tree key.
type Entry = (Key, Account);

/// The tree key of an account: SHA-256 of its public key.
pub fn tree_key(public_key: &PublicKey) -> Key {
    Hash::digest(public_key.as_bytes()).0
}

/// The child a key goes to at `depth`: its nibble there, high nibble of each byte first.
fn nibble(key: &Key, depth: usize) -> usize {
    let byte = key[depth / 2];
    usize::from(if depth % 2 == 0 { byte >> 4 } else { byte & 0x0f })
}

fn leaf_hash(key: &Key, account: &Account) -> Hash {
    let mut input = [0u8; 1 + 32 + 16];
    input[1..33].copy_from_slice(key);
    input[33..].copy_from_slice(&account.encode());
    Hash::digest(&input)
}

/// The hash of an inner node whose children hash to `children` (32 zero bytes for an empty one).
fn inner_hash(children: &[Hash; ARITY]) -> Hash {
    // One buffer: a state update computes tens of thousands of these.
    let mut input = [0u8; 1 + 2 + ARITY * 32];
    input[0] = 0x01;
    let mut bitmap: u16 = 0;
    let mut len = 3;
    for (i, child) in children.iter().enumerate() {
        if *child != Hash::ZERO {
            bitmap |= 1 << i;
            input[len..len + 32].copy_from_slice(child.as_bytes());
            len += 32;
        }
    }
    input[1..3].copy_from_slice(&bitmap.to_be_bytes());
    Hash::digest(&input[..len])
}

#[derive(Clone, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(Arc<Leaf>),
    Inner(Arc<Inner>),
}

// The hash comes first in both node types, next to the reference count (usually on its cache
// line), so a parent gathering its children's hashes (independent loads the CPU overlaps) has
// also fetched what a walk into those children reads first.

#[derive(Clone)]
#[repr(C)]
struct Leaf {
    hash: Hash,
    key: Key,
    account: Account,
}

#[derive(Clone)]
#[repr(C)]
struct Inner {
    hash: Hash,
    children: [Node; ARITY],
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

fn child_hashes(children: &[Node; ARITY]) -> [Hash; ARITY] {
    std::array::from_fn(|i| children[i].hash())
}

/// `updates` (sorted, distinct keys) with `leaf`'s entry added unless `updates` rewrites it:
/// the entries of the subtree that replaces a leaf.
fn merged_with_leaf(leaf: &Leaf, updates: &[Entry]) -> Vec<Entry> {
    match updates.binary_search_by(|(key, _)| cmp_bytes32(key, &leaf.key)) {
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

/// Splits sorted entries at `depth` into the 16 children's shares, by nibble: one pass that
/// counts each child's entries (most nodes an update visits get one or two, where sixteen
/// binary searches would cost more than the count).
fn split(entries: &[Entry], depth: usize) -> [&[Entry]; ARITY] {
    let mut counts = [0usize; ARITY];
    for (key, _) in entries {
        counts[nibble(key, depth)] += 1;
    }
    let mut rest = entries;
    counts.map(|count| {
        let (share, after) = rest.split_at(count);
        rest = after;
        share
    })
}

// An update runs in two passes over the same nodes in the same order. `plan_*` reads the tree
// and pushes the hash of every node the update creates or rewrites, in post-order (children in
// nibble order, then the node); `write_*` then changes the tree in place and takes those
// hashes in the same order, so nothing is hashed twice and, where the tree holds the only
// reference to a node, nothing is allocated or freed.

/// The hash of the canonical subtree holding exactly `entries` (sorted, distinct keys).
fn plan_build(depth: usize, entries: &[Entry], out: &mut Vec<Hash>) -> Hash {
    let hash = match entries {
        [] => return Hash::ZERO,
        [(key, account)] => leaf_hash(key, account),
        _ => {
            let shares = split(entries, depth);
            let empty = [Hash::ZERO; ARITY];
            inner_hash(&plan_children(entries.len(), out, empty, |i, out| {
                (!shares[i].is_empty()).then(|| plan_build(depth + 1, shares[i], out))
            }))
        }
    };
    out.push(hash);
    hash
}

/// Asks the CPU to start loading the memory of `node`: its reference counts and hash, and
/// with `whole` the rest of it too, without waiting for any of it. A hint only: it changes no
/// result, and on other CPUs it does nothing.
#[inline(always)]
fn prefetch(node: &Node, whole: bool) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (node, whole);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        let (data, size) = match node {
            Node::Empty => return,
            Node::Leaf(leaf) => (Arc::as_ptr(leaf).cast::<i8>(), std::mem::size_of::<Leaf>()),
            Node::Inner(inner) => (Arc::as_ptr(inner).cast::<i8>(), std::mem::size_of::<Inner>()),
        };
        // From the reference counts, which `Arc` keeps in the 16 bytes before the data (were
        // that to change, a line would be fetched for nothing), to the end of the hash or of
        // the node, every line the range touches wherever the allocation starts.
        let first = data.wrapping_sub(16);
        let end = if whole { size } else { std::mem::size_of::<Hash>() };
        let bytes = 16 + end + first.addr() % LINE;
        for line in 0..bytes.div_ceil(LINE) {
            // SAFETY: SSE, which `_mm_prefetch` needs, is part of every x86_64 CPU; a prefetch
            // is only a hint, which cannot fault whatever the address, and nothing is read
            // from it.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(first.wrapping_sub(first.addr() % LINE).wrapping_add(line * LINE)) };
        }
    }
}

/// Prefetches every node a walk of `updates` through `node` will read: each node on their
/// paths, and the first line of each of those nodes' children, whose hashes the walk gathers.
///
/// On a large state nearly every one of those reads misses the cache, and the walk meets them
/// one after another, each behind the node above it on the path. Here a whole level of the
/// batch's paths is requested in one loop that does not wait for any of them, so their misses
/// overlap, and the walk that follows finds its nodes in cache. [`FETCH_BATCH`] bounds a
/// batch to what the cache keeps until the walk gets there.
fn prefetch_paths(node: &Node, depth: usize, updates: &[Entry], siblings: bool) {
    prefetch(node, true);
    let mut level = vec![(node, depth, updates)];
    while !level.is_empty() {
        let mut next = Vec::with_capacity(level.len() * 2);
        for (node, depth, updates) in level {
            if let Node::Inner(inner) = node {
                for (child, share) in inner.children.iter().zip(split(updates, depth)) {
                    if !share.is_empty() {
                        prefetch(child, true);
                        next.push((child, depth + 1, share));
                    } else if siblings {
                        prefetch(child, false);
                    }
                }
            }
        }
        level = next;
    }
}

/// Calls [`prefetch_paths`] for the child getting `share` of its parent's `updates` when a
/// batch starts there: the parent gets more than [`FETCH_BATCH`] updates and the child no more.
fn prefetch_batch(child: &Node, depth: usize, share: &[Entry], updates: &[Entry], siblings: bool) {
    // Where a prefetch does nothing, the walk that finds the nodes to prefetch is waste.
    if cfg!(target_arch = "x86_64") && updates.len() > FETCH_BATCH && !share.is_empty() && share.len() <= FETCH_BATCH {
        prefetch_paths(child, depth, share, siblings);
    }
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
            let shares = split(updates, depth);
            let before = child_hashes(&inner.children);
            let hash = inner_hash(&plan_children(updates.len(), out, before, |i, out| {
                (!shares[i].is_empty()).then(|| {
                    prefetch_batch(&inner.children[i], depth + 1, shares[i], updates, true);
                    plan_update(&inner.children[i], depth + 1, shares[i], out)
                })
            }));
            out.push(hash);
            hash
        }
    }
}

/// The children's hashes after planning those `plan_child` changes (it gives `None` for a
/// child the update leaves alone, which keeps its hash in `hashes`): in parallel for large
/// updates, the new hashes landing in `out` in nibble order either way.
fn plan_children<F>(work: usize, out: &mut Vec<Hash>, mut hashes: [Hash; ARITY], plan_child: F) -> [Hash; ARITY]
where
    F: Fn(usize, &mut Vec<Hash>) -> Option<Hash> + Sync,
{
    if work < PARALLEL_THRESHOLD {
        for (i, slot) in hashes.iter_mut().enumerate() {
            if let Some(hash) = plan_child(i, out) {
                *slot = hash;
            }
        }
        return hashes;
    }
    let planned: Vec<(Option<Hash>, Vec<Hash>)> = (0..ARITY)
        .into_par_iter()
        .map(|i| {
            let mut child_out = Vec::new();
            (plan_child(i, &mut child_out), child_out)
        })
        .collect();
    for (slot, (hash, mut child_out)) in hashes.iter_mut().zip(planned) {
        if let Some(hash) = hash {
            *slot = hash;
        }
        out.append(&mut child_out);
    }
    hashes
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
            let shares = split(entries, depth);
            let children: [Node; ARITY] = std::array::from_fn(|i| write_build(depth + 1, shares[i], hashes));
            let hash = next_hash(hashes, || inner_hash(&child_hashes(&children)));
            Node::Inner(Arc::new(Inner { children, hash }))
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
            let shares = split(updates, depth);
            for (child, share) in inner.children.iter_mut().zip(shares) {
                prefetch_batch(child, depth + 1, share, updates, false);
                write_update(child, depth + 1, share, hashes);
            }
            inner.hash = next_hash(hashes, || inner_hash(&child_hashes(&inner.children)));
        }
    }
}

fn count(node: &Node) -> usize {
    match node {
        Node::Empty => 0,
        Node::Leaf(_) => 1,
        Node::Inner(inner) => inner.children.iter().map(count).sum(),
    }
}

/// Sorts by key and keeps the last entry of each key.
fn sorted_entries(accounts: impl IntoIterator<Item = (PublicKey, Account)>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = accounts.into_iter().map(|(pk, a)| (tree_key(&pk), a)).collect();
    // A stable sort keeps the input order among equal keys, so the last write of a key wins.
    sort_by_bytes32(&mut entries, |entry| &entry.0);
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
    /// new node's hash, hashing only the paths of the changed accounts (the shared upper
    /// levels once), spread over all cores. `self` is unchanged.
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
                    node = &inner.children[nibble(&key, depth)];
                    depth += 1;
                }
            }
        }
    }

    /// A proof that `public_key` holds some account, or holds none, against [`StateTree::root`].
    pub fn prove(&self, public_key: &PublicKey) -> AccountProof {
        let key = tree_key(public_key);
        let mut steps = Vec::new();
        let mut node = &self.root;
        loop {
            match node {
                Node::Empty => return AccountProof { steps, leaf: None },
                Node::Leaf(leaf) => return AccountProof { steps, leaf: Some((leaf.key, leaf.account)) },
                Node::Inner(inner) => {
                    let on_path = nibble(&key, steps.len());
                    let mut step = ProofStep { bitmap: 0, siblings: Vec::new() };
                    for (i, child) in inner.children.iter().enumerate() {
                        let hash = child.hash();
                        if hash != Hash::ZERO {
                            step.bitmap |= 1 << i;
                            if i != on_path {
                                step.siblings.push(hash);
                            }
                        }
                    }
                    steps.push(step);
                    node = &inner.children[on_path];
                }
            }
        }
    }
}

/// One inner node on a proof's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofStep {
    /// The node's non-empty children: bit `i` set for child `i`.
    pub bitmap: u16,
    /// The hashes of its non-empty children other than the one on the path, in nibble order.
    pub siblings: Vec<Hash>,
}

/// A Merkle proof for one account against a state root (format in `docs/FORMAT.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountProof {
    /// The inner nodes from the root down to the proven position.
    pub steps: Vec<ProofStep>,
    /// The leaf found at the end of the path: `None` for an empty subtree.
    pub leaf: Option<Entry>,
}

impl AccountProof {
    /// Checks the proof against `root` and returns what it proves about `public_key`:
    /// `Some(account)` if present, `None` if absent. `Err(())` if the proof does not hold.
    #[allow(clippy::result_unit_err)]
    pub fn verify(&self, root: &Hash, public_key: &PublicKey) -> Result<Option<Account>, ()> {
        let key = tree_key(public_key);
        let depth = self.steps.len();
        if depth > MAX_DEPTH {
            return Err(());
        }
        let (mut hash, proven) = match &self.leaf {
            None => (Hash::ZERO, None),
            Some((leaf_key, account)) => {
                // A different leaf proves absence only if it sits on this key's path.
                if (0..depth).any(|d| nibble(leaf_key, d) != nibble(&key, d)) {
                    return Err(());
                }
                (leaf_hash(leaf_key, account), (*leaf_key == key).then_some(*account))
            }
        };
        for (d, step) in self.steps.iter().enumerate().rev() {
            hash = step.fold(nibble(&key, d), hash)?;
        }
        if hash == *root {
            Ok(proven)
        } else {
            Err(())
        }
    }
}

impl ProofStep {
    /// The hash of this node given the hash of its child `on_path` (zero when empty); `Err` if
    /// the bitmap and the siblings do not describe such a node.
    fn fold(&self, on_path: usize, child: Hash) -> Result<Hash, ()> {
        let path_present = child != Hash::ZERO;
        if (self.bitmap >> on_path & 1 == 1) != path_present
            || self.siblings.len() + usize::from(path_present) != self.bitmap.count_ones() as usize
        {
            return Err(());
        }
        let mut siblings = self.siblings.iter();
        let mut children = [Hash::ZERO; ARITY];
        for (i, slot) in children.iter_mut().enumerate() {
            if i == on_path {
                *slot = child;
            } else if self.bitmap >> i & 1 == 1 {
                // A listed sibling is non-empty, or the recomputed bitmap would differ.
                *slot = siblings.next().copied().filter(|h| *h != Hash::ZERO).ok_or(())?;
            }
        }
        Ok(inner_hash(&children))
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
    fn a_split_gives_each_child_the_entries_of_its_nibble() {
        // The reference: a binary search per child, over sorted entries.
        fn by_search(entries: &[Entry], depth: usize) -> Vec<usize> {
            (0..ARITY).map(|i| entries.partition_point(|(key, _)| nibble(key, depth) <= i)).collect()
        }
        let key = |first: u8, second: u8| {
            let mut key = [0u8; 32];
            key[0] = first;
            key[1] = second;
            key
        };
        let cases: Vec<Vec<Entry>> = vec![
            vec![],
            vec![(key(0x00, 0), acct(1, 0))],
            (0..20).map(|i| (key(0x0f, i), acct(1, 0))).collect(),
            (0..20).map(|i| (key(0xf0, i), acct(1, 0))).collect(),
            (0..=255).map(|b| (key(b, 0), acct(1, 0))).collect(),
            [0x01, 0x02, 0x70, 0x71, 0xfe].iter().map(|&b| (key(b, 9), acct(1, 0))).collect(),
        ];
        for entries in &cases {
            // Depth 1 only where the entries share the nibble above it, as in any walk.
            let shared = entries.windows(2).all(|pair| nibble(&pair[0].0, 0) == nibble(&pair[1].0, 0));
            for depth in if shared { vec![0, 1] } else { vec![0] } {
                let shares = split(entries, depth);
                let mut end = 0;
                for (i, share) in shares.iter().enumerate() {
                    end += share.len();
                    assert_eq!(end, by_search(entries, depth)[i], "{} entries, depth {depth}", entries.len());
                    assert!(share.iter().all(|(key, _)| nibble(key, depth) == i));
                }
            }
        }
    }

    #[test]
    fn nibbles_go_high_first() {
        let mut key = [0u8; 32];
        key[0] = 0xa5;
        key[31] = 0x3c;
        assert_eq!((nibble(&key, 0), nibble(&key, 1)), (0xa, 0x5));
        assert_eq!((nibble(&key, 62), nibble(&key, 63)), (0x3, 0xc));
    }

    #[test]
    fn an_inner_hash_covers_the_bitmap_and_only_the_non_empty_children() {
        let a = Hash::digest(b"a");
        let b = Hash::digest(b"b");
        let mut children = [Hash::ZERO; ARITY];
        children[0] = a;
        children[15] = b;
        let expected = Hash::digest_parts(&[&[0x01], &[0x80, 0x01], a.as_bytes(), b.as_bytes()]);
        assert_eq!(inner_hash(&children), expected);
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
    fn two_accounts_sharing_a_first_nibble_sit_below_a_one_child_node() {
        // Find two keys whose first nibble agrees and second differs.
        let (x, y) = (0..)
            .flat_map(|i| (0..i).map(move |j| (pk(i), pk(j))))
            .find(|(x, y)| {
                let (kx, ky) = (tree_key(x), tree_key(y));
                nibble(&kx, 0) == nibble(&ky, 0) && nibble(&kx, 1) != nibble(&ky, 1)
            })
            .unwrap();
        let tree = StateTree::from_accounts([(x, acct(1, 0)), (y, acct(2, 0))]);
        let (kx, ky) = (tree_key(&x), tree_key(&y));
        let mut lower = [Hash::ZERO; ARITY];
        lower[nibble(&kx, 1)] = leaf_hash(&kx, &acct(1, 0));
        lower[nibble(&ky, 1)] = leaf_hash(&ky, &acct(2, 0));
        let mut upper = [Hash::ZERO; ARITY];
        upper[nibble(&kx, 0)] = inner_hash(&lower);
        assert_eq!(tree.root(), inner_hash(&upper));
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
        // large enough to plan the upper levels' children in parallel.
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
        for i in [300, 1000, 5000] {
            assert_eq!(tree.prove(&pk(i)).verify(&root, &pk(i)), Ok(None));
        }
        // A proof for one key does not prove another's account, and a tampered proof fails.
        assert!(!matches!(tree.prove(&pk(3)).verify(&root, &pk(4)), Ok(Some(_))));
        let mut tampered = tree.prove(&pk(5));
        tampered.leaf = Some((tree_key(&pk(5)), acct(1_000_000, 2)));
        assert!(tampered.verify(&root, &pk(5)).is_err());
    }

    #[test]
    fn a_proof_whose_bitmap_or_siblings_lie_fails() {
        let tree = StateTree::from_accounts((0..300).map(|i| (pk(i), acct(1, 0))));
        let root = tree.root();
        let proof = tree.prove(&pk(7));
        let mut dropped_sibling = proof.clone();
        dropped_sibling.steps[0].siblings.pop();
        assert!(dropped_sibling.verify(&root, &pk(7)).is_err());
        let mut path_child_hidden = proof.clone();
        let on_path = nibble(&tree_key(&pk(7)), 0);
        path_child_hidden.steps[0].bitmap &= !(1 << on_path);
        assert!(path_child_hidden.verify(&root, &pk(7)).is_err());
        let mut zero_sibling = proof.clone();
        zero_sibling.steps[0].siblings[0] = Hash::ZERO;
        assert!(zero_sibling.verify(&root, &pk(7)).is_err());
        // An absence proof cut short at a non-empty child does not pass as one.
        let mut cut = proof;
        cut.steps.truncate(1);
        cut.leaf = None;
        assert!(cut.verify(&root, &pk(7)).is_err());
    }
}
