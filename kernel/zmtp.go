package kernel

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
)

// The kernel's sockets are built from zmq4's exported handshake (zmq4.Open)
// plus a frame reader and writer of our own. zmq4's socket types are not
// used on the kernel side: its PUB stalls every subscriber behind a slow one
// (upstream issue 151), and its frame reader allocates whatever length a peer
// announces. After the handshake only the NULL mechanism is in use, so frames
// travel unencrypted and are simple to read and write directly.

const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04

	// maxMessageBytes bounds one inbound ZMTP message (all frames) on the
	// heartbeat and IOPub sockets, whose messages are small. Larger
	// messages close the connection instead of exhausting memory.
	maxMessageBytes = 256 << 20
	// maxSkipBytes bounds a frame that readMessageLimit reads past to drop
	// its message; a longer one is no Jupyter message and closes the
	// connection.
	maxSkipBytes = 1 << 40
	// maxFrames bounds the number of frames of one inbound message.
	maxFrames = 4096

	handshakeTimeout = 5 * time.Second
)

var errMessageTooLarge = errors.New("zmtp: message too large")

// droppedError reports a message over the bound that was read past and
// dropped, without keeping it: the connection goes on.
type droppedError struct {
	size  uint64 // bytes of the message
	limit int
}

func (e *droppedError) Error() string {
	return fmt.Sprintf("message of %d bytes is over the limit of %d bytes: dropped", e.size, e.limit)
}

func (e *droppedError) Unwrap() error { return errMessageTooLarge }

// zmtpMessage is one inbound ZMTP message or command.
type zmtpMessage struct {
	frames  [][]byte
	command bool
}

// frameSink sees the frames of a message readMessageLimit drops.
type frameSink interface {
	// Frame returns where frame i's bytes go as they are discarded (nil:
	// nowhere); frames come in order.
	Frame(i int) io.Writer
}

// readMessage reads one ZMTP message (or command) with bounded allocation.
func readMessage(r *bufio.Reader) (zmtpMessage, error) {
	m, err := readMessageLimit(r, maxMessageBytes, nil)
	var d *droppedError
	if errors.As(err, &d) {
		err = errMessageTooLarge
	}
	return m, err
}

// readMessageLimit reads one ZMTP message (or command) of at most limit
// bytes. A larger message is read to its end without being kept, and
// returned as a *droppedError, so the connection can go on; a frame too
// long to skip returns errMessageTooLarge. When the message passes the
// limit, over (if not nil) is given the frames read whole until then,
// which are let go, and returns the sink of the frames after.
func readMessageLimit(r *bufio.Reader, limit int, over func(kept [][]byte) frameSink) (zmtpMessage, error) {
	var msg zmtpMessage
	total := uint64(0)
	dropping := false
	var sink frameSink
	for frames := 0; ; frames++ {
		flags, err := r.ReadByte()
		if err != nil {
			if frames > 0 {
				return msg, unexpected(err)
			}
			return msg, err
		}
		var size uint64
		if flags&flagLong != 0 {
			var b [8]byte
			if _, err := io.ReadFull(r, b[:]); err != nil {
				return msg, unexpected(err)
			}
			size = binary.BigEndian.Uint64(b[:])
		} else {
			b, err := r.ReadByte()
			if err != nil {
				return msg, unexpected(err)
			}
			size = uint64(b)
		}
		if size > maxSkipBytes || frames >= maxFrames {
			return msg, errMessageTooLarge
		}
		total += size
		if !dropping && total > uint64(limit) {
			if over != nil {
				sink = over(msg.frames)
			}
			dropping, msg.frames = true, nil
		}
		if dropping {
			var w io.Writer = io.Discard
			if sink != nil {
				if fw := sink.Frame(frames); fw != nil {
					w = fw
				}
			}
			if _, err := io.CopyN(w, r, int64(size)); err != nil {
				return msg, unexpected(err)
			}
		} else {
			frame := make([]byte, size)
			if _, err := io.ReadFull(r, frame); err != nil {
				return msg, unexpected(err)
			}
			msg.frames = append(msg.frames, frame)
		}
		if flags&flagCommand != 0 || flags&flagMore == 0 {
			msg.command = flags&flagCommand != 0
			if dropping {
				return zmtpMessage{}, &droppedError{size: total, limit: limit}
			}
			return msg, nil // commands are a single frame
		}
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// buffersWriter writes buffers in order with vectored writes (a raw conn:
// net.Buffers writes one at a time to any writer but net's own).
type buffersWriter interface {
	WriteBuffers(bufs [][]byte) (int64, error)
}

// writeMessage writes frames as one ZMTP message in a single write.
func writeMessage(w io.Writer, frames [][]byte) error {
	bufs := make(net.Buffers, 0, 2*len(frames))
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags |= flagMore
		}
		var hdr []byte
		if len(f) > 255 {
			hdr = make([]byte, 9)
			hdr[0] = flags | flagLong
			binary.BigEndian.PutUint64(hdr[1:], uint64(len(f)))
		} else {
			hdr = []byte{flags, byte(len(f))}
		}
		bufs = append(bufs, hdr, f)
	}
	if bw, ok := w.(buffersWriter); ok {
		_, err := bw.WriteBuffers(bufs)
		return err
	}
	_, err := bufs.WriteTo(w)
	return err
}

