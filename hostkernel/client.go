// Package hostkernel is a Jupyter client: it starts a python3 kernel
// (ipykernel) on the host computer and runs code in it, forwarding the
// kernel's output (streams, rich displays, input requests) to a
// kernel.Output. It is what %%host and %store talk to.
package hostkernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// ErrDied is wrapped by the errors of a Client whose kernel process exited.
var ErrDied = errors.New("host python kernel died")

// ErrClosed is returned by a Client after Close.
var ErrClosed = errors.New("host python kernel closed")

// Bounds on waits for the kernel process.
const (
	defaultStartTimeout = 60 * time.Second
	// shutdown_request → exit. ipykernel 6 exits in about 0.2 s; ipykernel
	// 7 sometimes never does while a cell's subprocess lives, and nothing
	// of the kernel's state is worth more than a prompt shutdown.
	shutdownGrace  = 2 * time.Second
	interruptGrace = 10 * time.Second // interrupt → execute_reply, else kill
	// An interrupt not honoured within this is sent again, as a user
	// presses stop twice: ipykernel 7 loses one that comes right after a
	// flushed print, and a program may ignore the first Ctrl-C.
	interruptAgain = 2 * time.Second
	idleGrace      = 10 * time.Second // execute_reply → status idle (last output)
	readyProbe     = 500 * time.Millisecond
	sendTimeout    = 10 * time.Second
)

// Options configure Start.
type Options struct {
	// Dir is the kernel's working directory; "" keeps ours.
	Dir string
	// Logger receives the kernel's own stdout/stderr and protocol
	// diagnostics; nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds the start (process up and answering); 0 means 60 s.
	StartTimeout time.Duration
}

// Request is one execute_request.
type Request struct {
	Code string
	// Silent runs without execute_result, execution count or history.
	Silent bool
	// StoreHistory records the code in the kernel's history (In[n]).
	StoreHistory bool
	// Count is the execution count the caller's notebook shows for this
	// code, 0 for none. Tracebacks then name the host kernel's cells by
	// their callers' counts ("Cell In[7]"), not by the host kernel's own.
	Count int
	// Result, when set, receives the execute_result, which the caller
	// then publishes as its own; otherwise it goes to out as display_data.
	Result func(data kernel.MIMEBundle, metadata map[string]any)
	// NoStdin tells the kernel that the caller's front end cannot answer
	// input(), so that the kernel says so itself (ipykernel raises
	// StdinNotImplementedError) rather than wait for an answer.
	NoStdin bool
}

// Client drives one running kernel process. Its methods are safe for
// concurrent use; executions run one at a time.
type Client struct {
	spec *Spec
	log  *slog.Logger
	sess wire.Session
	cmd  *exec.Cmd
	tmp  string // holds the connection file
	out  *tail  // the process's stdout and stderr, for error messages

	shell, control, stdin, iopub zmq4.Socket
	sendMu                       sync.Mutex

	mu    sync.Mutex
	calls map[string]*call // by request msg_id
	// counts maps the host kernel's execution counts to the callers'
	// (Request.Count), for the cell names in tracebacks.
	counts map[int]int

	exited  chan struct{} // closed when the process has exited
	exitErr error         // cmd.Wait's result, set before exited closes

	execSem   chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	readers   sync.WaitGroup
}

// call collects the messages whose parent is one request.
type call struct {
	ch   chan *wire.Message
	done chan struct{}
}

// Start launches the kernel described by spec and waits until it answers
// on every channel. ctx bounds the start only, not the kernel's life: call
// Close to stop it.
// Python is the interpreter the kernel runs (its spec's first argument).
func (c *Client) Python() string {
	if c.spec == nil || len(c.spec.Argv) == 0 {
		return ""
	}
	return c.spec.Argv[0]
}

