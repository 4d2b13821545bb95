package cluster

import (
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"
)

var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*\.py$`)

// Validation errors; each maps to a 4xx.
var (
	ErrBadName    = errors.New("bad module name")
	ErrBadPayload = errors.New("bad payload")
	ErrTooLarge   = errors.New("payload too large")
)

// ValidateModule checks an uploaded module: a flat module file name and UTF-8 text under max bytes.
func ValidateModule(name string, src []byte, max int64) error {
	if !moduleName.MatchString(name) {
		return fmt.Errorf("%w: %q must be a flat module file name like my_services.py (letters, digits and _ only, no paths)", ErrBadName, name)
	}
	if int64(len(src)) > max {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(src), max)
	}
	if len(src) == 0 {
		return fmt.Errorf("%w: the module is empty", ErrBadPayload)
	}
	if !utf8.Valid(src) {
		return fmt.Errorf("%w: the module is not UTF-8 text", ErrBadPayload)
	}
	for _, b := range src {
		if b == 0 {
			return fmt.Errorf("%w: the module contains a NUL byte", ErrBadPayload)
		}
	}
	return nil
}

// ValidName reports whether name is a flat module file name.
func ValidName(name string) bool { return moduleName.MatchString(name) }
