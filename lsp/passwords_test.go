package lsp

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestStoredPasswordsAreScopedAndNeverOverrideTheConfig: a password an editor keeps in its secret storage (VS Code's
// "Zato: Set Password") reaches the language server as storedPasswords, each for a server URL and user. It is used
// only by a target with that URL and user, and only when the configuration gives that target no password of its
// own: a .zato.yaml's password always wins, and a password stored for one project's server is never sent to
// another's. zato/targets tells the editor which targets there are and where each one's password comes from.
func TestStoredPasswordsAreScopedAndNeverOverrideTheConfig(t *testing.T) {
	a := newFakeAPI(t, "right-a")
	b := newFakeAPI(t, "right-b")
	stored := map[string]any{"storedPasswords": []any{
		map[string]any{"url": a.URL + "/", "username": "admin", "password": "right-a"},
		map[string]any{"url": a.URL, "username": "someone-else", "password": "not-for-admin"},
	}}

	test := func(t *testing.T, api *fakeAPI, yaml, wantSent, wantFrom string) {
		t.Helper()
		dir := t.TempDir()
		writeYAML(t, dir, yaml)
		e := newSession(t, fixture{settings: stored})
		e.initialize(dir, nil)
		var targets struct {
			Targets []struct{ Name, Folder, URL, Username, Password string }
		}
		if err := e.call("zato/targets", map[string]any{}, &targets); err != nil {
			t.Fatal(err)
		}
		if len(targets.Targets) != 1 || targets.Targets[0].Name != "default" || targets.Targets[0].URL != api.URL ||
			targets.Targets[0].Username != "admin" || targets.Targets[0].Password != wantFrom || targets.Targets[0].Folder != dir {
			t.Fatalf("zato/targets: %+v", targets)
		}
		before := len(api.sent())
		var res connectionResult
		if err := e.command(cmdTestConnection, nil, &res); err != nil {
			t.Fatal(err)
		}
		sent := api.sent()[before:]
		if len(sent) == 0 || slices.ContainsFunc(sent, func(p string) bool { return p != wantSent }) {
			t.Fatalf("the server got the passwords %q, want only %q (%+v)", sent, wantSent, res)
		}
	}

	t.Run("ConfigFileWins", func(t *testing.T) {
		// Project A's .zato.yaml gives its password: the stored one (even for the same server and user) is not used.
		a.setPassword("from-the-file")
		defer a.setPassword("right-a")
		test(t, a, fmt.Sprintf("url: %s\nusername: admin\npassword: from-the-file\n", a.URL), "from-the-file", "configured")
	})
	t.Run("StoredForThisServer", func(t *testing.T) {
		// No password in the file: the one stored for this URL and user is used.
		test(t, a, fmt.Sprintf("url: %s\nusername: admin\n", a.URL), "right-a", "stored")
	})
	t.Run("NotSentToAnotherServer", func(t *testing.T) {
		// Project B's server never gets project A's password; with none for B, nothing is sent at all.
		dir := t.TempDir()
		writeYAML(t, dir, fmt.Sprintf("url: %s\nusername: admin\n", b.URL))
		e := newSession(t, fixture{settings: stored})
		e.initialize(dir, nil)
		var res connectionResult
		if err := e.command(cmdTestConnection, nil, &res); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(b.sent(), "right-a") {
			t.Fatalf("project A's password was sent to project B's server: %q", b.sent())
		}
		if res.OK || !strings.Contains(res.Message, "no password for target default") {
			t.Fatalf("test connection without a password: %+v", res)
		}
	})
}