func Start(ctx context.Context, spec *Spec, opts Options) (*Client, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	// Ports are picked free and released before the kernel binds them, so
	// another process may take one in between; the kernel then dies with
	// EADDRINUSE and a second try with new ports succeeds.
	for attempt := 1; ; attempt++ {
		c, err := start(ctx, spec, opts)
		if err == nil {
			return c, nil
		}
		if attempt == 3 || !errors.Is(err, errPortTaken) {
			return nil, err
		}
		opts.Logger.Debug("host kernel port clash, retrying", "err", err)
	}
}

func start(ctx context.Context, spec *Spec, opts Options) (_ *Client, err error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("start host kernel: kernelspec has an empty argv")
	}
	tmp, err := os.MkdirTemp("", "iot-hostkernel-")
	if err != nil {
		return nil, fmt.Errorf("start host kernel: %w", err)
	}
	ci, err := newConnInfo()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start host kernel: %w", err)
	}
	connFile, err := writeConnInfo(ci, tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start host kernel: %w", err)
	}
	sign, err := wire.NewSigner(ci.SignatureScheme, ci.Key)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start host kernel: %w", err)
	}

	argv := make([]string, len(spec.Argv))
	for i, a := range spec.Argv {
		a = strings.ReplaceAll(a, "{connection_file}", connFile)
		argv[i] = strings.ReplaceAll(a, "{resource_dir}", spec.ResourceDir)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = opts.Dir
	// JPY_PARENT_PID makes ipykernel exit when we do, as a second line of
	// defence after Pdeathsig (which fires when the starting thread ends).
	cmd.Env = append(os.Environ(), "JPY_PARENT_PID="+strconv.Itoa(os.Getpid()))
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Its own process group, so that an interrupt or a kill reaches the
	// subprocesses a cell started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &tail{log: opts.Logger}
	cmd.Stdout, cmd.Stderr = out, out
	// A subprocess of the kernel may keep the output pipe open after the
	// kernel exits; do not let Wait hang on it.
	cmd.WaitDelay = 2 * time.Second

	c := &Client{
		spec:    spec,
		log:     opts.Logger,
		sess:    wire.NewSession("iot-kernel", sign),
		cmd:     cmd,
		tmp:     tmp,
		out:     out,
		calls:   make(map[string]*call),
		counts:  make(map[int]int),
		exited:  make(chan struct{}),
		execSem: make(chan struct{}, 1),
		closed:  make(chan struct{}),
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start host kernel %s: %w", argv[0], err)
	}
	go func() {
		c.exitErr = cmd.Wait()
		close(c.exited)
	}()
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	err = c.connect(ctx, ci)
	if err == nil {
		err = c.waitReady(ctx)
	}
	if errors.Is(err, ErrDied) && portTaken(ci) {
		return nil, fmt.Errorf("%w: %w", errPortTaken, err)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// connect dials the kernel's channels, retrying while the kernel binds them.
func (c *Client) connect(ctx context.Context, ci *kernel.ConnectionInfo) error {
	zlog := log.New(io.Discard, "", 0)
	id := zmq4.WithID(zmq4.SocketIdentity(c.sess.ID))
	common := []zmq4.Option{zmq4.WithLogger(zlog), zmq4.WithTimeout(sendTimeout), zmq4.WithDialerMaxRetries(0)}
	// ipykernel sends input_request to the identity that sent the
	// execute_request, so shell and stdin share one identity (as in
	// jupyter_client).
	c.shell = zmq4.NewDealer(context.Background(), append(common, id)...)
	c.stdin = zmq4.NewDealer(context.Background(), append(common, id)...)
	c.control = zmq4.NewDealer(context.Background(), append(common, id)...)
	c.iopub = zmq4.NewSub(context.Background(), common...)
	if err := c.iopub.SetOption(zmq4.OptionSubscribe, ""); err != nil {
		return fmt.Errorf("start host kernel: subscribe iopub: %w", err)
	}
	for _, s := range []struct {
		sock zmq4.Socket
		port int
		name string
	}{{c.shell, ci.ShellPort, "shell"}, {c.control, ci.ControlPort, "control"}, {c.stdin, ci.StdinPort, "stdin"}, {c.iopub, ci.IOPubPort, "iopub"}} {
		if err := c.dial(ctx, s.sock, s.port); err != nil {
			return fmt.Errorf("start host kernel: connect %s: %w", s.name, err)
		}
		c.readers.Add(1)
		go c.read(s.sock, s.name)
	}
	return nil
}

// dial connects sock to port, retrying until the kernel listens on it.
func (c *Client) dial(ctx context.Context, sock zmq4.Socket, port int) error {
	addr := "tcp://127.0.0.1:" + strconv.Itoa(port)
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	for {
		err := sock.Dial(addr)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		case <-c.exited:
			return c.diedError("during start")
		case <-retry.C:
		}
	}
}

// read is the one goroutine receiving on sock; it routes each message to
// the call waiting for its parent request.
func (c *Client) read(sock zmq4.Socket, name string) {
	defer c.readers.Done()
	for {
		raw, err := sock.Recv()
		if err != nil {
			select {
			case <-c.closed:
				return
			case <-c.exited:
				return
			default:
			}
			c.log.Debug("host kernel recv", "channel", name, "err", err)
			// zmq4 reports a dropped connection once; if it was the kernel
			// dying, exited closes shortly and this loop ends.
			continue
		}
		m, err := wire.Decode(raw.Frames, c.sess.Signer)
		if err != nil {
			c.log.Debug("host kernel: dropped message", "channel", name, "err", err)
			continue
		}
		c.mu.Lock()
		cl := c.calls[m.Parent().MsgID]
		c.mu.Unlock()
		if cl == nil {
			continue // status of requests no one waits for any more
		}
		select {
		case cl.ch <- m:
		case <-cl.done:
		case <-c.closed:
			return
		}
	}
}

// send encodes and sends one message, registering a call for its replies
// when register is true.
func (c *Client) send(sock zmq4.Socket, typ wire.MsgType, parent json.RawMessage, content any, register bool) (*call, string, error) {
	frames, h, err := c.sess.Compose(nil, parent, typ, content)
	if err != nil {
		return nil, "", err
	}
	id := h.MsgID
	var cl *call
	if register {
		cl = &call{ch: make(chan *wire.Message, 64), done: make(chan struct{})}
		c.mu.Lock()
		c.calls[id] = cl
		c.mu.Unlock()
	}
	c.sendMu.Lock()
	err = sock.Send(zmq4.NewMsgFrom(frames...))
	c.sendMu.Unlock()
	if err != nil {
		if cl != nil {
			c.forget(id, cl)
		}
		return nil, "", fmt.Errorf("send %s to host kernel: %w", typ, err)
	}
	return cl, id, nil
}

func (c *Client) forget(id string, cl *call) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
	close(cl.done)
}

