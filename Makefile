# Tally: `make devnet` runs a local four-validator network, `make test` runs every check CI runs.
# Builds go to one target directory outside the checkout, so clones share compiled RocksDB.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tally-target
CARGO ?= cargo

.PHONY: setup devnet test lint unit bench

setup:
	@scripts/setup.sh

devnet: setup
	$(CARGO) build --release -p tally-node -p tally-wallet
	$(CARGO_TARGET_DIR)/release/tally-node devnet

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
