package lsp

import (
	"encoding/json"
	"testing"

	"go.lsp.dev/protocol"
)

// FuzzCommandArguments: whatever an editor sends as a command's argument or as settings, decoding never panics.
func FuzzCommandArguments(f *testing.F) {
	f.Add([]byte(`"file:///w/x.py"`))
	f.Add([]byte(`{"uri": "file:///w/x.py", "service": "x.s", "line": 3, "payload": {"a": 1}}`))
	f.Add([]byte(`{"zato": {"url": "http://a:1", "targets": {"S": {"url": "x"}}, "deployOnSave": "yes"}}`))
	f.Add([]byte(`[1, null, {}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		args := []protocol.LSPAny{protocol.LSPAny(json.RawMessage(b))}
		_, _ = parseArg(args)
		_, _ = parseInvokeArg(args)
		_ = decodeSettings(json.RawMessage(b))
	})
}