// waitReady sends kernel_info until both its reply and an iopub message for
// it arrive: a SUB socket misses what is published before its subscription
// reaches the kernel (the slow-joiner effect), so the first execute would
// otherwise lose output.
func (c *Client) waitReady(ctx context.Context) error {
	for {
		cl, id, err := c.send(c.shell, wire.MsgKernelInfoRequest, nil, struct{}{}, true)
		if err != nil {
			return fmt.Errorf("start host kernel: %w", err)
		}
		ready, err := c.probe(ctx, cl)
		c.forget(id, cl)
		if err != nil || ready {
			return err
		}
	}
}

// probe waits for a kernel_info reply and an iopub message of the same
// request. It reports false when the reply came but nothing on iopub
// followed within readyProbe: the subscription was not live yet.
func (c *Client) probe(ctx context.Context, cl *call) (bool, error) {
	gotReply, gotIOPub := false, false
	var timeout <-chan time.Time
	for {
		select {
		case m := <-cl.ch:
			if m.Header.MsgType == wire.MsgKernelInfoReply {
				gotReply = true
				timeout = time.After(readyProbe)
			} else {
				gotIOPub = true
			}
			if gotReply && gotIOPub {
				return true, nil
			}
		case <-timeout:
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("start host kernel: no answer: %w%s", context.Cause(ctx), c.out.suffix())
		case <-c.exited:
			return false, c.diedError("during start")
		}
	}
}
