#!/usr/bin/env bash
# Installs a real VS Code for the end-to-end test: code-server 4.100.3 (VS Code 1.100) from the npm registry, with
# no access to GitHub: its postinstall (which downloads ripgrep from GitHub) is skipped, the native modules are
# rebuilt locally and ripgrep comes from Debian.
#
# Usage: scripts/install-code-server.sh [DEST]
#   DEST defaults to $ZATO_CODE_SERVER_DIR, else <repo>/.tools/code-server (git-ignored).
#   Prints nothing but a line when DEST already holds this version. Then: node DEST/node_modules/code-server/out/node/entry.js
# Needs Node.js 20 and npm (code-server 4.100.x requires Node 20) and root for apt-get when build tools are missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
dest=${1:-${ZATO_CODE_SERVER_DIR:-$repo/.tools/code-server}}
version=${CODE_SERVER_VERSION:-4.100.3}
entry="$dest/node_modules/code-server/out/node/entry.js"

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != 20 ]; then
  echo "code-server $version needs Node.js 20 (found $(node --version))" >&2
  exit 1
fi

mkdir -p "$dest"
# One installer at a time per DEST (two test runs may start together).
exec 9>"$dest/.install.lock"
flock 9

if [ -f "$entry" ] && [ -f "$dest/.installed-$version" ]; then
  echo "code-server $version already in $dest"
  exit 0
fi

need=()
for p in libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config ripgrep build-essential python3; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages ${need[*]}: install them (as root: apt-get install ${need[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "installing code-server $version into $dest (a few minutes the first time)"
rm -f "$dest"/.installed-*
cd "$dest"
[ -f package.json ] || echo '{"private":true}' > package.json
export npm_config_yes=true npm_config_audit=false npm_config_fund=false
# 1. the package itself, without its postinstall (which would download ripgrep from GitHub)
npm install --no-audit --no-fund --ignore-scripts "code-server@$version" >/dev/null
npm rebuild argon2 >/dev/null
# 2. VS Code's own dependencies, then its native modules rebuilt from source
cd node_modules/code-server/lib/vscode
npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null
npm rebuild kerberos node-pty @parcel/watcher native-watchdog @vscode/spdlog @vscode/deviceid >/dev/null
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
ln -sfn node_modules node_modules.asar
(cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
node "$entry" --version >/dev/null
touch "$dest/.installed-$version"
echo "code-server $version installed: node $entry"