// commandName splits a ZMTP command frame into its name and body.
func commandName(frame []byte) (name string, body []byte, ok bool) {
	if len(frame) < 1 || len(frame) < 1+int(frame[0]) {
		return "", nil, false
	}
	n := int(frame[0])
	return string(frame[1 : 1+n]), frame[1+n:], true
}

// handshake performs the ZMTP 3 greeting and NULL-mechanism READY exchange
// as the server side of a socket of type typ. It returns the peer's
// Identity property (may be empty).
func handshake(c net.Conn, typ zmq4.SocketType) (identity []byte, err error) {
	// zmq4's metadata parser indexes a peer's READY body without checking
	// every bound; a malformed peer must not take the kernel down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("zmtp handshake: malformed peer data: %v", r)
		}
	}()
	if err := c.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return nil, fmt.Errorf("zmtp handshake: %w", err)
	}
	zc, err := zmq4.Open(&handshakeConn{Conn: c}, null.Security(), typ, nil, true, nil)
	if err != nil {
		return nil, fmt.Errorf("zmtp handshake: %w", err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("zmtp handshake: %w", err)
	}
	return []byte(zc.Peer.Meta["Identity"]), nil
}

// maxHandshakeFrame bounds one frame of a peer's handshake: its READY
// command holds a socket type and an identity of at most 255 bytes.
const maxHandshakeFrame = 64 << 10

// zmtpGreetingLen is the size of the ZMTP 3 greeting.
const zmtpGreetingLen = 64

// handshakeConn is a peer's connection while zmq4 reads its handshake. zmq4
// allocates whatever length a frame announces, so a peer could crash the
// kernel with a few bytes: the length of each frame is checked here before
// zmq4 is given its last byte. zmq4 reads exactly what it needs, so these
// are the handshake's bytes only.
type handshakeConn struct {
	net.Conn
	greeting int    // greeting bytes passed
	hdr      []byte // the frame header read so far
	body     uint64 // bytes of the current frame's body still to come
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for _, b := range p[:n] {
		if e := c.step(b); e != nil {
			return 0, e
		}
	}
	return n, err
}

// step follows one byte of the peer's stream: greeting, then frames.
func (c *handshakeConn) step(b byte) error {
	switch {
	case c.greeting < zmtpGreetingLen:
		c.greeting++
		return nil
	case c.body > 0:
		c.body--
		return nil
	}
	c.hdr = append(c.hdr, b)
	need := 2
	if c.hdr[0]&flagLong != 0 {
		need = 9
	}
	if len(c.hdr) < need {
		return nil
	}
	size := uint64(c.hdr[1])
	if need == 9 {
		size = binary.BigEndian.Uint64(c.hdr[1:])
	}
	c.hdr = c.hdr[:0]
	if size > maxHandshakeFrame {
		return fmt.Errorf("the peer announced a handshake frame of %d bytes (at most %d): not a Jupyter client", size, maxHandshakeFrame)
	}
	c.body = size
	return nil
}
