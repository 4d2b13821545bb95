#!/usr/bin/env bash
# Type-checks the plug-in's Kotlin sources without JetBrains' repositories, then checks the status bar wording.
#
#   extensions/pycharm/stubcheck/run.sh
#
# Needs: java/javac 17+, python3, npm (the Kotlin compiler comes from the npm package kotlin-compiler) and
# Gson (Debian: apt-get install libgoogle-gson-java, or GSON_JAR=/path/to/gson.jar).
# The IntelliJ Platform, LSP4IJ and LSP4J are replaced by stubs (gen_stubs.py): this catches Kotlin mistakes,
# not drift of the real APIs, which only the hosted CI's compile and verifyPlugin can catch.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
plugin=$(dirname "$here")
work=${STUBCHECK_DIR:-${TMPDIR:-/tmp}/zato-pycharm-stubcheck}
kotlin_version=${KOTLIN_COMPILER_VERSION:-2.4.20}
gson=${GSON_JAR:-/usr/share/java/gson.jar}

[ -f "$gson" ] || { echo "stubcheck: no Gson jar at $gson (apt-get install libgoogle-gson-java, or set GSON_JAR)" >&2; exit 2; }

kc="$work/kc/node_modules/kotlin-compiler"
if [ ! -x "$kc/bin/kotlinc-jvm" ] || ! grep -q "\"version\": \"$kotlin_version\"" "$kc/package.json"; then
  echo "stubcheck: installing kotlin-compiler@$kotlin_version from npm into $work/kc"
  npm install --prefix "$work/kc" --no-audit --no-fund --silent "kotlin-compiler@$kotlin_version"
fi
ann="$kc/lib/annotations-13.0.jar"

rm -rf "$work/stubs" "$work/out"
python3 "$here/gen_stubs.py" "$work/stubs"
mkdir -p "$work/out/java" "$work/out/kotlin" "$work/out/plugin" "$work/out/check"

javac -nowarn -d "$work/out/java" -cp "$ann" $(find "$work/stubs/java" -name '*.java')
kotlinc() { "$kc/bin/kotlinc-jvm" -jvm-target 17 -language-version 2.0 -api-version 2.0 -nowarn "$@"; }
kotlinc -cp "$work/out/java:$ann" -d "$work/out/kotlin" "$work"/stubs/kotlin/*.kt
cp="$work/out/java:$work/out/kotlin:$ann:$gson"
echo "stubcheck: compiling $(find "$plugin/src/main/kotlin" -name '*.kt' | wc -l) plug-in sources against the stubs"
kotlinc -cp "$cp" -d "$work/out/plugin" $(find "$plugin/src/main/kotlin" -name '*.kt')
kotlinc -cp "$work/out/plugin:$cp" -d "$work/out/check" "$here/WordingCheck.kt"
java -cp "$work/out/check:$work/out/plugin:$cp:$kc/lib/kotlin-stdlib.jar" WordingCheckKt
echo "stubcheck: OK"
