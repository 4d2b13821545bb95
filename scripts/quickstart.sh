#!/usr/bin/env bash
# The quickstart's environment: create it, or reuse the one there, never remove it.
#
#   ZATO=bin/zato QS_DIR=quickstart-env BASE_PORT=17010 bash scripts/quickstart.sh
#
# First run: create a 2-server environment on SQLite in QS_DIR, start it, deploy examples/ and show both
# confirmations. Later runs reuse that environment as it is (its password, zato_extra_paths, service-sources, pickup
# files, ODB history): servers that are stopped are started, examples the environment has never had are deployed,
# and an example the environment serves in another version is left alone (we say how to deploy it). A QS_DIR that
# is not a healthy environment is left alone too, with how to recreate it.
set -euo pipefail
: "${ZATO:?ZATO (the zato binary) is not set}" "${QS_DIR:?QS_DIR is not set}"
BASE_PORT=${BASE_PORT:-17010}
EXAMPLES=(examples/crm_channel_customer.py examples/billing_invoice.py)
client="$QS_DIR/zato-client.yaml"
export ZATO_CONFIG="$client"
recreate="$ZATO stop $QS_DIR && rm -rf $QS_DIR"

refuse() {
  echo >&2
  echo "quickstart: $*" >&2
  echo "quickstart: $QS_DIR is left as it is. To start afresh (this deletes its modules, history and password):" >&2
  echo "  $recreate && go tool task quickstart" >&2
  exit 1
}

server_dirs() { for d in "$QS_DIR"/*/; do [ -f "$d/config/repo/server.conf" ] && echo "${d%/}"; done; return 0; }

if [ ! -e "$QS_DIR" ]; then
  echo "== Creating a 2-server environment on SQLite in $QS_DIR"
  "$ZATO" quickstart create "$QS_DIR" --servers 2 --base-port "$BASE_PORT"
  echo "== Starting its servers (each answers once it is live)"
  "$ZATO" start "$QS_DIR"
  echo "== Deploying examples/ to every server"
  "$ZATO" deploy "${EXAMPLES[@]}"
else
  [ -f "$client" ] && [ -n "$(server_dirs)" ] ||
    refuse "$QS_DIR exists but is not a zato environment (no zato-client.yaml or no server directories)."
  reused=1
  echo "== Reusing the environment in $QS_DIR (its modules, password, zato_extra_paths and pickup files are kept)"
  for d in $(server_dirs); do
    # zato start says "already running" of a server that runs, and tells a stale pid file from a live server.
    if ! "$ZATO" start "$d"; then
      refuse "$(basename "$d") does not start (its log: $d/logs/server.log)."
    fi
  done
  if ! status=$("$ZATO" status --json 2>&1); then
    refuse "its servers are up, but zato status fails: $status"
  fi
  # Examples the environment has never had are deployed; the others are left as the user has them.
  todo=()
  states=$(python3 -c '
import hashlib, json, os, sys
mods = {m.get("name"): m for m in (json.loads(sys.stdin.read()).get("modules") or [])}
for f in sys.argv[1:]:
    m = mods.get(os.path.basename(f))
    if m is None:
        print("new", f)
    elif m.get("deployed") and m.get("sha256") == hashlib.sha256(open(f, "rb").read()).hexdigest():
        print("same", f, m.get("version"))
    else:
        print("other", f, m.get("version"), "deployed" if m.get("deployed") else "undeployed")
' "${EXAMPLES[@]}" <<<"$status") || refuse "zato status --json answered what this script cannot read: $status"
  while read -r state f ver how; do
    name=$(basename "$f")
    case $state in
    new) todo+=("$f") ;;
    same) echo "$name: version $ver is $f already" ;;
    *) echo "$name: left as it is ($how, version $ver, not $f); to deploy the example: $ZATO deploy $f" ;;
    esac
  done <<<"$states"
  if [ ${#todo[@]} -gt 0 ]; then
    echo "== Deploying ${todo[*]} to every server"
    "$ZATO" deploy "${todo[@]}"
  fi
fi
echo "== Invoking a service on server2"
if ! "$ZATO" invoke crm-channel-customer.get-customer --data '{"customer_id": 7}' --server server2; then
  [ -z "${reused:-}" ] && exit 1
  echo "(crm-channel-customer.get-customer did not answer as the example does: see zato status below)"
fi
echo "== Status"
"$ZATO" status
echo
echo "Servers keep running. Stop them with: $ZATO stop $QS_DIR"
echo "Client config: $client (export ZATO_CONFIG=$client)"
