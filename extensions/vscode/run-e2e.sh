#!/usr/bin/env bash
# End-to-end test of the VS Code extension in a real VS Code (code-server 4.100.3) driven by Debian's Chromium,
# against a real 2-server cluster. Installs what it needs (Chromium, code-server, npm packages), builds the zato
# binary and the linux platform .vsix that carries it, runs the unit tests, then e2e/vscode.e2e.mjs.
# Screenshots and logs: <repo>/test-artifacts/vscode/ (or $ZATO_ARTIFACTS).
# Usage (from anywhere): bash extensions/vscode/run-e2e.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$here"

echo "== vscode e2e: tools"
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" != 0 ]; then echo "Chromium is missing: apt-get install chromium (as root)" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
command -v go >/dev/null || { echo "go is needed to build zato" >&2; exit 1; }
bash scripts/install-code-server.sh
code_server_dir=${ZATO_CODE_SERVER_DIR:-$repo/.tools/code-server}
# npm ci only when the lock file changed since the last install (it wipes node_modules).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "== vscode unit tests (typecheck, vitest)"
npm test --silent

case "$(uname -m)" in
  x86_64) target=linux-x64 ;;
  aarch64|arm64) target=linux-arm64 ;;
  *) echo "no VS Code platform target for $(uname -m)" >&2; exit 1 ;;
esac

echo "== vscode e2e: build zato and the $target .vsix"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && go build -o "$tmp/zato" ./cmd/zato)
bash scripts/package-platform.sh "$target"

echo "== vscode e2e: run"
ZATO_BIN="$tmp/zato" \
ZATO_VSIX="$here/dist/zato-$target.vsix" \
CODE_SERVER="$code_server_dir/node_modules/code-server/out/node/entry.js" \
ZATO_ARTIFACTS="${ZATO_ARTIFACTS:-$repo/test-artifacts/vscode}" \
  node e2e/vscode.e2e.mjs
