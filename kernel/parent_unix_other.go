//go:build unix && !linux

package kernel

import "errors"

// watchExits is unsupported here: WatchParent polls instead.
func watchExits([]int) (<-chan struct{}, func(), error) {
	return nil, nil, errors.ErrUnsupported
}
