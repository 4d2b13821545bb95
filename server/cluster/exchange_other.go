//go:build !linux

package cluster

import "errors"

const exchangeSupported = false

func exchange(string, string) error { return errors.ErrUnsupported }
