// Package pycharm holds the checks of the PyCharm plug-in that can run without JetBrains' repositories:
// the plug-in itself (Kotlin, Gradle) is compiled and verified on a hosted CI runner
// (.github/workflows/pycharm.yml). These tests read plugin.xml, the Kotlin sources, the LSP4IJ template,
// the LSP4IJ initialize fixture and the workflow, and fail when they stop agreeing.
package pycharm

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const (
	pluginXMLPath = "src/main/resources/META-INF/plugin.xml"
	kotlinRoot    = "src/main/kotlin"
	ownPackage    = "org.zatogo.pycharm"
	templateDir   = "lsp4ij-template"
	initFixture   = "../../lsp/testdata/lsp4ij/initialize.json"
	workflowPath  = "../../.github/workflows/pycharm.yml"
)

// The configuration keys of `zato lsp` (issue 3; docs/architecture.md) that the editor may send.
var configKeys = []string{"url", "username", "password", "deployOnSave", "include", "exclude", "requireMarker", "targets", "defaultTarget"}

// Attributes of plugin.xml elements whose value is a class name.
var classAttributes = map[string]bool{
	"class": true, "implementation": true, "implementationClass": true, "factoryClass": true,
	"instance": true, "provider": true, "serviceImplementation": true, "serviceInterface": true,
	"documentMatcher": true, "topic": true, "testServiceImplementation": true, "headlessImplementation": true,
}

// Classes outside the plug-in that plugin.xml may name.
var externalPrefixes = []string{"com.intellij.", "com.redhat.devtools.lsp4ij."}

// ---------------------------------------------------------------- plugin.xml

type xmlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []xmlNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *xmlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *xmlNode) children(name string) []*xmlNode {
	var out []*xmlNode
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			out = append(out, &n.Nodes[i])
		}
	}
	return out
}

func (n *xmlNode) walk(visit func(*xmlNode)) {
	visit(n)
	for i := range n.Nodes {
		n.Nodes[i].walk(visit)
	}
}

// extensions returns the children of every <extensions defaultExtensionNs="ns"> named name.
func (n *xmlNode) extensions(ns, name string) []*xmlNode {
	var out []*xmlNode
	for _, ext := range n.children("extensions") {
		if ext.attr("defaultExtensionNs") == ns {
			out = append(out, ext.children(name)...)
		}
	}
	return out
}

func loadPluginXML(t *testing.T) *xmlNode {
	t.Helper()
	data, err := os.ReadFile(pluginXMLPath)
	if err != nil {
		t.Fatalf("read plugin.xml: %v", err)
	}
	var root xmlNode
	if err := xml.Unmarshal(data, &root); err != nil {
		t.Fatalf("parse plugin.xml: %v", err)
	}
	if root.XMLName.Local != "idea-plugin" {
		t.Fatalf("plugin.xml root is <%s>, want <idea-plugin>", root.XMLName.Local)
	}
	return &root
}

func one(t *testing.T, nodes []*xmlNode, what string) *xmlNode {
	t.Helper()
	if len(nodes) != 1 {
		t.Fatalf("plugin.xml: want exactly one %s, found %d", what, len(nodes))
	}
	return nodes[0]
}

// ---------------------------------------------------------------- Kotlin sources

type kotlinDecl struct {
	fqcn   string
	file   string
	header string // from the keyword to the opening brace: name, constructor, supertypes
	source string // the whole file
}

type kotlinIndex struct {
	decls  map[string]*kotlinDecl
	files  map[string]string // path -> source
	consts map[string]string // const val NAME = "value", by NAME
}

var (
	packageRe = regexp.MustCompile(`(?m)^package\s+([A-Za-z_][\w.]*)`)
	declRe    = regexp.MustCompile(`(?m)^[ \t]*(?:(?:public|internal|private|protected|open|abstract|final|sealed|data|inner|enum|annotation|value|fun)\s+)*(?:class|object|interface)\s+([A-Za-z_]\w*)`)
	constRe   = regexp.MustCompile(`const\s+val\s+([A-Z_][A-Z0-9_]*)\s*=\s*"([^"]*)"`)
)

