package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// Implementation is the implementation name in kernel_info_reply.
const Implementation = "iot-kernel"

// Bounds of a shutdown; together they keep Serve's return under a second.
const (
	shutdownShellWait = 300 * time.Millisecond // for a cell to end after its ctx is cancelled
	shutdownInterp    = 400 * time.Millisecond // for Interpreter.Shutdown
	shutdownIOPub     = 200 * time.Millisecond // for subscribers to receive what is queued
)

// Config configures a Server.
type Config struct {
	Conn   ConnectionInfo
	Interp Interpreter
	// Logger receives the kernel's logs; nil means slog.Default().
	Logger *slog.Logger
	// Version is reported as implementation_version in kernel_info_reply.
	Version string
	// IOPubQueueBytes bounds each IOPub subscriber's queue; 0 means 32 MiB.
	IOPubQueueBytes int
	// MaxMessageBytes bounds a message received on the shell, control and
	// stdin channels (all its frames); a larger one is dropped with a
	// logged error without being held, and, when signed, a request is
	// answered with a MessageTooLarge error that says how to raise the
	// limit. 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int
}

// DefaultMaxMessageBytes is the default bound on a received message: a
// cell of millions of characters fits, and a message at the bound keeps
// the kernel's memory within a few tens of MB while it is handled.
const DefaultMaxMessageBytes = 16 << 20

// Server is a Jupyter kernel core: it owns the five sockets, the execution
// counter and the protocol, and hands code to an Interpreter.
type Server struct {
	cfg  Config
	log  *slog.Logger
	conn ConnectionInfo
	sess wire.Session

	shell, control, stdin *router
	hb                    *acceptor
	iopub                 *publisher

	// Shell goroutine only.
	count     int    // execution counter
	abortMark uint64 // shell requests that arrived up to this seq are aborted
	// lingering is the output of the last cell that ran, still open for
	// the stream text its interpreter reports after it (a board's timer
	// printing), until the next cell begins.
	lingering *cellOutput

	base context.Context // parent of every cell's ctx; cancelled on shutdown

	execMu     sync.Mutex
	cancelExec context.CancelCauseFunc // the running cell's, nil when idle
	// A stop that found no cell running: the shell requests read by then
	// (seq up to this) include the cell it was meant for.
	interruptMark uint64

	inputMu  sync.Mutex // one input_request at a time
	waiterMu sync.Mutex
	waiter   chan inputAnswer // where the next input_reply goes

	stop     chan struct{} // closed when the kernel is to stop
	stopOnce sync.Once
	restart  atomic.Bool
	served   atomic.Bool
}

// NewServer checks cfg and binds the five sockets. Call Serve to answer.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Interp == nil {
		return nil, errors.New("kernel: Config.Interp is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	ci := cfg.Conn
	if err := ci.validate(); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	sign, err := wire.NewSigner(ci.SignatureScheme, ci.Key)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}

	ports := []*int{&ci.ShellPort, &ci.IOPubPort, &ci.StdinPort, &ci.ControlPort, &ci.HBPort}
	lns := make([]net.Listener, 0, len(ports))
	for _, p := range ports {
		ln, err := listen(ci.Transport, ci.IP, *p)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("kernel: %w", err)
		}
		if ci.Transport == "tcp" {
			*p = port(ln)
		}
		lns = append(lns, ln)
	}

	maxMsg := cfg.MaxMessageBytes
	if maxMsg <= 0 {
		maxMsg = DefaultMaxMessageBytes
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		conn:    ci,
		sess:    wire.NewSession("kernel", sign),
		shell:   newRouter("shell", lns[0], log, maxMsg, sign),
		iopub:   newPublisher(lns[1], log, cfg.IOPubQueueBytes),
		stdin:   newRouter("stdin", lns[2], log, maxMsg, sign),
		control: newRouter("control", lns[3], log, maxMsg, sign),
		hb:      newHeartbeat(lns[4], log),
		stop:    make(chan struct{}),
	}
	return s, nil
}

