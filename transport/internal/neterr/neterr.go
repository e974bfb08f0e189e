// Package neterr says in a few words why a network connection failed, so
// that a link's error reads as one sentence instead of the chain of every
// layer it went through (HTTP, WebSocket, dial), while keeping that chain
// for errors.Is and the debug log.
package neterr

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
)

// Error is a failure with a short message of its own over the full one.
type Error struct {
	Msg string
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the full error.
func (e *Error) Unwrap() error { return e.Err }

// Reason is a few words on why err, a failed connection, failed; an error
// of no known kind is given whole.
func Reason(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "the host is unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "the connection was reset"
	case errors.As(err, &dns) && dns.IsNotFound:
		return "no host is called " + dns.Name
	case errors.As(err, &dns):
		return "cannot look up " + dns.Name
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	}
	return err.Error()
}
