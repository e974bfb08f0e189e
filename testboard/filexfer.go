package testboard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// The wasm board's file-transfer channel: two pipes beside the serial line,
// on which board.mjs serves WebREPL's PUT and GET against the interpreter's
// filesystem directly, as modwebrepl.c does in C on a real board, without
// the REPL or a running program noticing. The framing (little-endian):
//
//	request: op u8 | name length u16 | data length u32 | name | data
//	answer:  status u8 | data length u32 | data
const (
	fileOpPut byte = 1
	fileOpGet byte = 2
	// The file descriptors the channel has in node: ExtraFiles start at 3.
	fileFDsEnv = "IOT_FILE_FDS=3,4"
)

// errFileFailed is a transfer the board refused (missing file, a
// directory, ...); the channel is still good.
var errFileFailed = errors.New("file transfer refused by the board")

// fileChan is the Go end of one run's file-transfer channel.
type fileChan struct {
	mu     sync.Mutex // one request at a time
	req    *os.File   // to node's fd 3
	ans    *os.File   // from node's fd 4
	broken error      // set when a request was cut short: the stream is out of step
}

func (c *fileChan) close() {
	_ = c.req.Close()
	_ = c.ans.Close()
}

// do sends one request and reads its answer. The board serves it when
// JavaScript has control: at once while the REPL waits, or at the next
// clock poll of a time.sleep while Python runs (never in a pure busy loop,
// where ctx ends the wait).
func (c *fileChan) do(ctx context.Context, op byte, name string, data []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	if len(name) > 0xffff || int64(len(data)) > 0xffffffff {
		return nil, fmt.Errorf("file transfer: name or data too long")
	}
	// Pipes from os.Pipe take deadlines: end a wait when ctx ends.
	stop := context.AfterFunc(ctx, func() {
		_ = c.req.SetWriteDeadline(time.Unix(1, 0))
		_ = c.ans.SetReadDeadline(time.Unix(1, 0))
	})
	defer func() {
		if stop() {
			return
		}
		// ctx ended: the deadlines are set; clear them for the next request.
		_ = c.req.SetWriteDeadline(time.Time{})
		_ = c.ans.SetReadDeadline(time.Time{})
	}()
	out, err := c.exchange(op, name, data)
	if errors.Is(err, errFileFailed) {
		return nil, fmt.Errorf("file transfer %q: %w", name, err)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		c.broken = fmt.Errorf("file transfer channel out of step after: %w", err)
		return nil, fmt.Errorf("file transfer %q: %w", name, err)
	}
	return out, nil
}

func (c *fileChan) exchange(op byte, name string, data []byte) ([]byte, error) {
	hdr := make([]byte, 7, 7+len(name))
	hdr[0] = op
	binary.LittleEndian.PutUint16(hdr[1:], uint16(len(name)))
	binary.LittleEndian.PutUint32(hdr[3:], uint32(len(data)))
	if _, err := c.req.Write(append(hdr, name...)); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	if _, err := c.req.Write(data); err != nil {
		return nil, fmt.Errorf("send data: %w", err)
	}
	var ans [5]byte
	if _, err := io.ReadFull(c.ans, ans[:]); err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	out := make([]byte, binary.LittleEndian.Uint32(ans[1:]))
	if _, err := io.ReadFull(c.ans, out); err != nil {
		return nil, fmt.Errorf("read answer data: %w", err)
	}
	if ans[0] != 0 {
		return nil, errFileFailed
	}
	return out, nil
}

// nativeFile serves a WebREPL PUT or GET on the wasm board through its
// file-transfer channel.
func (b *Board) nativeFile(ctx context.Context, op byte, name string, data []byte) ([]byte, error) {
	b.mu.Lock()
	r := b.cur
	b.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("file transfer %q: board unplugged", name)
	}
	if r.files == nil {
		return nil, fmt.Errorf("file transfer %q: %s board has no native file transfer", name, b.kind)
	}
	return r.files.do(ctx, op, name, data)
}

// newFileChan makes the channel's two pipes; the child gets reqR and ansW.
func newFileChan() (c *fileChan, reqR, ansW *os.File, err error) {
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pipe: %w", err)
	}
	ansR, ansW, err := os.Pipe()
	if err != nil {
		_ = reqR.Close()
		_ = reqW.Close()
		return nil, nil, nil, fmt.Errorf("pipe: %w", err)
	}
	return &fileChan{req: reqW, ans: ansR}, reqR, ansW, nil
}
