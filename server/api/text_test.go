package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzCheckJSONText: whatever checkJSONText lets through decodes to the text that was sent: a U+FFFD in the
// decoded string was in the body, literally or escaped, never made up by the decoder.
func FuzzCheckJSONText(f *testing.F) {
	for _, s := range []string{`"x"`, `"\ud800"`, `"\udc00"`, `"\ud83d\ude00"`, `"\\ud800"`, `"\ufffd"`, "\"\xff\"", `"\ud800\u0041"`, `"\u"`, `"\ud800\`, "\"\ufffd\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var s string
		if checkJSONText(body) != nil || json.Unmarshal(body, &s) != nil {
			return
		}
		if strings.ContainsRune(s, '\ufffd') && !strings.Contains(string(body), "\ufffd") && !strings.Contains(strings.ToLower(string(body)), `\ufffd`) {
			t.Fatalf("%q decoded to %q: altered", body, s)
		}
	})
}
