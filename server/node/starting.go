package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zato-go/zato/server/runtime"
)

// slowImport is how long an import at start runs before the log says so: a start that imports for long is seen
// to be alive by whoever reads the log while zato status says starting.
const slowImport = 5 * time.Second

// startingRuntime is the runtime as service-sources.txt and the cluster use it, telling the process that started the
// server (Options.Progress) of each import while the server starts: each import has a limit of its own
// (import_timeout), and a start that imports many modules, each in its time, must not be killed for being slow in
// all. Once the server is live it says nothing more.
type startingRuntime struct {
	*runtime.Runtime
	progress func(what string)
	log      *slog.Logger
	live     atomic.Bool
}

func (s *startingRuntime) Load(ctx context.Context, module, filename string, source []byte) (runtime.LoadResult, error) {
	defer s.say(module)()
	return s.Runtime.Load(ctx, module, filename, source)
}

func (s *startingRuntime) ImportDotted(ctx context.Context, dotted string) (runtime.LoadResult, error) {
	defer s.say(dotted)()
	return s.Runtime.ImportDotted(ctx, dotted)
}

// say tells of an import while the server starts: at once to the process that started it, and in the log once it
// has taken slowImport. The function it returns ends the import.
func (s *startingRuntime) say(module string) func() {
	if s.live.Load() {
		return func() {}
	}
	if s.progress != nil {
		s.progress("importing " + module)
	}
	started := time.Now()
	t := time.AfterFunc(slowImport, func() {
		s.log.Info(fmt.Sprintf("Starting: importing %s has taken %s so far", module, time.Since(started).Round(time.Second)))
	})
	return func() { t.Stop() }
}
