// Package urlopt reads the options that the serial links (serial ports and
// RFC 2217) take in their URL's query, so both follow the same rules.
package urlopt

import (
	"fmt"
	"net/url"
	"strconv"
)

// Baud reads the "baud" parameter of q: 0 when there is none, an error
// when it is not a positive number.
func Baud(q url.Values) (int, error) {
	s := q.Get("baud")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("baud %q is not a positive number", s)
	}
	return n, nil
}

// PickBaud returns the line rate to set: the URL's, else the one in the
// link's options, else the link's default (0 means not given).
func PickBaud(fromURL, fromOptions, def int) int {
	switch {
	case fromURL != 0:
		return fromURL
	case fromOptions != 0:
		return fromOptions
	default:
		return def
	}
}
