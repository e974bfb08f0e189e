//go:build !linux

package rawio

const supported = false

// Read is not available here (New fails first).
func (c *Conn) Read(p []byte) (int, error) { return 0, ErrUnsupported }

// ReadNow is not available here (New fails first).
func (c *Conn) ReadNow(p []byte) (int, error) { return 0, ErrUnsupported }

// Write is not available here (New fails first).
func (c *Conn) Write(p []byte) (int, error) { return 0, ErrUnsupported }

// WriteNow is not available here (New fails first).
func (c *Conn) WriteNow(p []byte) (int, error) { return 0, ErrUnsupported }

// WriteBuffers is not available here (New fails first).
func (c *Conn) WriteBuffers(bufs [][]byte) (int64, error) { return 0, ErrUnsupported }
