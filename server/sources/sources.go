// Package sources imports what service-sources.txt lists when a server starts, in Zato's format: one entry per line,
// '#' comments and blank lines ignored, relative paths resolved against the server dir. An entry is a directory
// (a flat scan of its *.py files, names starting with '.' skipped: common*, util*, model*, then the rest, each
// sorted), a .py file, or a dotted module name importable from the services' PYTHONPATH (a bare word is a module name
// unless it names a directory of the server dir that holds .py files). A module name is loaded
// once: the first entry to reach it keeps it. An entry that fails is logged and reported; it never stops the server.
package sources

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zato-go/zato/server/runtime"
	"github.com/zato-go/zato/wire"
)

// Runtime is what sources needs of the Python runtime.
type Runtime interface {
	Load(ctx context.Context, module, filename string, source []byte) (runtime.LoadResult, error)
	ImportDotted(ctx context.Context, dotted string) (runtime.LoadResult, error)
}

// Result of one entry.
type Result struct {
	Entry    string
	OK       bool
	Message  string
	Services []string
	Modules  []string // the module files the entry loaded from files (not dotted imports)
	Dotted   bool     // the entry is a dotted module name, imported from the services' sys.path
}

// Order sorts module file names as Zato does: common*, util*, model*, then the rest, each group sorted.
func Order(names []string) []string {
	rank := func(n string) int {
		for i, p := range []string{"common", "util", "model"} {
			if strings.HasPrefix(n, p) {
				return i
			}
		}
		return 3
	}
	out := append([]string(nil), names...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i]), rank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

// maxEntry bounds an entry's length: no path or module name is longer (PATH_MAX is 4096 on Linux).
const maxEntry = 4096

// Load imports every entry of the file at path; serverDir resolves relative paths. A missing file is no entries.
func Load(ctx context.Context, rt Runtime, path, serverDir string, log *slog.Logger) []Result {
	entries, err := Parse(path)
	if err != nil {
		if !os.IsNotExist(err) {
			log.Error("could not read service sources", "file", path, "err", err)
		}
		return nil
	}
	l := &loader{rt: rt, serverDir: serverDir, taken: map[string]string{}}
	var results []Result
	for _, e := range entries {
		r := l.entry(ctx, e)
		if r.OK {
			log.Info(fmt.Sprintf("Service source %s: %d services %v", r.Entry, len(r.Services), r.Services))
		} else {
			log.Error(fmt.Sprintf("Service source %s failed: %s", r.Entry, r.Message))
		}
		results = append(results, r)
	}
	return results
}

// loader imports the entries of one service-sources.txt.
type loader struct {
	rt        Runtime
	serverDir string
	// taken maps each Python module name an entry has claimed to what claimed it. The worker keys modules and their
	// services by that name: a second file of the same name would replace the first's module and services.
	taken map[string]string
}

// claim takes a module name for what; it says who has it already.
func (l *loader) claim(modname, what string) error {
	if by, ok := l.taken[modname]; ok {
		return fmt.Errorf("module name %s is taken by %s; rename one of them", modname, by)
	}
	l.taken[modname] = what
	return nil
}

