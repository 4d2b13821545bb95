package wire

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// BOM is the UTF-8 byte order mark some editors put at the start of a file; python3 skips it, and so do the servers.
const BOM = "\ufeff"

// CheckSourceText checks that a module's bytes can travel as the source of a deployment: not empty (a BOM alone is
// empty), UTF-8 text (a JSON string carries nothing else: other bytes would arrive replaced by U+FFFD), no NUL byte.
// The server checks every upload with it, and its clients check before they send, in the same words.
func CheckSourceText(src []byte) error {
	if len(bytes.TrimPrefix(src, []byte(BOM))) == 0 {
		return errors.New("the module is empty")
	}
	if !utf8.Valid(src) {
		return errors.New("the module is not UTF-8 text; save it as UTF-8")
	}
	if bytes.IndexByte(src, 0) >= 0 {
		return errors.New("the module contains a NUL byte")
	}
	return nil
}
