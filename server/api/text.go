package api

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// checkJSONText refuses a JSON body whose strings would not decode to the text that was sent. encoding/json turns
// invalid UTF-8 and escaped halves of surrogate pairs (\ud800) into U+FFFD without a word, so a module would be
// stored altered; the client must hear about it instead.
func checkJSONText(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("the request body is not UTF-8: JSON text must be UTF-8, so a module's source must be UTF-8 text (save it as UTF-8)")
	}
	if loneSurrogate(body) {
		return errors.New(`the request body escapes half of a UTF-16 surrogate pair (\ud800-\udfff without its other half): that is not UTF-8 text`)
	}
	return nil
}

// loneSurrogate reports whether JSON text has a \u escape of a surrogate that is not part of a pair. Backslashes
// appear only in strings in valid JSON; invalid JSON is left to the decoder.
func loneSurrogate(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\\')
		if i < 0 || i+1 >= len(b) {
			return false
		}
		if b[i+1] != 'u' {
			b = b[i+2:] // \\, \" and the like: the escaped byte is not a backslash that starts an escape
			continue
		}
		r, ok := hex4(b[i+2:])
		if !ok {
			b = b[i+2:]
			continue
		}
		b = b[i+6:]
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return true
		case r >= 0xd800 && r <= 0xdbff:
			if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
				return true
			}
			if lo, ok := hex4(b[2:]); !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			b = b[6:]
		}
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