// ConnectionInfo returns the connection with the ports actually bound.
func (s *Server) ConnectionInfo() ConnectionInfo { return s.conn }

// Restart reports whether the shutdown_request that stopped Serve asked
// for a restart.
func (s *Server) Restart() bool { return s.restart.Load() }

// Serve answers clients until a shutdown_request arrives (it then returns
// nil) or ctx ends (it returns context.Cause(ctx)). Either way it cancels a
// running cell with cause ErrShutdown, calls Interpreter.Shutdown, closes
// the sockets and returns within about a second. Serve may be called once.
func (s *Server) Serve(ctx context.Context) error {
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("kernel: Serve called twice")
	}
	base, cancelBase := context.WithCancelCause(context.WithoutCancel(ctx))
	s.base = base
	for _, a := range []*acceptor{s.shell.acc, s.control.acc, s.stdin.acc, s.hb, s.iopub.acc} {
		go a.serve()
	}
	shellDone := make(chan struct{})
	go func() {
		defer close(shellDone)
		s.loop(s.shell)
	}()
	go s.loop(s.control)
	go s.serveStdin()
	s.log.Info("kernel listening", "conn", s.conn, "version", s.cfg.Version)

	var err error
	select {
	case <-s.stop:
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	s.teardown(cancelBase, shellDone)
	return err
}

func (s *Server) requestStop() {
	s.stopOnce.Do(func() { close(s.stop) })
}

func (s *Server) teardown(cancelBase context.CancelCauseFunc, shellDone <-chan struct{}) {
	s.requestStop()
	cancelBase(ErrShutdown)
	t := time.NewTimer(shutdownShellWait)
	select {
	case <-shellDone:
	case <-t.C:
		s.log.Warn("cell did not end after shutdown was requested")
	}
	t.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownInterp)
	if err := s.cfg.Interp.Shutdown(ctx, s.restart.Load()); err != nil {
		s.log.Warn("interpreter shutdown", "err", err)
	}
	cancel()
	s.iopub.shutdown(shutdownIOPub)
	s.shell.close()
	s.control.close()
	s.stdin.close()
	s.hb.close()
	s.log.Info("kernel stopped", "restart", s.restart.Load())
}

// loop serves one request channel (shell or control) until stop.
func (s *Server) loop(ch *router) {
	for {
		select {
		case <-s.stop:
			return
		case in := <-ch.in:
			ch.take(in)
			select {
			case <-s.stop:
				return
			default:
			}
			s.dispatch(ch, in)
		}
	}
}

// frames builds a signed message to identities with the given parent.
func (s *Server) frames(ids [][]byte, parent *wire.Message, t wire.MsgType, content any) ([][]byte, error) {
	var ph json.RawMessage
	if parent != nil {
		ph = parent.RawHeader
	}
	f, _, err := s.sess.Compose(ids, ph, t, content)
	return f, err
}

// publish sends an IOPub message with parent as its parent_header.
func (s *Server) publish(parent *wire.Message, t wire.MsgType, content any) {
	topic := []byte("kernel." + s.sess.ID + "." + string(t))
	f, err := s.frames([][]byte{topic}, parent, t, content)
	if err != nil {
		s.log.Error("cannot publish", "msg_type", t, "err", err)
		return
	}
	s.iopub.publish(f)
}

// reply answers req on the channel it came from.
func (s *Server) reply(ch *router, req *wire.Message, t wire.MsgType, content any) {
	f, err := s.frames(req.Identities, req, t, content)
	if err != nil {
		// Content the interpreter gave cannot be encoded: say so instead
		// of leaving the client waiting.
		s.log.Error("cannot encode reply", "msg_type", t, "err", err)
		f, err = s.frames(req.Identities, req, t, errorReplyOf(&ExecError{Name: "KernelError", Value: err.Error()}))
		if err != nil {
			return
		}
	}
	if err := ch.send(f); err != nil {
		s.log.Warn("reply not delivered", "channel", ch.name, "msg_type", t, "err", err)
	}
}
