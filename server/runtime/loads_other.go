//go:build !linux

package runtime

import "errors"

// Loads at idle CPU priority need Linux's cpu cgroups.
type loadsGroup struct{}

func newLoadsGroup(string) (*loadsGroup, error) {
	return nil, errors.New("idle CPU priority for imports is a Linux feature")
}

func (g *loadsGroup) tasks() string         { return "" }
func (g *loadsGroup) remove()               {}
func (g *loadsGroup) during(*worker) func() { return func() {} }
