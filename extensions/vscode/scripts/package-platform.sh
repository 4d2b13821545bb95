#!/usr/bin/env bash
# Builds a platform package: the extension plus the zato binary cross-compiled for TARGET.
# Usage: scripts/package-platform.sh [TARGET]   (default linux-x64) -> dist/zato-TARGET.vsix
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
target=${1:-linux-x64}
cd "$here"
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/build-binary.sh "$target"
# bin/ must not leak into the universal package built later: remove it whatever happens.
trap 'rm -rf "$here/bin"' EXIT
mkdir -p dist
npx vsce package --skip-license --no-dependencies --target "$target" -o "dist/zato-$target.vsix"
