package webadmin

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
)

// deploy uploads one module and waits until every server has answered.
func (e *env) deploy(t *testing.T, c *http.Client, token, name, src string) {
	t.Helper()
	st, out := e.upload(t, c, map[string]string{name: src}, token)
	if st != http.StatusAccepted || len(out.Deployments) != 1 {
		t.Fatalf("upload %s: %d %+v", name, st, out)
	}
	e.events(t, c, out.Deployments[0].ID)
}

func mustContain(t *testing.T, what, page string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func mustNotContain(t *testing.T, what, page string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(page, n) {
			t.Errorf("%s has %q", what, n)
		}
	}
}

var timeElem = regexp.MustCompile(`<time datetime="([^"]*)"[^>]*>([^<]*)</time>`)

// Every time on every page says which zone it is in (UTC, the one every server of a cluster agrees on).
func TestTimesCarryTheirZone(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	e.deploy(t, c, token, "timed.py", "x = 1\n")
	e.deploy(t, c, token, "timed.py", "x = 2\n")
	zoned := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`)
	for _, p := range []string{"/admin/", "/admin/deployments", "/admin/deployments/1", "/admin/modules", "/admin/modules/timed.py"} {
		resp, page := e.get(t, c, p)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
		times := timeElem.FindAllStringSubmatch(page, -1)
		if len(times) == 0 {
			t.Errorf("GET %s: no <time>", p)
		}
		for _, m := range times {
			if m[1] == "" || !strings.HasSuffix(m[1], "Z") || !zoned.MatchString(m[2]) {
				t.Errorf("GET %s: <time datetime=%q>%s</time>, want an ISO UTC datetime and \"YYYY-MM-DD hh:mm:ss UTC\"", p, m[1], m[2])
			}
		}
	}
}

// A filter that matches nothing says so, on each page that has one.
func TestFilterThatMatchesNothingSaysSo(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	e.deploy(t, c, token, "crm_channel.py", "x = 1\n")

	_, page := e.get(t, c, "/admin/deployments?module=nope")
	mustContain(t, "deployments filtered by nope", page, "No deployments match nope.")
	mustNotContain(t, "deployments filtered by nope", page, `<table class="deployments"`, "No deployments yet.")
	// The filter is a part of the name, as a first-time user types it.
	_, page = e.get(t, c, "/admin/deployments?module=crm")
	mustContain(t, "deployments filtered by crm", page, `<table class="deployments"`, "crm_channel.py")
	_, page = e.get(t, c, "/admin/deployments?module=CRM_channel.py")
	mustContain(t, "deployments filtered by CRM_channel.py", page, "crm_channel.py")
	// The filter comes back escaped.
	_, page = e.get(t, c, "/admin/deployments?module=%3Cb%3Ex")
	mustContain(t, "deployments filtered by <b>x", page, "No deployments match &lt;b&gt;x.")
	mustNotContain(t, "deployments filtered by <b>x", page, "<b>x")

	_, page = e.get(t, c, "/admin/modules?q=zzz")
	mustContain(t, "modules filtered by zzz", page, "No modules match zzz.")
	mustNotContain(t, "modules filtered by zzz", page, `<table class="modules"`)
	_, page = e.get(t, c, "/admin/modules?q=crm")
	mustContain(t, "modules filtered by crm", page, `data-module="crm_channel.py"`)

	_, page = e.get(t, c, "/admin/services?q=zzz")
	mustContain(t, "services filtered by zzz", page, "No services match zzz.")
	mustNotContain(t, "services filtered by zzz", page, `<table class="services"`)
	_, page = e.get(t, c, "/admin/services?q=crm")
	mustContain(t, "services filtered by crm", page, `<tr data-service="crm_channel.echo"`)
}

// With no service anywhere there is nothing to invoke: the page says so and where to deploy one.
func TestEmptyServicesPageHasNoInvokeForm(t *testing.T) {
	e := start(t)
	c := e.client(t)
	e.login(t, c)
	_, page := e.get(t, c, "/admin/services")
	mustNotContain(t, "the empty services page", page, `id="invoke-form"`, "<select", "Choose a service")
	mustContain(t, "the empty services page", page, "No service is deployed on server1 yet", `<a href="/admin/">upload a module</a>`)
}

// A module that service-sources.txt loaded has a page: its entry, each server's status and message, its services.
func TestServiceSourcesModulePage(t *testing.T) {
	e := start(t)
	c := e.client(t)
	e.login(t, c)
	ctx := context.Background()
	if err := e.store.SetSourceResults(ctx, "server1", []odb.SourceResult{
		{Entry: "./extra/billing_jobs.py", Status: "ok", Services: []string{"billing-jobs.run"}},
		{Entry: "acme_services", Status: "ok", Services: []string{"acme-services.quote"}},
		{Entry: "/opt/missing-dir", Status: "failed", Message: "no such file or directory: /opt/missing-dir"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetSourceResults(ctx, "server2", []odb.SourceResult{
		{Entry: "./extra/billing_jobs.py", Status: "failed", Message: "SyntaxError: invalid <syntax> (line 3)"},
	}); err != nil {
		t.Fatal(err)
	}
	e.rt.mu.Lock()
	e.rt.services["billing-jobs.run"] = runtime.ServiceInfo{Name: "billing-jobs.run", Module: "billing_jobs.py", Class: "Run"}
	e.rt.services["acme-services.quote"] = runtime.ServiceInfo{Name: "acme-services.quote", Module: "acme_services.py", Class: "Quote"}
	e.rt.mu.Unlock()

	_, page := e.get(t, c, "/admin/services")
	mustContain(t, "services page", page, `href="/admin/modules/billing_jobs.py"`, `href="/admin/modules/acme_services.py"`)

	resp, page := e.get(t, c, "/admin/modules/billing_jobs.py")
	if resp.StatusCode != 200 {
		t.Fatalf("the page of a module from service-sources.txt: %d\n%s", resp.StatusCode, page)
	}
	mustContain(t, "billing_jobs.py's page", page,
		"service-sources.txt", "./extra/billing_jobs.py",
		`data-server="server1"`, `data-server="server2"`, "status-ok", "status-failed",
		"SyntaxError: invalid &lt;syntax&gt; (line 3)", "billing-jobs.run")
	mustNotContain(t, "billing_jobs.py's page", page, "<syntax>", "/opt/missing-dir", "Roll back")

	// A dotted entry: the runtime names its module acme_services.py.
	resp, page = e.get(t, c, "/admin/modules/acme_services.py")
	if resp.StatusCode != 200 {
		t.Fatalf("the page of a dotted service source: %d", resp.StatusCode)
	}
	mustContain(t, "acme_services.py's page", page, "acme_services", "acme-services.quote")

	// The modules page lists every entry, the failed ones too.
	_, page = e.get(t, c, "/admin/modules")
	mustContain(t, "modules page", page, "service-sources.txt", "./extra/billing_jobs.py", "/opt/missing-dir",
		"no such file or directory: /opt/missing-dir", `href="/admin/modules/billing_jobs.py"`)

	if resp, _ := e.get(t, c, "/admin/modules/never_seen.py"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a module nobody knows: %d", resp.StatusCode)
	}

	// What a server loaded for an entry, as it recorded it: a directory written without a slash is no module
	// extra2.py, and its module without services (zeta.py) has a page too.
	if err := e.store.SetSourceResults(ctx, "server1", []odb.SourceResult{
		{Entry: "extra2", Status: "ok", Services: []string{"alpha.run"}, Modules: []string{"alpha.py", "zeta.py"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, page = e.get(t, c, "/admin/modules")
	mustContain(t, "modules page", page, `href="/admin/modules/alpha.py"`, `href="/admin/modules/zeta.py"`)
	mustNotContain(t, "modules page", page, "extra2.py")
	if resp, page := e.get(t, c, "/admin/modules/zeta.py"); resp.StatusCode != 200 || !strings.Contains(page, "extra2") {
		t.Errorf("the page of a source module without services: %d", resp.StatusCode)
	}

	// The same line twice is two entries, each with its own result.
	if err := e.store.SetSourceResults(ctx, "server1", []odb.SourceResult{
		{Entry: "./dup", Status: "ok", Services: []string{"svc.a"}, Modules: []string{"svc.py"}},
		{Entry: "./dup", Status: "failed", Message: "module name svc is taken by ./dup/svc.py (entry ./dup); rename one of them"},
	}); err != nil {
		t.Fatal(err)
	}
	_, page = e.get(t, c, "/admin/modules")
	rows := regexp.MustCompile(`(?s)<tr data-entry="./dup">.*?</tr>`).FindAllString(page, -1)
	if len(rows) != 2 || strings.Count(rows[0], "status-ok") != 2 || !strings.Contains(rows[1], "is taken by") || strings.Contains(rows[0], "is taken by") {
		t.Errorf("./dup listed twice: %d rows\n%s", len(rows), strings.Join(rows, "\n"))
	}
}

// A module's history shows each version's source and a diff between any two versions, escaped.
func TestModuleHistorySourcesAndDiff(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	e.deploy(t, c, token, "mod.py", "x = 1\nprint('<script>alert(1)</script>')\n")
	e.deploy(t, c, token, "mod.py", "x = 2\nprint('<script>alert(1)</script>')\ny = 3\n")
	e.deploy(t, c, token, "mod.py", "x = 2\nprint('<script>alert(1)</script>')\ny = 3\nz = 4\n")

	_, page := e.get(t, c, "/admin/modules/mod.py")
	for _, v := range []string{"1", "2", "3"} {
		mustContain(t, "module page", page, `<details class="version-source" id="source-v`+v+`"`)
	}
	mustContain(t, "module page", page, "print(&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;)",
		`<form method="get" action="/admin/modules/mod.py/diff"`, `<select name="from"`, `<select name="to"`,
		`href="/admin/modules/mod.py/diff?from=1&to=2"`)
	mustNotContain(t, "module page", page, "<script>alert")

	// html/template writes + as &#43;, which reads the same in a browser.
	plus := strings.NewReplacer("&#43;", "+")
	resp, page := e.get(t, c, "/admin/modules/mod.py/diff?from=1&to=3")
	page = plus.Replace(page)
	if resp.StatusCode != 200 {
		t.Fatalf("diff: %d\n%s", resp.StatusCode, page)
	}
	mustContain(t, "diff v1 v3", page, "--- mod.py v1", "+++ mod.py v3", "@@ -1,2 +1,4 @@",
		`<span class="del">-x = 1</span>`, `<span class="add">+x = 2</span>`, `<span class="add">+y = 3</span>`,
		`<span class="add">+z = 4</span>`, `<span class="ctx"> print(&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;)</span>`)
	mustNotContain(t, "diff v1 v3", page, "<script>alert")
	// Backwards works too.
	_, page = e.get(t, c, "/admin/modules/mod.py/diff?from=3&to=1")
	page = plus.Replace(page)
	mustContain(t, "diff v3 v1", page, `<span class="add">+x = 1</span>`, `<span class="del">-z = 4</span>`)
	_, page = e.get(t, c, "/admin/modules/mod.py/diff?from=2&to=2")
	mustContain(t, "diff v2 v2", page, "v2 and v2 are the same.")
	if resp, page := e.get(t, c, "/admin/modules/mod.py/diff?from=1&to=9"); resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "mod.py has versions 1-3") {
		t.Errorf("diff to v9: %d", resp.StatusCode)
	}
	if resp, _ := e.get(t, c, "/admin/modules/nope.py/diff?from=1&to=2"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("diff of an unknown module: %d", resp.StatusCode)
	}
	// Versions with the same lines are not the same: the diff says what differs.
	e.deploy(t, c, token, "eol.py", "x = 1\ny = 2\n")
	e.deploy(t, c, token, "eol.py", "x = 1\r\ny = 2\r\n")
	e.deploy(t, c, token, "eol.py", "x = 1\ny = 2")
	_, page = e.get(t, c, "/admin/modules/eol.py/diff?from=1&to=2")
	mustContain(t, "diff of line endings", page, "differ only in line endings (LF in v1, CRLF in v2)")
	_, page = e.get(t, c, "/admin/modules/eol.py/diff?from=1&to=3")
	mustContain(t, "diff of the final newline", page, "differ only in the final newline (v1 ends with one, v3 does not)")
	mustNotContain(t, "diff of the final newline", page, "are the same")
}

// Long names may wrap at their separators, and stay escaped.
func TestBreakableNames(t *testing.T) {
	f := funcs["breakable"].(func(string) template.HTML)
	if got := f("crm_channel.py"); got != "crm_<wbr>channel<wbr>.py" {
		t.Errorf("breakable: %q", got)
	}
	if got := f("<b>_x"); got != "&lt;b&gt;_<wbr>x" {
		t.Errorf("breakable escapes: %q", got)
	}
}

// The deployments list shows the newest first, filtered or not, and links to the older ones page by page: with more
// modules matching a filter than one page holds, the newest were missing.
func TestDeploymentsPagesNewestFirst(t *testing.T) {
	e := start(t)
	c := e.client(t)
	token := e.login(t, c)
	for i := range 55 {
		e.deploy(t, c, token, fmt.Sprintf("bulk_%02d.py", i), "x = 1\n")
	}
	rows := regexp.MustCompile(`bulk_(\d\d)\.py`)
	for _, path := range []string{"/admin/deployments", "/admin/deployments?module=bulk"} {
		_, page := e.get(t, c, path)
		first := rows.FindStringSubmatch(page)
		if first == nil || first[1] != "54" {
			t.Errorf("%s: the first row is %v, want bulk_54.py, the newest", path, first)
		}
		older := regexp.MustCompile(`href="(/admin/deployments\?[^"]+)" id="older"`).FindStringSubmatch(page)
		if older == nil {
			t.Fatalf("%s: no link to older deployments with 55 of them", path)
		}
		_, next := e.get(t, c, html.UnescapeString(older[1]))
		seen := map[string]bool{}
		for _, m := range rows.FindAllStringSubmatch(next, -1) {
			seen[m[1]] = true
		}
		if len(seen) != 5 || !seen["00"] || !seen["04"] || strings.Contains(next, `id="older"`) {
			t.Errorf("%s, next page: %v, want bulk_00 to bulk_04 and no further link", path, seen)
		}
	}
}
