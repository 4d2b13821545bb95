package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeZato is a zato stand-in for scripts/quickstart.sh's logic: it records its calls, keeps "running" servers as
// pidfiles holding the test's own pid (alive for as long as the test), and answers status --json from what it was
// asked to deploy. `start` of a running server says so and succeeds, as zato start does.
const fakeZato = `#!/usr/bin/env bash
set -eu
env_dir() { if [ -n "${ZATO_CONFIG:-}" ]; then dirname "$ZATO_CONFIG"; else echo "$1"; fi; }
case $1 in
quickstart)
  d=$3; mkdir -p "$d/server1/config/repo" "$d/server2/config/repo" "$d/mods"
  touch "$d/server1/config/repo/server.conf" "$d/server2/config/repo/server.conf"
  echo "password: $RANDOM$RANDOM" > "$d/zato-client.yaml"
  echo "create $*" >> "$d/calls" ;;
start)
  if [ -f "$2/config/repo/server.conf" ]; then dirs=$2; top=$(dirname "$2"); else dirs="$2/server1 $2/server2"; top=$2; fi
  echo "start $(basename "$2")" >> "$top/calls"
  for s in $dirs; do
    if [ -f "$s/pidfile" ]; then echo "$(basename "$s") is already running (pid $(cat "$s/pidfile"))"; continue; fi
    [ -e "$s/broken" ] && { echo "$s: exited before it was ready" >&2; exit 1; }
    echo "$FAKE_PID" > "$s/pidfile"; echo "$(basename "$s") started"
  done ;;
stop) rm -f "$2"/server*/pidfile ;;
deploy)
  d=$(env_dir); shift
  for f in "$@"; do cp "$f" "$d/mods/"; echo "deploy $(basename "$f")" >> "$d/calls"; echo "$(basename "$f") deployed 2/2"; done ;;
status)
  d=$(env_dir)
  if [ "${2:-}" = --json ]; then
    python3 -c '
import hashlib, json, os, sys
d = sys.argv[1]
mods = [{"name": n, "version": 1, "deployed": True,
         "sha256": hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()} for n in sorted(os.listdir(d))]
print(json.dumps({"servers": [], "modules": mods}))' "$d/mods"
  else echo "SERVER STATE"; fi ;;
invoke) echo '{"customer_id": 7}' ;;
*) echo "fake zato: $*" >&2; exit 2 ;;
esac
`

type qsFixture struct {
	t          *testing.T
	root, zato string
	dir        string // QS_DIR
}

func newQS(t *testing.T) *qsFixture {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	zato := filepath.Join(tmp, "zato")
	if err := os.WriteFile(zato, []byte(fakeZato), 0o755); err != nil {
		t.Fatal(err)
	}
	return &qsFixture{t: t, root: root, zato: zato, dir: filepath.Join(tmp, "qs")}
}

// run runs scripts/quickstart.sh and returns its exit code and output.
func (f *qsFixture) run() (int, string) {
	f.t.Helper()
	cmd := exec.Command("bash", "scripts/quickstart.sh")
	cmd.Dir = f.root
	cmd.Env = append(os.Environ(), "ZATO="+f.zato, "QS_DIR="+f.dir, "BASE_PORT=27031", "FAKE_PID="+strconv.Itoa(os.Getpid()))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	return code, out.String()
}

func (f *qsFixture) calls() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "calls"))
	return string(b)
}

