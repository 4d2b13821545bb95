package lsp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"

	"github.com/zato-go/zato/deployclient"
)

// Go to definition of a service the workspace does not define: a read-only copy of the module's current source on the
// cluster, written where any editor can open it (a file: URI; Neovim and LSP4IJ open nothing else):
//
//	<user cache dir>/zato-lsp/<target>/<module stem>@v<N>.py   (mode 0444)
//
// One file per version: a version's source never changes, so a copy whose sha256 is the cluster's is used again,
// and a tab left open on an older version keeps showing it. The cluster's current version is GET /api/v1/modules;
// its source GET /api/v1/modules/{name}/versions/{n}.

// deployedDefinition returns the location of the class serving name in a read-only copy of the module the cluster
// serves it from; false when no live server serves it or the source cannot be had.
func (s *server) deployedDefinition(ctx context.Context, at place, name string) (*protocol.Location, bool) {
	snap := s.services(ctx, at, true)
	if snap == nil || snap.err != nil || snap.byName[name] == nil {
		return nil, false
	}
	ls := snap.byName[name]
	path, source, err := s.deployedCopy(ctx, at, ls.Module)
	if err != nil {
		s.logf(protocol.MessageTypeWarning, "Zato: no deployed source of %s to go to: %v", ls.Module, err)
		return nil, false
	}
	for _, c := range analyzeServices(source, ls.Module) {
		if c.name == name || c.class == ls.Class {
			return &protocol.Location{URI: uri.File(path), Range: classRange(c.serviceClass)}, true
		}
	}
	// The class is not found by the scanner (built at run time): the top of the module.
	return &protocol.Location{URI: uri.File(path)}, true
}

// deployedCopy writes (or finds) the read-only copy of a module's current version on target and returns its path
// and source.
func (s *server) deployedCopy(ctx context.Context, at place, module string) (string, string, error) {
	target, cl, _, err := s.clientIn(ctx, at.scope, at.target)
	if err != nil {
		return "", "", err
	}
	if cl.Kind() == deployclient.KindZato {
		return "", "", fmt.Errorf("a stock Zato target does not give its modules' source: %w", deployclient.ErrUnsupported)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var mods []deployclient.Module
	if err := s.read(ctx, at.scope, target, cl, func(cl *deployclient.Client) (err error) {
		mods, err = cl.Modules(ctx)
		return err
	}); err != nil {
		return "", "", err
	}
	var cur *deployclient.Module
	for i := range mods {
		if mods[i].Name == module && mods[i].Deployed {
			cur = &mods[i]
		}
	}
	if cur == nil {
		return "", "", fmt.Errorf("%s is not deployed on target %s", module, target)
	}
	path, err := deployedCopyPath(target, module, cur.Version)
	if err != nil {
		return "", "", err
	}
	if b, err := os.ReadFile(path); err == nil && sourceSHA(string(b)) == cur.SHA256 {
		return path, string(b), nil
	}
	var v deployclient.VersionSource
	if err := s.read(ctx, at.scope, target, cl, func(cl *deployclient.Client) (err error) {
		v, err = cl.ModuleVersion(ctx, module, cur.Version)
		return err
	}); err != nil {
		return "", "", err
	}
	if err := writeReadOnly(path, v.Source); err != nil {
		return "", "", err
	}
	return path, v.Source, nil
}

// deployedCopyPath is <user cache dir>/zato-lsp/<target>/<stem>@v<N>.py; the target's name is made safe for a
// file name (characters outside [A-Za-z0-9._-] become _).
func deployedCopyPath(target, module string, version int) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the deployed source: %w", err)
	}
	stem := strings.TrimSuffix(module, ".py")
	return filepath.Join(dir, "zato-lsp", unsafeFileChars.ReplaceAllString(target, "_"), fmt.Sprintf("%s@v%d.py", stem, version)), nil
}

// writeReadOnly writes a file with mode 0444 through a temporary file and a rename, so that no reader sees half of
// it and a copy left read-only by an earlier session is replaced.
func writeReadOnly(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("deployed source: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".deployed-*.py")
	if err != nil {
		return fmt.Errorf("deployed source: %w", err)
	}
	_, werr := f.WriteString(text)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o444)); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("deployed source %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("deployed source %s: %w", path, err)
	}
	return nil
}
