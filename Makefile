# Tally: `make devnet` runs a local four-validator network, `make test` runs every check CI runs.
# Builds go to one target directory outside the checkout, so clones share compiled RocksDB.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tally-target
CARGO ?= cargo

.PHONY: setup devnet test lint unit bench

setup:
	@scripts/setup.sh

# The dev profile (dependencies optimised) is the one `make test` builds, so this starts at once
# after the tests; a release build is `cargo build --release` away.
devnet: setup
	$(CARGO) build -p tally-node -p tally-wallet
	$(CARGO_TARGET_DIR)/debug/tally-node devnet

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: setup
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

test: lint unit

bench: setup
	$(CARGO) bench -p tally-ledger --bench crypto
	$(CARGO) bench -p tally-ledger --bench apply_commit
