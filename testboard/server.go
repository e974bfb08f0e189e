package testboard

import "sync"

// Server is a network front end to a board: a WebREPL server or ser2net's
// RFC 2217 port.
type Server struct {
	url   string
	close func() error
	once  sync.Once
	err   error
}

// URL is where clients connect: ws://127.0.0.1:PORT/ for WebREPL,
// rfc2217://127.0.0.1:PORT for RFC 2217.
func (s *Server) URL() string { return s.url }

// Close stops the server and drops its clients. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() { s.err = s.close() })
	return s.err
}
