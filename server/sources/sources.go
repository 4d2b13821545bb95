// Package sources imports what service-sources.txt lists when a server starts, in Zato's format: one entry per line,
// '#' comments and blank lines ignored, relative paths resolved against the server dir. An entry is a directory
// (a flat scan of its *.py files: common*, util*, model*, then the rest, each sorted), a .py file, or a dotted module
// name importable from the services' PYTHONPATH. An entry that fails is logged and reported; it never stops the
// server.
package sources

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zato-go/zato/server/runtime"
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
}

// Parse reads the entries of a service-sources.txt.
func Parse(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
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

// Load imports every entry of the file at path; serverDir resolves relative paths. A missing file is no entries.
func Load(ctx context.Context, rt Runtime, path, serverDir string, log *slog.Logger) []Result {
	entries, err := Parse(path)
	if err != nil {
		if !os.IsNotExist(err) {
			log.Error("could not read service sources", "file", path, "err", err)
		}
		return nil
	}
	var results []Result
	for _, e := range entries {
		r := loadEntry(ctx, rt, e, serverDir)
		if r.OK {
			log.Info(fmt.Sprintf("Service source %s: %d services %v", e, len(r.Services), r.Services))
		} else {
			log.Error(fmt.Sprintf("Service source %s failed: %s", e, r.Message))
		}
		results = append(results, r)
	}
	return results
}

func loadEntry(ctx context.Context, rt Runtime, entry, serverDir string) Result {
	res := Result{Entry: entry, Services: []string{}}
	path := entry
	if !filepath.IsAbs(path) {
		path = filepath.Join(serverDir, path)
	}
	fi, statErr := os.Stat(path)
	isPath := statErr == nil || strings.ContainsAny(entry, `/\`) || strings.HasSuffix(entry, ".py")
	switch {
	case !isPath: // a dotted module name
		lr, err := rt.ImportDotted(ctx, entry)
		return fill(res, lr, err)
	case statErr != nil:
		res.Message = fmt.Sprintf("no such file or directory: %s", path)
		return res
	case fi.IsDir():
		ents, err := os.ReadDir(path)
		if err != nil {
			res.Message = err.Error()
			return res
		}
		var names []string
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".py") {
				names = append(names, e.Name())
			}
		}
		res.OK = true
		var failed []string
		for _, n := range Order(names) {
			r := loadFile(ctx, rt, filepath.Join(path, n), Result{Entry: entry})
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
	default:
		return loadFile(ctx, rt, path, res)
	}
}

func loadFile(ctx context.Context, rt Runtime, path string, res Result) Result {
	src, err := os.ReadFile(path)
	if err != nil {
		res.Message = err.Error()
		return res
	}
	lr, err := rt.Load(ctx, filepath.Base(path), path, src)
	res.Modules = append(res.Modules, filepath.Base(path))
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
