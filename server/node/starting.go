package node

import (
	"context"
	"sync/atomic"

	"github.com/zato-go/zato/server/runtime"
)

// startingRuntime is the runtime as service-sources.txt and the cluster use it, telling the process that started the
// server (Options.Progress) of each import while the server starts: each import has a limit of its own
// (import_timeout), and a start that imports many modules, each in its time, must not be killed for being slow in
// all. Once the server is live it says nothing more.
type startingRuntime struct {
	*runtime.Runtime
	progress func(what string)
	live     atomic.Bool
}

func (s *startingRuntime) Load(ctx context.Context, module, filename string, source []byte) (runtime.LoadResult, error) {
	s.say("importing " + module)
	return s.Runtime.Load(ctx, module, filename, source)
}

func (s *startingRuntime) ImportDotted(ctx context.Context, dotted string) (runtime.LoadResult, error) {
	s.say("importing " + dotted)
	return s.Runtime.ImportDotted(ctx, dotted)
}

func (s *startingRuntime) say(what string) {
	if s.progress != nil && !s.live.Load() {
		s.progress(what)
	}
}