func (f *qsFixture) read(rel string) string {
	b, err := os.ReadFile(filepath.Join(f.dir, rel))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// A second quickstart reuses the environment: same password, the user's files kept, a stopped server started (and
// only that one), examples already there not deployed again, an example the user replaced left alone.
func TestQuickstartScriptReusesEnvironment(t *testing.T) {
	f := newQS(t)
	code, out := f.run()
	if code != 0 || !strings.Contains(out, "== Creating") || f.calls() != "create quickstart create "+f.dir+
		" --servers 2 --base-port 27031\nstart qs\ndeploy crm_channel_customer.py\ndeploy billing_invoice.py\n" {
		t.Fatalf("first run %d:\n%s\ncalls:\n%s", code, out, f.calls())
	}
	password := f.read("zato-client.yaml")
	extra := filepath.Join(f.dir, "server1", "zato_extra_paths", "acme.py")
	os.MkdirAll(filepath.Dir(extra), 0o755)
	os.WriteFile(extra, []byte("x = 1\n"), 0o644)
	os.Remove(filepath.Join(f.dir, "server2", "pidfile"))                                             // server2 stopped
	os.WriteFile(filepath.Join(f.dir, "mods", "billing_invoice.py"), []byte("# the user's\n"), 0o644) // replaced
	os.WriteFile(filepath.Join(f.dir, "calls"), nil, 0o644)

	code, out = f.run()
	if code != 0 {
		t.Fatalf("second run %d:\n%s", code, out)
	}
	if got := f.read("zato-client.yaml"); got != password {
		t.Fatalf("password changed: %q -> %q", password, got)
	}
	if f.read("server1/zato_extra_paths/acme.py") != "x = 1\n" {
		t.Fatal("zato_extra_paths lost")
	}
	if f.calls() != "start server1\nstart server2\n" { // no create, no deploy; zato start says server1 runs already
		t.Fatalf("calls of the second run:\n%s\noutput:\n%s", f.calls(), out)
	}
	for _, want := range []string{"Reusing the environment", "server1 is already running (pid ",
		"crm_channel_customer.py: version 1 is examples/crm_channel_customer.py already",
		"billing_invoice.py: left as it is (deployed, version 1, not examples/billing_invoice.py); to deploy the example: " + f.zato + " deploy examples/billing_invoice.py"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run's output lacks %q:\n%s", want, out)
		}
	}
	// An example the environment has never had is deployed.
	os.Remove(filepath.Join(f.dir, "mods", "crm_channel_customer.py"))
	os.WriteFile(filepath.Join(f.dir, "calls"), nil, 0o644)
	if code, out = f.run(); code != 0 || f.calls() != "start server1\nstart server2\ndeploy crm_channel_customer.py\n" {
		t.Fatalf("third run %d, calls %q:\n%s", code, f.calls(), out)
	}
}

// What is not a healthy environment is refused and left as it is, with how to recreate it.
func TestQuickstartScriptRefuses(t *testing.T) {
	f := newQS(t)
	os.MkdirAll(f.dir, 0o755)
	os.WriteFile(filepath.Join(f.dir, "notes.txt"), []byte("mine"), 0o644)
	code, out := f.run()
	recreate := f.zato + " stop " + f.dir + " && rm -rf " + f.dir
	if code == 0 || !strings.Contains(out, "exists but is not a zato environment") || !strings.Contains(out, recreate) ||
		f.read("notes.txt") != "mine" {
		t.Fatalf("a directory that is no environment: %d\n%s", code, out)
	}

	f = newQS(t)
	if code, out = f.run(); code != 0 {
		t.Fatalf("%d\n%s", code, out)
	}
	os.Remove(filepath.Join(f.dir, "server1", "pidfile"))
	os.WriteFile(filepath.Join(f.dir, "server1", "broken"), nil, 0o644)
	code, out = f.run()
	if code == 0 || !strings.Contains(out, "server1 does not start (its log: "+f.dir+"/server1/logs/server.log)") ||
		!strings.Contains(out, f.zato+" stop "+f.dir+" && rm -rf "+f.dir) {
		t.Fatalf("a server that does not start: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "zato-client.yaml")); err != nil {
		t.Fatal("the environment was removed")
	}
}

// The runner's quickstart, twice, with the real zato: the second run keeps the environment (password, the user's
// files) and starts the server that was stopped.
func TestQuickstartTwiceRealServers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin, qs := filepath.Join(tmp, "zato"), filepath.Join(tmp, "qs")
	t.Setenv("ZATO_PARENT_PID", strconv.Itoa(os.Getpid())) // no server outlives the test
	t.Cleanup(func() { exec.Command(bin, "stop", qs).Run() })
	args := []string{"quickstart", "BIN=" + bin, "QS_DIR=" + qs, "BASE_PORT=27040"}

	code, out, errOut := runMain(t, root, args...)
	if code != 0 || !strings.Contains(out, "deployed") {
		t.Fatalf("first quickstart %d:\n%s\n%s", code, out, errOut)
	}
	client, err := os.ReadFile(filepath.Join(qs, "zato-client.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(qs, "server1", "zato_extra_paths", "acme.py")
	if err := os.WriteFile(mine, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bin, "stop", filepath.Join(qs, "server2")).CombinedOutput(); err != nil {
		t.Fatalf("stop server2: %v %s", err, b)
	}

	code, out, errOut = runMain(t, root, args...)
	if code != 0 {
		t.Fatalf("second quickstart %d:\n%s\n%s", code, out, errOut)
	}
	if again, _ := os.ReadFile(filepath.Join(qs, "zato-client.yaml")); !bytes.Equal(again, client) {
		t.Fatal("zato-client.yaml (the password) changed")
	}
	if b, _ := os.ReadFile(mine); string(b) != "x = 1\n" {
		t.Fatal("a file in zato_extra_paths was lost")
	}
	for _, want := range []string{"Reusing the environment", "server1 is already running (pid ", "server2 started",
		"crm_channel_customer.py: version 1 is examples/crm_channel_customer.py already"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run's output lacks %q:\n%s", want, out)
		}
	}
}
