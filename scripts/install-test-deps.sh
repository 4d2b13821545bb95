#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, from Debian's packages and npm only. Idempotent.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The PyCharm plug-in's stub check: a JDK (javac) and Gson; the Kotlin compiler comes from npm.
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
[ -f /usr/share/java/gson.jar ] || need+=(libgoogle-gson-java)
if [ ${#need[@]} -eq 0 ]; then
  echo "Test tools present: python3, Chromium, PostgreSQL, a JDK, Gson"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "missing ${need[*]}: install them (as root: apt-get install ${need[*]})" >&2; exit 1; fi
start=$SECONDS
echo "Installing the test tools from Debian: ${need[*]} (a few minutes on a fresh machine)"
echo "  apt-get update"
apt-get update -qq
echo "  apt-get install ${need[*]} (with what they depend on)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
echo "Installed ${need[*]} in $((SECONDS - start)) s"
