#!/usr/bin/env bash
# Measures the README's first steps: from `git clone` to the first answered
# invoke, with the Go build cache as it is (warm), or with an empty one
# (cold: GOCACHE=$(mktemp -d); the module cache stays, as after `go mod
# download`). Usage: test/readme/firsthour.sh [REPO] [cold]
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'kill $dev 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
if [ "${2:-}" = cold ]; then export GOCACHE="$work/gocache"; fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api=127.0.0.1:$(port) http=127.0.0.1:$(port)
start=$(date +%s.%N)
git clone -q "$repo" "$work/nimbus"
cd "$work/nimbus"
: > "$work/dev.log"
go run ./cmd/nimbus dev examples/hello --addr "$api" --http-addr "$http" > "$work/dev.log" 2>&1 &
dev=$!
until grep -q '^Watching ' "$work/dev.log"; do
  kill -0 $dev 2>/dev/null || { cat "$work/dev.log"; exit 1; }
  sleep 0.1
done
ready=$(date +%s.%N)
NIMBUS_ENDPOINT=http://$api go run ./cmd/nimbus invoke hello-dev-hello -d '{"name":"you"}' > "$work/out.json"
done_=$(date +%s.%N)
grep -q 'Hello, you' "$work/out.json"
printf 'clone to platform up and example deployed: %.1fs\nclone to first answered invoke: %.1fs\n' \
  "$(echo "$ready - $start" | bc)" "$(echo "$done_ - $start" | bc)"
