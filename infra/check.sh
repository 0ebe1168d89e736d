#!/usr/bin/env bash
# Every check Sluice lands with: formatting, lints, the dependency rule of sluice-core, the SAM
# template, every test (the AWS ones against moto server), and the Lambda builds. `.ci/run` calls
# exactly this, so a fresh machine that follows the README runs what CI runs.
#
# Python tools (moto, cfn-lint, SAM CLI, cargo-lambda, zig) are installed, pinned by
# infra/requirements.txt, into .venv on first use; moto is started on a free loopback port and
# stopped on exit. Set SLUICE_CHECK_SKIP_LAMBDA=1 to skip the release Lambda builds locally.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
rustc --version

step "Python tools (.venv, pinned by infra/requirements.txt)"
python=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(sha256sum infra/requirements.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r infra/requirements.txt
  echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
.venv/bin/python -m pip freeze | grep -iE '^(moto|cfn-lint|aws-sam-cli|cargo-lambda|ziglang)=' || true

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

step "only sluice-aws and the functions name AWS SDK crates"
for crate in sluice-app sluice-http sluice-local; do
  if cargo tree -p "$crate" -e normal --prefix none --format '{p}' --locked | grep -qE '^aws-sdk-'; then
    echo "$crate depends on an AWS SDK crate" >&2
    exit 1
  fi
done
echo ok

step "SAM template (cfn-lint, sam validate --lint)"
cfn-lint template.yaml
AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  SAM_CLI_TELEMETRY=0 sam validate --lint --template template.yaml --region us-east-1

step "moto server (S3, SQS, DynamoDB on 127.0.0.1)"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp)
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT
for _ in $(seq 1 100); do
  if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    cat "$moto_log" >&2
    echo "moto server did not start" >&2
    exit 1
  fi
  sleep 0.2
done
export SLUICE_MOTO_URL="http://127.0.0.1:$port"
echo "moto at $SLUICE_MOTO_URL"

step "tests (cargo nextest, or cargo test where nextest is missing)"
cargo build --bin sluice --locked
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests.
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi

if [[ ${SLUICE_CHECK_SKIP_LAMBDA:-} != 1 ]]; then
  step "Lambda builds (cargo lambda build --release, zig from .venv)"
  cargo lambda build --release --locked -p api -p splitter -p chunk-worker -p deliverer
  step "each bootstrap needs at most GLIBC 2.34 (Amazon Linux 2023)"
  for bootstrap in target/lambda/{api,splitter,chunk-worker,deliverer}/bootstrap; do
    newest=$(objdump -T "$bootstrap" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)*' | sed 's/GLIBC_//' | sort -V | tail -1)
    printf '%-40s GLIBC %s\n' "$bootstrap" "$newest"
    if [[ $(printf '%s\n2.34\n' "$newest" | sort -V | tail -1) != "2.34" ]]; then
      echo "$bootstrap needs GLIBC $newest, newer than 2.34" >&2
      exit 1
    fi
  done
fi

step "all checks passed"
