// Package kernel is the Jupyter side of iot-kernel: the messaging protocol
// 5.3 over ZeroMQ (the five channels; the wire format, HMAC signing and
// message content are in package kernel/wire, shared with the client in
// package hostkernel) and a core that owns the execution counter,
// busy/idle, replies and IOPub, and hands code to an Interpreter. It knows
// nothing about boards.
//
// A command reads the connection file, builds a Server and serves:
//
//	ci, err := kernel.ReadConnectionFile(path)
//	srv, err := kernel.NewServer(kernel.Config{Conn: ci, Interp: interp, Version: version})
//	go func() { <-kernel.WatchParent(ctx, ppid); stop() }()
//	err = srv.Serve(ctx) // until shutdown_request or ctx ends
//
// Sockets are zmq4 handshakes (github.com/go-zeromq/zmq4) under frame I/O of
// this package: ROUTER for shell, control and stdin, REP for heartbeat, and
// a PUB with one bounded queue per subscriber for IOPub.
package kernel