func loadKotlin(t *testing.T) *kotlinIndex {
	t.Helper()
	idx := &kotlinIndex{decls: map[string]*kotlinDecl{}, files: map[string]string{}, consts: map[string]string{}}
	err := filepath.WalkDir(kotlinRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".kt") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(data)
		idx.files[path] = src
		m := packageRe.FindStringSubmatch(src)
		if m == nil {
			t.Errorf("%s: no package declaration", path)
			return nil
		}
		pkg := m[1]
		wantDir := filepath.Join(kotlinRoot, filepath.FromSlash(strings.ReplaceAll(pkg, ".", "/")))
		if filepath.Dir(path) != wantDir {
			t.Errorf("%s: package %s does not match its directory (want it under %s)", path, pkg, wantDir)
		}
		for _, loc := range declRe.FindAllStringSubmatchIndex(src, -1) {
			name := src[loc[2]:loc[3]]
			header := src[loc[0]:]
			if i := strings.Index(header, "{"); i >= 0 {
				header = header[:i]
			}
			fqcn := pkg + "." + name
			if _, dup := idx.decls[fqcn]; !dup {
				idx.decls[fqcn] = &kotlinDecl{fqcn: fqcn, file: path, header: header, source: src}
			}
		}
		for _, c := range constRe.FindAllStringSubmatch(src, -1) {
			idx.consts[c[1]] = c[2]
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk Kotlin sources: %v", err)
	}
	if len(idx.files) == 0 {
		t.Fatalf("no Kotlin sources under %s", kotlinRoot)
	}
	return idx
}

// class resolves a plugin.xml class name (nested classes as Outer$Inner) to its Kotlin declaration.
func (k *kotlinIndex) class(t *testing.T, fqcn, usedBy string) *kotlinDecl {
	t.Helper()
	top := fqcn
	if i := strings.Index(top, "$"); i >= 0 {
		top = top[:i]
	}
	d := k.decls[top]
	if d == nil {
		t.Errorf("plugin.xml %s names %s, but no Kotlin source declares it (package + class/object)", usedBy, fqcn)
		return nil
	}
	return d
}

func (k *kotlinIndex) mustConst(t *testing.T, name, want string) {
	t.Helper()
	got, ok := k.consts[name]
	if !ok {
		t.Errorf("Kotlin sources declare no const %s", name)
	} else if got != want {
		t.Errorf("const %s = %q, want %q", name, got, want)
	}
}

