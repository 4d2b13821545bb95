package runtime

// runtimeModules are the top-level names the servers' Python runtime imports itself: a module of the same name would
// replace them.
var runtimeModules = map[string]string{
	"zato":        "the zato package (from zato.server.service import Service)",
	"zato_worker": "the runtime's zato_worker",
	"zato_guard":  "the runtime's zato_guard",
	"__init__":    "a package's __init__ (hot-deployed modules are flat: there is no package here)",
	"__main__":    "the interpreter's __main__",
}

// Shadows says what a top-level module named name (without .py) would replace in every worker, "" for nothing: the
// runtime's own modules and Python's standard library. A module is loaded under its name, in sys.modules, so one
// called email would be what every later `import email` gets. Hot-deployment and service-sources.txt both refuse
// such a name, in the words of ShadowMessage.
func Shadows(name string) string {
	if what, ok := runtimeModules[name]; ok {
		return what
	}
	if _, ok := stdlibModules[name]; ok {
		return "Python's standard module " + name
	}
	return ""
}

// ShadowMessage is the refusal of a module file whose name shadows what (from Shadows).
func ShadowMessage(file, what string) string { return file + " would shadow " + what + "; rename it" }