func (l *loader) entry(ctx context.Context, entry string) Result {
	res := Result{Entry: entry, Services: []string{}}
	if len(entry) > maxEntry {
		res.Entry = strings.ToValidUTF8(entry[:60], "") + "..."
		res.Message = fmt.Sprintf("the entry is %d bytes long; an entry (a directory, a .py file or a dotted module "+
			"name) has at most %d bytes", len(entry), maxEntry)
		return res
	}
	path := entry
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.serverDir, path)
	}
	fi, statErr := os.Stat(path)
	written := strings.ContainsAny(entry, `/\`) || strings.HasSuffix(entry, ".py") // written as a path
	// A bare word is a dotted module name unless the server dir holds modules under that name: a word such as
	// "pickup" or "config" also names one of the server dir's own directories, which hold no modules, and taking
	// it as that directory would load nothing and report "ok".
	bareDir := !written && statErr == nil && fi.IsDir() && !holdsModules(path)
	switch {
	case (!written && statErr != nil) || bareDir: // a dotted module name
		res.Dotted = true
		if err := l.claim(entry, "entry "+entry); err != nil {
			return fill(res, runtime.LoadResult{}, err)
		}
		lr, err := l.rt.ImportDotted(ctx, entry)
		res = fill(res, lr, err)
		if !res.OK && bareDir {
			res.Message += fmt.Sprintf(" (%s is also a directory of the server dir, with no .py files; write "+
				"./%s/ to mean that directory)", entry, entry)
		}
		return res
	case statErr != nil:
		res.Message = fmt.Sprintf("no such file or directory: %s", path)
		return res
	case fi.IsDir():
		return l.dir(ctx, path, res)
	case !fi.Mode().IsRegular() || filepath.Ext(path) != ".py":
		res.Message = fmt.Sprintf("%s is not a .py file; an entry is a directory, a .py file or a dotted module name", path)
		return res
	default:
		return l.file(ctx, path, res)
	}
}

// holdsModules says whether the directory at path has a *.py file that dir would import.
func holdsModules(path string) bool {
	ents, err := os.ReadDir(path)
	if err != nil {
		return true // dir reports the error
	}
	for _, e := range ents {
		if isModuleFile(e) {
			return true
		}
	}
	return false
}

func isModuleFile(e os.DirEntry) bool {
	return !e.IsDir() && strings.HasSuffix(e.Name(), ".py") && !strings.HasPrefix(e.Name(), ".")
}

// dir imports a directory's *.py files in Zato's order. Names starting with '.' are skipped, as Zato's glob('*.py')
// does: editors' lock files and hidden files are no modules.
func (l *loader) dir(ctx context.Context, path string, res Result) Result {
	ents, err := os.ReadDir(path)
	if err != nil {
		res.Message = err.Error()
		return res
	}
	var names []string
	for _, e := range ents {
		if isModuleFile(e) {
			names = append(names, e.Name())
		}
	}
	res.OK = true
	var failed []string
	for _, n := range Order(names) {
		r := l.file(ctx, filepath.Join(path, n), Result{Entry: res.Entry})
		res.Services = append(res.Services, r.Services...)
		res.Modules = append(res.Modules, r.Modules...)
		if !r.OK {
			failed = append(failed, n+": "+r.Message)
		}
	}
	if len(failed) > 0 {
		res.OK = false
		res.Message = strings.Join(failed, "; ")
	}
	return res
}

func (l *loader) file(ctx context.Context, path string, res Result) Result {
	module := filepath.Base(path)
	if what := runtime.Shadows(strings.TrimSuffix(module, ".py")); what != "" {
		res.Message = runtime.ShadowMessage(module, what)
		return res
	}
	if err := l.claim(strings.TrimSuffix(module, ".py"), fmt.Sprintf("%s (entry %s)", path, res.Entry)); err != nil {
		return fill(res, runtime.LoadResult{}, err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		res.Message = err.Error()
		return res
	}
	// The rules of a hot-deployed module's text, in its words: the worker gets the source as a JSON string, where
	// other bytes than UTF-8 would arrive replaced; a BOM goes, as python3 skips it.
	if err := wire.CheckSourceText(src); err != nil {
		res.Message = err.Error()
		return res
	}
	src = bytes.TrimPrefix(src, []byte(wire.BOM))
	lr, err := l.rt.Load(ctx, module, path, src)
	res.Modules = append(res.Modules, module)
	return fill(res, lr, err)
}

func fill(res Result, lr runtime.LoadResult, err error) Result {
	switch {
	case err != nil:
		res.Message = err.Error()
	case lr.Error != nil:
		res.Message = fmt.Sprintf("%s: %s", lr.Error.Type, lr.Error.Message)
		if lr.Error.Line > 0 {
			res.Message += fmt.Sprintf(" (line %d)", lr.Error.Line)
		}
	default:
		res.OK = true
		if lr.Services != nil {
			res.Services = lr.Services
		}
	}
	if res.Services == nil {
		res.Services = []string{}
	}
	return res
}