// anySource reports whether some Kotlin file contains all the given fragments.
func (k *kotlinIndex) anySource(fragments ...string) bool {
	for _, src := range k.files {
		ok := true
		for _, f := range fragments {
			if !strings.Contains(src, f) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func extends(d *kotlinDecl, supertype string) bool {
	if d == nil {
		return false
	}
	i := strings.Index(d.header, ":")
	if i < 0 {
		return false
	}
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(supertype) + `\b`).MatchString(d.header[i:])
}

// ---------------------------------------------------------------- tests

func TestPluginXMLDependencies(t *testing.T) {
	root := loadPluginXML(t)
	depends := map[string]bool{}
	for _, d := range root.children("depends") {
		if d.attr("optional") == "true" {
			continue
		}
		depends[strings.TrimSpace(d.Text)] = true
	}
	for _, want := range []string{"com.intellij.modules.platform", "com.intellij.modules.python", "com.redhat.devtools.lsp4ij"} {
		if !depends[want] {
			t.Errorf("plugin.xml: missing <depends>%s</depends>", want)
		}
	}
	if id := strings.TrimSpace(one(t, root.children("id"), "<id>").Text); id == "" {
		t.Errorf("plugin.xml: empty <id>")
	}
	since := one(t, root.children("idea-version"), "<idea-version>").attr("since-build")
	props := readFile(t, "gradle.properties")
	if since != "242" || !regexp.MustCompile(`(?m)^pluginSinceBuild=242$`).MatchString(props) {
		t.Errorf("since-build must be 242 in plugin.xml (%q) and gradle.properties", since)
	}
}

func TestPluginXMLClassesExistInKotlinSources(t *testing.T) {
	root := loadPluginXML(t)
	k := loadKotlin(t)
	named := 0
	root.walk(func(n *xmlNode) {
		for _, a := range n.Attrs {
			if !classAttributes[a.Name.Local] {
				continue
			}
			value := strings.TrimSpace(a.Value)
			usedBy := "<" + n.XMLName.Local + " " + a.Name.Local + ">"
			switch {
			case strings.HasPrefix(value, ownPackage+"."):
				named++
				k.class(t, value, usedBy)
			case hasAnyPrefix(value, externalPrefixes):
				// a platform or LSP4IJ class
			default:
				t.Errorf("plugin.xml %s names %q: neither a class of %s nor a platform/LSP4IJ class", usedBy, value, ownPackage)
			}
		}
	})
	if named < 8 {
		t.Errorf("plugin.xml names %d plug-in classes, want at least 8 (server factory, widget factory, configurable, action, tool window, 3 services)", named)
	}
}

func TestPluginXMLLanguageServer(t *testing.T) {
	root := loadPluginXML(t)
	k := loadKotlin(t)
	k.mustConst(t, "SERVER_ID", "zato")
	k.mustConst(t, "DEPLOY_STATUS_NOTIFICATION", "zato/deployStatus")
	k.mustConst(t, "CONFIG_SECTION", "zato")

	server := one(t, root.extensions("com.redhat.devtools.lsp4ij", "server"), "LSP4IJ <server>")
	if server.attr("id") != k.consts["SERVER_ID"] {
		t.Errorf("<server id=%q>, Kotlin SERVER_ID %q", server.attr("id"), k.consts["SERVER_ID"])
	}
	factory := k.class(t, server.attr("factoryClass"), "<server factoryClass>")
	if factory != nil && !extends(factory, "LanguageServerFactory") {
		t.Errorf("%s does not implement LanguageServerFactory", factory.fqcn)
	}
	if factory != nil && !strings.Contains(factory.source, "createLanguageClient") {
		t.Errorf("%s does not override createLanguageClient: zato/deployStatus would go nowhere", factory.fqcn)
	}

	var python bool
	for _, m := range root.extensions("com.redhat.devtools.lsp4ij", "languageMapping") {
		if m.attr("serverId") != server.attr("id") {
			t.Errorf("<languageMapping serverId=%q> names no declared server", m.attr("serverId"))
		}
		if m.attr("language") == "Python" && m.attr("languageId") == "python" {
			python = true
			// Issue 13: not for every Python project; the matcher looks for .zato.yaml, targets or ZATO_URL.
			matcher := m.attr("documentMatcher")
			src, err := os.ReadFile(filepath.Join(kotlinRoot, strings.ReplaceAll(matcher, ".", "/")+".kt"))
			switch {
			case matcher == "":
				t.Errorf(`plugin.xml: the Python <languageMapping> has no documentMatcher: zato lsp would start for every Python project`)
			case err != nil:
				t.Errorf("documentMatcher %s: %v", matcher, err)
			case !strings.Contains(string(src), ": DocumentMatcher") || !strings.Contains(string(src), ".zato.yaml") ||
				!strings.Contains(string(src), "ZATO_URL"):
				t.Errorf("documentMatcher %s does not look for .zato.yaml, configured targets and ZATO_URL", matcher)
			}
		}
	}
	if !python {
		t.Errorf(`plugin.xml: no <languageMapping language="Python" languageId="python" serverId="zato"/>`)
	}

	// The process connection provider runs `zato lsp`.
	var provider *kotlinDecl
	for _, d := range k.decls {
		if extends(d, "OSProcessStreamConnectionProvider") || extends(d, "ProcessStreamConnectionProvider") {
			provider = d
		}
	}
	if provider == nil {
		t.Errorf("no Kotlin class extends an LSP4IJ process stream connection provider")
	} else if !strings.Contains(provider.source, `"lsp"`) || !strings.Contains(provider.source, "getInitializationOptions") {
		t.Errorf("%s must start `zato lsp` and send initializationOptions", provider.fqcn)
	}

	// The LanguageClientImpl subclass receives zato/deployStatus and answers the zato configuration section.
	var client *kotlinDecl
	for _, d := range k.decls {
		if extends(d, "LanguageClientImpl") {
			client = d
		}
	}
	if client == nil {
		t.Fatalf("no Kotlin class extends LanguageClientImpl")
	}
	ann := regexp.MustCompile(`@JsonNotification\(\s*(?:"([^"]+)"|(?:Zato\.)?([A-Z_]+))\s*\)`).FindStringSubmatch(client.source)
	switch {
	case ann == nil:
		t.Errorf("%s has no @JsonNotification method", client.fqcn)
	case ann[1] != "" && ann[1] != "zato/deployStatus":
		t.Errorf("%s listens to %q, want zato/deployStatus", client.fqcn, ann[1])
	case ann[2] != "" && k.consts[ann[2]] != "zato/deployStatus":
		t.Errorf("%s listens to %s = %q, want zato/deployStatus", client.fqcn, ann[2], k.consts[ann[2]])
	}
	for _, want := range []string{"createSettings", "triggerChangeConfiguration", "messageBus"} {
		if !strings.Contains(client.source, want) {
			t.Errorf("%s does not use %s", client.fqcn, want)
		}
	}
}

func TestPluginXMLStatusBarWidget(t *testing.T) {
	root := loadPluginXML(t)
	k := loadKotlin(t)
	w := one(t, root.extensions("com.intellij", "statusBarWidgetFactory"), "<statusBarWidgetFactory>")
	if w.attr("id") == "" || w.attr("id") != k.consts["WIDGET_ID"] {
		t.Errorf("<statusBarWidgetFactory id=%q> must equal Kotlin WIDGET_ID %q (getId())", w.attr("id"), k.consts["WIDGET_ID"])
	}
	factory := k.class(t, w.attr("implementation"), "<statusBarWidgetFactory implementation>")
	if factory != nil && !extends(factory, "StatusBarWidgetFactory") {
		t.Errorf("%s does not implement StatusBarWidgetFactory", factory.fqcn)
	}
	var widget *kotlinDecl
	for _, d := range k.decls {
		if extends(d, "StatusBarWidget") && strings.Contains(d.header, "TextPresentation") {
			widget = d
		}
	}
	if widget == nil {
		t.Fatalf("no Kotlin class is a StatusBarWidget with a TextPresentation")
	}
	for _, want := range []string{"getTooltipText", "getClickConsumer", "ZatoStatusListener.TOPIC"} {
		if !strings.Contains(widget.source, want) {
			t.Errorf("%s: missing %s", widget.fqcn, want)
		}
	}
	// The words of the VS Code extension.
	if !k.anySource(`const val IDLE = "Zato"`, `"Zato: ${status.module}"`, `"deployed" -> "$head $count"`, `"$head $count · $missing"`) {
		t.Errorf("StatusText no longer spells Zato / Zato: x.py 1/2 / Zato: x.py 1/2 · server2 offline")
	}
	tw := one(t, root.extensions("com.intellij", "toolWindow"), "<toolWindow>")
	if tw.attr("id") != k.consts["TOOL_WINDOW_ID"] {
		t.Errorf("<toolWindow id=%q> must equal Kotlin TOOL_WINDOW_ID %q (the widget's click opens it)", tw.attr("id"), k.consts["TOOL_WINDOW_ID"])
	}
}

func TestPluginXMLDeployAction(t *testing.T) {
	root := loadPluginXML(t)
	k := loadKotlin(t)
	k.mustConst(t, "CMD_DEPLOY", "zato.deploy")
	var action *xmlNode
	for _, actions := range root.children("actions") {
		for _, a := range actions.children("action") {
			if strings.Contains(a.attr("text"), "Deploy to Zato") {
				action = a
			}
		}
	}
	if action == nil {
		t.Fatalf(`plugin.xml: no <action text="Deploy to Zato">`)
	}
	cls := k.class(t, action.attr("class"), "<action class>")
	if cls != nil && !extends(cls, "AnAction") && !extends(cls, "DumbAwareAction") {
		t.Errorf("%s does not extend AnAction", cls.fqcn)
	}
	groups := map[string]bool{}
	for _, g := range action.children("add-to-group") {
		groups[g.attr("group-id")] = true
	}
	for _, want := range []string{"ToolsMenu", "EditorPopupMenu", "ProjectViewPopupMenu"} {
		if !groups[want] {
			t.Errorf("Deploy to Zato is not added to %s", want)
		}
	}
	var ctrlShiftL bool
	for _, s := range action.children("keyboard-shortcut") {
		if s.attr("keymap") == "$default" && normalizeKeystroke(s.attr("first-keystroke")) == "ctrl+shift+L" && s.attr("second-keystroke") == "" {
			ctrlShiftL = true
		}
	}
	if !ctrlShiftL {
		t.Errorf(`Deploy to Zato: no <keyboard-shortcut keymap="$default" first-keystroke="control shift L"/>`)
	}
	if !k.anySource("ExecuteCommandParams(", "workspaceService") || !k.anySource(`addProperty("uri"`, "Zato.CMD_DEPLOY") {
		t.Errorf(`no source sends workspace/executeCommand zato.deploy with [{"uri": ...}]`)
	}
	if cls != nil && !strings.Contains(cls.source, ".deploy(") {
		t.Errorf("%s does not send the deploy command", cls.fqcn)
	}
}

// Issue 14 item 2: the cluster's version against the file in IntelliJ's diff viewer, and Deploy Anyway, all
// through the language server's commands.
func TestPluginXMLCompareWithClusterAction(t *testing.T) {
	root := loadPluginXML(t)
	k := loadKotlin(t)
	k.mustConst(t, "CMD_SHOW_CLUSTER_VERSION", "zato.showClusterVersion")
	k.mustConst(t, "CMD_DEPLOY_ANYWAY", "zato.deployAnyway")
	k.mustConst(t, "STATE_CONFLICT", "conflict")
	var action *xmlNode
	for _, actions := range root.children("actions") {
		for _, a := range actions.children("action") {
			if a.attr("text") == "Zato: Compare with Cluster Version" {
				action = a
			}
		}
	}
	if action == nil {
		t.Fatalf(`plugin.xml: no <action text="Zato: Compare with Cluster Version">`)
	}
	cls := k.class(t, action.attr("class"), "<action class>")
	if cls != nil && !extends(cls, "AnAction") {
		t.Errorf("%s does not extend AnAction", cls.fqcn)
	}
	groups := map[string]bool{}
	for _, g := range action.children("add-to-group") {
		groups[g.attr("group-id")] = true
	}
	if !groups["EditorPopupMenu"] {
		t.Errorf("Zato: Compare with Cluster Version is not in the editor pop-up (EditorPopupMenu)")
	}
	// The diff: the platform's viewer, the cluster's side read-only, the document's side editable, Deploy Anyway in
	// its toolbar; the commands go to the language server.
	for _, want := range [][]string{
		{"DiffManager.getInstance().showDiff(", "SimpleDiffRequest(", "DiffContentFactory.getInstance()"},
		{"FORCE_READ_ONLY_CONTENTS", "booleanArrayOf(true, false)", "CONTEXT_ACTIONS"},
		{"Zato.CMD_SHOW_CLUSTER_VERSION", `addProperty("uri"`, `addProperty("module"`, "ZatoCommands.execute("},
		{"Zato.CMD_DEPLOY_ANYWAY", "showYesNoDialog", "commitDocument"},
		{"NotificationAction.createSimpleExpiring(\"Compare with Cluster Version\"", "NotificationAction.createSimpleExpiring(\"Deploy Anyway\""},
	} {
		if !k.anySource(want...) {
			t.Errorf("no Kotlin source has all of %q", want)
		}
	}
	if cls != nil && !strings.Contains(cls.source, "ZatoDiff.compareFile(") {
		t.Errorf("%s does not open the diff (ZatoDiff.compareFile)", cls.fqcn)
	}
	// The Cluster tab compares a module with the local file; the conflict balloon comes from zato/deployStatus.
	if !k.anySource("class ZatoClusterPanel", `"Compare with Local"`, "ZatoDiff.compareModule(") {
		t.Errorf("the Cluster tab has no Compare with Local")
	}
	if !k.anySource("Zato.STATE_CONFLICT", "ZatoDiff.notifyConflict(") {
		t.Errorf("a zato/deployStatus conflict does not raise the balloon with Compare and Deploy Anyway")
	}
	// The plug-in shows conflicts itself: it says so to the server (lsp/initialize.go reads
	// capabilities.experimental.zato.statusUI), which then sends no warning of its own.
	if !k.anySource("override fun getExperimentalFeaturesPOJO()", `addProperty("statusUI", true)`, `add("zato"`) {
		t.Errorf("the connection provider does not declare experimental.zato.statusUI")
	}
	initGo := readFile(t, "../../lsp/initialize.go")
	if !strings.Contains(initGo, "`json:\"statusUI\"`") || !strings.Contains(initGo, "`json:\"zato\"`") {
		t.Errorf("lsp/initialize.go no longer reads experimental.zato.statusUI")
	}
}

func TestPluginXMLSettings(t *testing.T) {
	root := loadPluginXML(t)
	k := loadKotlin(t)
	k.mustConst(t, "CMD_TEST_CONNECTION", "zato.testConnection")
	c := one(t, root.extensions("com.intellij", "projectConfigurable"), "<projectConfigurable>")
	if c.attr("parentId") != "language" {
		t.Errorf(`<projectConfigurable parentId=%q>, want "language" (Languages & Frameworks)`, c.attr("parentId"))
	}
	if c.attr("displayName") != "Zato" {
		t.Errorf(`<projectConfigurable displayName=%q>, want "Zato"`, c.attr("displayName"))
	}
	cls := k.class(t, c.attr("instance"), "<projectConfigurable instance>")
	if cls != nil && !extends(cls, "Configurable") {
		t.Errorf("%s does not implement Configurable", cls.fqcn)
	}
	if cls != nil && !strings.Contains(cls.source, "Test Connection") {
		t.Errorf("%s has no Test Connection button", cls.fqcn)
	}
	if !k.anySource("PasswordSafe", "CredentialAttributes") {
		t.Errorf("passwords are not kept in PasswordSafe")
	}
	// Every configuration key of zato lsp is produced by the plug-in.
	for _, key := range configKeys {
		if !k.anySource(`"` + key + `"`) {
			t.Errorf("no Kotlin source sends the %q configuration key", key)
		}
	}
	// deployOnSave and requireMarker go out only when the user chose On or Off: a value sent by default would
	// override the workspace's .zato.yaml and the server's own default.
	for path, src := range k.files {
		if m := regexp.MustCompile(`addProperty\("(deployOnSave|requireMarker)", state\.\w+\)`).FindString(src); m != "" {
			t.Errorf("%s: %s sends the key unconditionally; send it only when set (state value not null)", path, m)
		}
	}
	// Services fetched with project.getService(X::class.java) must be registered (or be light @Service classes).
	services := map[string]bool{}
	for _, s := range root.extensions("com.intellij", "projectService") {
		services[s.attr("serviceImplementation")] = true
	}
	bySimpleName := map[string]*kotlinDecl{}
	for fqcn, d := range k.decls {
		bySimpleName[fqcn[strings.LastIndex(fqcn, ".")+1:]] = d
	}
	for path, src := range k.files {
		for _, m := range regexp.MustCompile(`getService\((\w+)::class\.java\)`).FindAllStringSubmatch(src, -1) {
			d := bySimpleName[m[1]]
			if d == nil {
				t.Errorf("%s: getService(%s): no such class in the plug-in", path, m[1])
			} else if !services[d.fqcn] && !strings.Contains(d.source, "@Service") {
				t.Errorf("%s is fetched with getService but not registered as a <projectService>", d.fqcn)
			}
		}
	}
	if len(services) < 3 {
		t.Errorf("plugin.xml registers %d project services, want settings, deploy status and log", len(services))
	}
}

func TestLSP4IJTemplate(t *testing.T) {
	var tmpl struct {
		ID          string            `json:"id"`
		Name        string            `json:"name"`
		ProgramArgs map[string]string `json:"programArgs"`
		Languages   []struct {
			Language   string `json:"language"`
			LanguageID string `json:"languageId"`
		} `json:"languageMappings"`
		FileTypes []struct {
			FileType struct {
				Name     string   `json:"name"`
				Patterns []string `json:"patterns"`
			} `json:"fileType"`
			LanguageID string `json:"languageId"`
		} `json:"fileTypeMappings"`
	}
	readJSON(t, filepath.Join(templateDir, "template.json"), &tmpl)
	if tmpl.ID != "zato" || tmpl.Name == "" {
		t.Errorf("template.json: id %q name %q", tmpl.ID, tmpl.Name)
	}
	if args := tmpl.ProgramArgs["default"]; !strings.HasSuffix(args, "zato lsp") {
		t.Errorf(`template.json: programArgs.default = %q, want "zato lsp"`, args)
	}
	var python bool
	for _, l := range tmpl.Languages {
		python = python || (l.Language == "Python" && l.LanguageID == "python")
	}
	for _, f := range tmpl.FileTypes {
		for _, p := range f.FileType.Patterns {
			python = python || (p == "*.py" && f.LanguageID == "python")
		}
	}
	if !python {
		t.Errorf("template.json maps no Python files to languageId python")
	}

	var settings map[string]map[string]any
	readJSON(t, filepath.Join(templateDir, "settings.json"), &settings)
	section, ok := settings["zato"]
	if !ok {
		t.Fatalf(`settings.json: no "zato" section (workspace/configuration section zato)`)
	}
	var initOptions map[string]any
	readJSON(t, filepath.Join(templateDir, "initializationOptions.json"), &initOptions)
	// Whatever the template carries outranks the workspace's .zato.yaml and the server's defaults (deploy on save
	// only where a .zato.yaml exists, the default exclude globs), so it ships the cluster's address and nothing else.
	for name, cfg := range map[string]map[string]any{"settings.json zato": section, "initializationOptions.json": initOptions} {
		checkConfigObject(t, name, cfg)
		if got := strings.Join(keys(cfg), ","); got != "url,username" {
			t.Errorf("%s: keys %s, want url,username only: any other key would override .zato.yaml (see lsp4ij-template/README.md)", name, got)
		}
	}
	if a, b := keys(section), keys(initOptions); strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("settings.json zato keys %v differ from initializationOptions.json keys %v", a, b)
	}
	readme := readFile(t, filepath.Join(templateDir, "README.md"))
	for _, want := range []string{"outranks `.zato.yaml`", "deployOnSave", "requireMarker", "exclude", "__pycache__", "conftest.py"} {
		if !strings.Contains(readme, want) {
			t.Errorf("lsp4ij-template/README.md does not explain the left-out keys: missing %q", want)
		}
	}
}

func TestLSP4IJInitializeFixture(t *testing.T) {
	var p struct {
		ProcessID             *int           `json:"processId"`
		RootURI               string         `json:"rootUri"`
		InitializationOptions map[string]any `json:"initializationOptions"`
		Capabilities          struct {
			Workspace struct {
				Configuration          bool            `json:"configuration"`
				WorkspaceFolders       bool            `json:"workspaceFolders"`
				ExecuteCommand         json.RawMessage `json:"executeCommand"`
				DidChangeConfiguration json.RawMessage `json:"didChangeConfiguration"`
			} `json:"workspace"`
			TextDocument struct {
				Synchronization struct {
					DidSave bool `json:"didSave"`
				} `json:"synchronization"`
				PublishDiagnostics json.RawMessage `json:"publishDiagnostics"`
				CodeLens           json.RawMessage `json:"codeLens"`
			} `json:"textDocument"`
			Window struct {
				WorkDoneProgress bool `json:"workDoneProgress"`
			} `json:"window"`
		} `json:"capabilities"`
		ClientInfo struct {
			Name string `json:"name"`
		} `json:"clientInfo"`
		WorkspaceFolders []struct {
			URI  string `json:"uri"`
			Name string `json:"name"`
		} `json:"workspaceFolders"`
	}
	readJSON(t, initFixture, &p)
	c := p.Capabilities
	switch {
	case p.ProcessID == nil:
		t.Errorf("initialize.json: no processId")
	case !strings.HasPrefix(p.RootURI, "file:///"):
		t.Errorf("initialize.json: rootUri %q", p.RootURI)
	case len(p.WorkspaceFolders) != 1 || p.WorkspaceFolders[0].URI != p.RootURI:
		t.Errorf("initialize.json: LSP4IJ sends one workspace folder equal to rootUri for a single-root project")
	case !c.Workspace.Configuration || !c.Workspace.WorkspaceFolders || len(c.Workspace.ExecuteCommand) == 0 || len(c.Workspace.DidChangeConfiguration) == 0:
		t.Errorf("initialize.json: workspace capabilities lack configuration/workspaceFolders/executeCommand/didChangeConfiguration")
	case !c.TextDocument.Synchronization.DidSave || len(c.TextDocument.PublishDiagnostics) == 0 || len(c.TextDocument.CodeLens) == 0:
		t.Errorf("initialize.json: textDocument capabilities lack didSave/publishDiagnostics/codeLens")
	case !c.Window.WorkDoneProgress:
		t.Errorf("initialize.json: window.workDoneProgress must be true (LSP4IJ handles window/workDoneProgress/create)")
	case !strings.Contains(p.ClientInfo.Name, "PyCharm"):
		t.Errorf("initialize.json: clientInfo.name %q", p.ClientInfo.Name)
	}
	checkConfigObject(t, "initialize.json initializationOptions", p.InitializationOptions)
}

func TestWorkflowBuildsAndVerifiesThePlugin(t *testing.T) {
	wf := readFile(t, workflowPath)
	for _, want := range []string{"extensions/pycharm", "setup-java", "java-version: 21", "gradle/actions/setup-gradle", "buildPlugin", "verifyPlugin", "actions/upload-artifact", "build/distributions", "go test ./extensions/pycharm/"} {
		if !strings.Contains(wf, want) {
			t.Errorf("%s: missing %q", workflowPath, want)
		}
	}
	build := readFile(t, "build.gradle.kts")
	props := readFile(t, "gradle.properties")
	for _, want := range []string{`id("org.jetbrains.intellij.platform") version "2.`, "pycharmCommunity(", `bundledPlugin("PythonCore")`, `plugins("com.redhat.devtools.lsp4ij:`, "PyCharmProfessional"} {
		if !strings.Contains(build, want) {
			t.Errorf("build.gradle.kts: missing %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^lsp4ijVersion=\d+\.\d+\.\d+$`).MatchString(props) {
		t.Errorf("gradle.properties: lsp4ijVersion is not pinned")
	}
	if !strings.Contains(readFile(t, "gradle/wrapper/gradle-wrapper.properties"), "distributionUrl=") {
		t.Errorf("gradle-wrapper.properties: no distributionUrl")
	}
}

// ---------------------------------------------------------------- helpers

// checkConfigObject checks the types of the zato configuration keys present in cfg, and that it has no others.
func checkConfigObject(t *testing.T, name string, cfg map[string]any) {
	t.Helper()
	if cfg == nil {
		t.Errorf("%s: missing", name)
		return
	}
	allowed := map[string]bool{}
	for _, k := range configKeys {
		allowed[k] = true
	}
	for key, v := range cfg {
		if !allowed[key] {
			t.Errorf("%s: unknown key %q", name, key)
			continue
		}
		var ok bool
		switch key {
		case "deployOnSave", "requireMarker":
			_, ok = v.(bool)
		case "include", "exclude":
			_, ok = v.([]any)
		case "targets":
			var m map[string]any
			if m, ok = v.(map[string]any); ok {
				for tname, tv := range m {
					target, isObj := tv.(map[string]any)
					if !isObj {
						ok = false
						continue
					}
					for tk := range target {
						if tk != "url" && tk != "username" && tk != "password" {
							t.Errorf("%s: target %q has unknown key %q", name, tname, tk)
						}
					}
				}
			}
		default:
			_, ok = v.(string)
		}
		if !ok {
			t.Errorf("%s: key %q has the wrong type (%T)", name, key, v)
		}
	}
}

func normalizeKeystroke(s string) string {
	var mods []string
	var key string
	for _, f := range strings.Fields(s) {
		switch strings.ToLower(f) {
		case "control", "ctrl":
			mods = append(mods, "ctrl")
		case "shift", "alt", "meta":
			mods = append(mods, strings.ToLower(f))
		default:
			key = strings.ToUpper(f)
		}
	}
	sort.Strings(mods)
	return strings.Join(append(mods, key), "+")
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(data)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data := readFile(t, path)
	dec := json.NewDecoder(strings.NewReader(data))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}
