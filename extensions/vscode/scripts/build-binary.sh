#!/usr/bin/env bash
# Cross-compiles the zato binary (pure Go, no cgo) into extensions/vscode/bin/ for a VS Code platform target.
# Usage: scripts/build-binary.sh TARGET      TARGET: linux-x64 (default), linux-arm64, darwin-x64, darwin-arm64,
#                                                     win32-x64, win32-arm64, alpine-x64, alpine-arm64
# The binary is never committed (extensions/vscode/.gitignore ignores bin/).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/../.." && pwd)
target=${1:-linux-x64}
case "$target" in
  linux-x64|alpine-x64) goos=linux goarch=amd64 ;;
  linux-arm64|alpine-arm64) goos=linux goarch=arm64 ;;
  darwin-x64) goos=darwin goarch=amd64 ;;
  darwin-arm64) goos=darwin goarch=arm64 ;;
  win32-x64) goos=windows goarch=amd64 ;;
  win32-arm64) goos=windows goarch=arm64 ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
exe=zato
[ "$goos" = windows ] && exe=zato.exe
rm -rf "$here/bin"
mkdir -p "$here/bin"
cd "$repo"
CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath -ldflags='-s -w' -o "$here/bin/$exe" ./cmd/zato
echo "built $here/bin/$exe ($goos/$goarch)"
