package neterr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestReason(t *testing.T) {
	// A port nobody listens on: listen, note the port, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	_, refused := d.DialContext(ctx, "tcp", addr)
	if refused == nil {
		t.Skip("something listens on a just-closed port")
	}
	wrapped := fmt.Errorf("failed to send handshake request: %w", refused)
	for err, want := range map[error]string{
		wrapped: "connection refused",
		&net.DNSError{Name: "nosuch.invalid", IsNotFound: true}: "no host is called nosuch.invalid",
		fmt.Errorf("x: %w", context.DeadlineExceeded):           "no answer in time",
		errors.New("something else"):                            "something else",
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
	e := &Error{Msg: "short", Err: wrapped}
	if e.Error() != "short" || !errors.Is(e, syscall.ECONNREFUSED) {
		t.Errorf("Error = %q; errors.Is ECONNREFUSED = %v", e, errors.Is(e, syscall.ECONNREFUSED))
	}
}
