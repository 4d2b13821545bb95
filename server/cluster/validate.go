package cluster

import (
	"errors"
	"fmt"
	"strings"

	"github.com/zato-go/zato/server/runtime"
	"github.com/zato-go/zato/wire"
)

// MaxNameBytes bounds a module's file name, ".py" included. File systems allow 255 bytes, but the deployer writes a
// twin and temporary files named after the module, with suffixes; 200 leaves room for them on every system.
const MaxNameBytes = 200

// Validation errors; each maps to a 4xx.
var (
	ErrBadName    = errors.New("bad module name")
	ErrBadPayload = errors.New("bad payload")
	ErrTooLarge   = errors.New("payload too large")
)

// ValidateModule checks an uploaded module: the name of a flat module file that fits on disk and shadows nothing
// the servers import themselves, and UTF-8 text under max bytes. It is the one home of these rules: every way in
// reaches it through Cluster.Submit. A leading BOM is allowed (see NormalizeSource).
func ValidateModule(name string, src []byte, max int64) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if int64(len(src)) > max {
		return fmt.Errorf("%w: %s is %d bytes, over the %d-byte limit ([api] max_payload in server.conf)", ErrTooLarge, name, len(src), max)
	}
	if err := wire.CheckSourceText(src); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return nil
}

// ValidateName checks the name of a module about to be deployed, as ValidateModule does (a rollback deploys too).
func ValidateName(name string) error {
	if err := nameSyntax(name); err != nil {
		return err
	}
	if len(name) > MaxNameBytes {
		return fmt.Errorf("%w: %s... is %d bytes long; a module name may have at most %d bytes, .py included",
			ErrBadName, name[:40], len(name), MaxNameBytes)
	}
	if what := runtime.Shadows(strings.TrimSuffix(name, ".py")); what != "" {
		return fmt.Errorf("%w: %s", ErrBadName, runtime.ShadowMessage(name, what))
	}
	return nil
}

// nameSyntax is ValidName as an error: what reading a module's history checks.
func nameSyntax(name string) error {
	if !wire.ValidModuleName(name) {
		return fmt.Errorf("%w: %q must be a flat module file name like my_services.py (letters, digits and _ only, no paths)", ErrBadName, name)
	}
	return nil
}

// ValidName reports whether name is a flat module file name. It is only the syntax: a module stored before the
// rules of ValidateModule grew must stay reachable (history, undeploy).
func ValidName(name string) bool { return wire.ValidModuleName(name) }

// NormalizeSource removes a UTF-8 BOM from the start of a module, as python3 does when it reads a file: the worker
// compiles a str, where a BOM is a syntax error.
func NormalizeSource(src string) string { return strings.TrimPrefix(src, wire.BOM) }
