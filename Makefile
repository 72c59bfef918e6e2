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

# Micro-benchmarks, then the network benchmark: four release-built validators on loopback under a
# sweep of offered load (tally-load), written to docs/bench/ (JSON and the latency plot); then
# tally-bench-report writes the tables and the ceiling of the same run into docs/BENCHMARKS.md,
# with these very commands (the target directory shown as $CARGO_TARGET_DIR).
APPLY_COMMIT_JSON = $(CARGO_TARGET_DIR)/apply_commit.jsonl
BENCH_CRYPTO = $(CARGO) bench -p tally-ledger --bench crypto
BENCH_GOSSIP = $(CARGO) bench -p tally-p2p --bench gossip
BENCH_APPLY_1M = TALLY_BENCH_JSON=$(APPLY_COMMIT_JSON) $(CARGO) bench -p tally-ledger --bench apply_commit
BENCH_APPLY_60K = TALLY_BENCH_JSON=$(APPLY_COMMIT_JSON) TALLY_BENCH_ACCOUNTS=60000 TALLY_BENCH_THREADS=1 \
	$(CARGO) bench -p tally-ledger --bench apply_commit
BENCH_BUILD = $(CARGO) build --release -p tally-node -p tally-tests --bin tally-node --bin tally-load \
	--bin tally-bench-report
BENCH_LOAD = $(CARGO_TARGET_DIR)/release/tally-load --spawn 4 --accounts 4000 \
	--sweep 500,1000,2000,4000,6000,7000,8000,10000,12000 \
	--set consensus.timeout_propose_ms=3000 --set consensus.timeout_prevote_ms=1000 \
	--set consensus.timeout_precommit_ms=1000 --set consensus.timeout_delta_ms=500 \
	--set consensus.empty_block_interval_ms=1000 \
	--duration 30 --json docs/bench/network.json --plot docs/bench/latency.svg
BENCH_REPORT = $(CARGO_TARGET_DIR)/release/tally-bench-report --criterion $(CARGO_TARGET_DIR)/criterion \
	--apply-commit $(APPLY_COMMIT_JSON) --network docs/bench/network.json --doc docs/BENCHMARKS.md
# A command as the document shows it: single-quoted, the target directory left to the reader's shell.
shown = '$(subst $(CARGO_TARGET_DIR),$$CARGO_TARGET_DIR,$(1))'

bench: setup
	$(BENCH_CRYPTO)
	$(BENCH_GOSSIP)
	rm -f $(APPLY_COMMIT_JSON)
	$(BENCH_APPLY_1M)
	$(BENCH_APPLY_60K)
	$(BENCH_BUILD)
	mkdir -p docs/bench
	$(BENCH_LOAD)
	$(BENCH_REPORT) --command 'export CARGO_TARGET_DIR=$${CARGO_TARGET_DIR:-$$HOME/.cache/tally-target}' \
		--command $(call shown,$(BENCH_CRYPTO)) --command $(call shown,$(BENCH_GOSSIP)) \
		--command $(call shown,rm -f $(APPLY_COMMIT_JSON)) \
		--command $(call shown,$(BENCH_APPLY_1M)) --command $(call shown,$(BENCH_APPLY_60K)) \
		--command $(call shown,$(BENCH_BUILD)) --command 'mkdir -p docs/bench' \
		--command $(call shown,$(BENCH_LOAD)) --command $(call shown,$(BENCH_REPORT))
