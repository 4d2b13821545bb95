//go:build !linux

package pickup

// watch uses fsnotify where inotify's close-write is not available: a file is taken once it stopped changing.
var watch = watchFsnotify
