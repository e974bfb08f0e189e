//go:build !unix

package kernel

import "context"

// WatchParent returns a channel that would be closed when the parent dies.
// On this platform parent death is not detected and the channel never
// closes.
func WatchParent(ctx context.Context, pid int) <-chan struct{} {
	return make(chan struct{})
}
