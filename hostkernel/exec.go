package hostkernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/iot-kernel/iot-kernel/kernel"
	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// Execute runs code as a notebook cell of the host kernel (counted, kept in
// its history) and forwards its output to out as it arrives: streams,
// display_data and update_display_data unchanged, execute_result as a
// display, clear_output, and input() prompts through out.Input.
//
// It returns the execute_reply status ("ok", "error", "aborted"). An
// exception in the code gives status "error" and a *kernel.ExecError whose
// value and traceback are free of ANSI colour codes. Cancelling ctx
// interrupts the kernel and waits for the cell to stop (the error is then
// usually KeyboardInterrupt); a kernel that does not stop within 10 s is
// killed. When ctx's cause is kernel.ErrShutdown it returns at once.
func (c *Client) Execute(ctx context.Context, code string, out kernel.Output) (string, error) {
	return c.Run(ctx, Request{Code: code, StoreHistory: true}, out)
}

// Run is Execute with the request's options spelled out.
func (c *Client) Run(ctx context.Context, req Request, out kernel.Output) (string, error) {
	select {
	case c.execSem <- struct{}{}:
		defer func() { <-c.execSem }()
	case <-ctx.Done():
		return "", context.Cause(ctx)
	case <-c.closed:
		return "", ErrClosed
	}
	select {
	case <-c.closed:
		return "", ErrClosed
	default:
	}
	select {
	case <-c.exited:
		return "", c.diedError("")
	default:
	}
	// A death during this cell is told with what the process wrote
	// during it, not with its start's warnings.
	c.out.reset()
	cl, id, err := c.send(c.shell, wire.MsgExecuteRequest, nil, wire.ExecuteRequest{
		Code:            req.Code,
		Silent:          req.Silent,
		StoreHistory:    new(req.StoreHistory),
		UserExpressions: map[string]any{},
		AllowStdin:      new(!req.NoStdin),
		StopOnError:     new(false),
	}, true)
	if err != nil {
		return "", err
	}
	defer c.forget(id, cl)
	// Input prompts are answered on their own goroutine, so output printed
	// just before input() (which may arrive after the prompt) still shows.
	inCtx, cancelInput := context.WithCancel(ctx)
	defer cancelInput()

	var (
		reply         *wire.ExecuteReplyError
		idle          bool
		iopubErr      *kernel.ExecError
		done          = ctx.Done()
		afterReply    <-chan time.Time
		interruptWait <-chan time.Time
		again         <-chan time.Time // sends the interrupt once more
	)
	for reply == nil || !idle {
		select {
		case m := <-cl.ch:
			switch m.Header.MsgType {
			case wire.MsgExecuteReply:
				reply = &wire.ExecuteReplyError{}
				if err := json.Unmarshal(m.Content, reply); err != nil {
					return "", fmt.Errorf("host kernel: bad execute_reply: %w", err)
				}
				afterReply = time.After(idleGrace)
				// The cell has ended: no more interrupts (a stop now would
				// reach what earlier cells left running), no kill.
				done, again, interruptWait = nil, nil, nil
			case wire.MsgStatus:
				var st wire.StatusContent
				if json.Unmarshal(m.Content, &st) == nil && st.ExecutionState == "idle" {
					idle = true
				}
			case wire.MsgInputRequest:
				var ir wire.InputRequest
				if err := json.Unmarshal(m.Content, &ir); err != nil {
					c.log.Debug("host kernel: bad input_request", "err", err)
					continue
				}
				go c.answerInput(inCtx, out, ir, m.RawHeader)
			case wire.MsgError:
				var e wire.ErrorContent
				if json.Unmarshal(m.Content, &e) == nil {
					iopubErr = execError(e.Ename, e.Evalue, e.Traceback)
				}
			case wire.MsgExecuteResult:
				result(m, out, req, c.log)
			default:
				forward(m, out, c.log)
			}
		case <-afterReply:
			// The reply came but not the idle status that follows the
			// last output; do not wait for ever on a lost message.
			c.log.Debug("host kernel: no idle status after execute_reply")
			idle = true
		case <-done:
			if errors.Is(context.Cause(ctx), kernel.ErrShutdown) {
				return "", context.Cause(ctx)
			}
			done = nil
			if err := c.Interrupt(); err != nil {
				c.log.Debug("host kernel: interrupt", "err", err)
			}
			interruptWait = time.After(interruptGrace)
			again = time.After(interruptAgain)
		case <-again:
			c.log.Debug("host kernel: still running after an interrupt; interrupting again")
			if err := c.Interrupt(); err != nil {
				c.log.Debug("host kernel: interrupt", "err", err)
			}
			again = time.After(interruptAgain)
		case <-interruptWait:
			c.kill()
			// Until the process is reaped, Done is open and the next
			// %%host cell would get this kernel, dead.
			select {
			case <-c.exited:
			case <-time.After(reapWait):
				c.log.Warn("host kernel: killed, and not yet reaped", "after", reapWait)
			}
			return "", fmt.Errorf("host kernel did not stop within %v of an interrupt and was killed: %w", interruptGrace, context.Cause(ctx))
		case <-c.exited:
			// What it sent before it died is still shown: its last output
			// says most about why.
			c.drainOutputs(cl, out, req)
			return "", c.diedError("")
		case <-c.closed:
			return "", ErrClosed
		}
	}
	if req.Count > 0 && req.StoreHistory && !req.Silent && reply.ExecutionCount > 0 {
		c.mu.Lock()
		c.counts[reply.ExecutionCount] = req.Count
		c.mu.Unlock()
	}
	switch reply.Status {
	case wire.StatusOK:
		return reply.Status, nil
	case wire.StatusError:
		e := execError(reply.Ename, reply.Evalue, reply.Traceback)
		if e.Name == "" && iopubErr != nil {
			e = iopubErr
		}
		c.relabel(e.Traceback)
		return reply.Status, e
	default:
		return reply.Status, fmt.Errorf("host kernel: execution %s", reply.Status)
	}
}

// reapWait bounds the wait for a killed kernel's process to be reaped
// (cmd.WaitDelay is 2 s, for a child still holding its output pipe).
const reapWait = 3 * time.Second

// drainQuiet and drainMax bound drainOutputs: the outputs of a kernel that
// died keep arriving until its socket is read to the end.
const (
	drainQuiet = 50 * time.Millisecond
	drainMax   = time.Second
)

// drainOutputs forwards the outputs of a kernel that died that are still
// on their way, until none has come for drainQuiet (drainMax at most).
func (c *Client) drainOutputs(cl *call, out kernel.Output, req Request) {
	quiet := time.NewTimer(drainQuiet)
	defer quiet.Stop()
	total := time.NewTimer(drainMax)
	defer total.Stop()
	for {
		select {
		case m := <-cl.ch:
			switch m.Header.MsgType {
			case wire.MsgStatus, wire.MsgExecuteReply, wire.MsgInputRequest, wire.MsgError:
			case wire.MsgExecuteResult:
				result(m, out, req, c.log)
			default:
				forward(m, out, c.log)
			}
			quiet.Reset(drainQuiet)
		case <-quiet.C:
			return
		case <-total.C:
			return
		}
	}
}

// result passes a cell's value on: to req.Result when set, else to out.
func result(m *wire.Message, out kernel.Output, req Request, log interface{ Debug(string, ...any) }) {
	if req.Result == nil {
		forward(m, out, log)
		return
	}
	var d wire.DisplayData
	if err := json.Unmarshal(m.Content, &d); err == nil {
		req.Result(d.Data, d.Metadata)
	}
}

// forward passes one output message on to out.
func forward(m *wire.Message, out kernel.Output, log interface{ Debug(string, ...any) }) {
	switch m.Header.MsgType {
	case wire.MsgStream:
		var s wire.StreamContent
		if err := json.Unmarshal(m.Content, &s); err == nil {
			out.Stream(s.Name, s.Text)
		}
	case wire.MsgDisplayData, wire.MsgUpdateDisplayData, wire.MsgExecuteResult:
		var d wire.DisplayData
		if err := json.Unmarshal(m.Content, &d); err == nil {
			var id string
			if d.Transient != nil {
				id = d.Transient.DisplayID
			}
			out.Display(d.Data, d.Metadata, id, m.Header.MsgType == wire.MsgUpdateDisplayData)
		}
	case wire.MsgClearOutput:
		var cc wire.ClearOutput
		if err := json.Unmarshal(m.Content, &cc); err == nil {
			out.ClearOutput(cc.Wait)
		}
	case wire.MsgExecuteInput:
	default:
		// comm messages (widgets) and anything newer: not passed on.
		log.Debug("host kernel: ignored message", "type", m.Header.MsgType)
	}
}

// answerInput asks out for the line input() wants and sends it back. When
// out cannot ask (no stdin on this frontend), the kernel is interrupted so
// that input() raises instead of waiting for ever.
func (c *Client) answerInput(ctx context.Context, out kernel.Output, ir wire.InputRequest, parent json.RawMessage) {
	v, err := out.Input(ctx, ir.Prompt, ir.Password)
	if ctx.Err() != nil {
		return // the execution ended or was interrupted; nothing to answer
	}
	if err != nil {
		out.Stream("stderr", "input(): "+err.Error()+"\n")
		if err := c.Interrupt(); err != nil {
			c.log.Debug("host kernel: interrupt", "err", err)
		}
		return
	}
	if _, _, err := c.send(c.stdin, wire.MsgInputReply, parent, wire.InputReply{Value: v}, false); err != nil {
		c.log.Debug("host kernel: input_reply", "err", err)
	}
}

// Interrupt interrupts the running code the way the kernelspec asks: SIGINT
// to the kernel's process group, or interrupt_request on control.
func (c *Client) Interrupt() error {
	if c.spec.InterruptMode == "message" {
		_, _, err := c.send(c.control, wire.MsgInterruptRequest, nil, struct{}{}, false)
		return err
	}
	if err := syscall.Kill(-c.cmd.Process.Pid, syscall.SIGINT); err != nil {
		return fmt.Errorf("interrupt host kernel: %w", err)
	}
	return nil
}

// Pid is the kernel's process id.
func (c *Client) Pid() int { return c.cmd.Process.Pid }

// Done is closed when the kernel process has exited.
func (c *Client) Done() <-chan struct{} { return c.exited }

// Exited describes how the process ended, once Done is closed: "exit
// status 1", "signal: killed", ... It returns "" while the process runs.
func (c *Client) Exited() string {
	select {
	case <-c.exited:
		if c.exitErr == nil {
			return "exit status 0"
		}
		return c.exitErr.Error()
	default:
		return ""
	}
}

// Close asks the kernel to shut down, kills it (and its process group) if it
// has not exited within 2 s, and releases the sockets and the connection
// file. It is safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		select {
		case <-c.exited:
		default:
			if c.shell != nil {
				if _, _, err := c.send(c.control, wire.MsgShutdownRequest, nil, wire.ShutdownRequest{}, false); err != nil {
					c.log.Debug("host kernel: shutdown_request", "err", err)
				}
			}
			select {
			case <-c.exited:
			case <-time.After(shutdownGrace):
				c.log.Debug("host kernel ignored shutdown_request; killing it")
			}
		}
		c.kill()
		<-c.exited // bounded: SIGKILL cannot be ignored, WaitDelay bounds the pipes
		close(c.closed)
		for _, s := range []interface{ Close() error }{c.shell, c.control, c.stdin, c.iopub} {
			if s != nil {
				s.Close()
			}
		}
		c.readers.Wait()
		os.RemoveAll(c.tmp)
	})
	return nil
}

// kill sends SIGKILL to the kernel's process group: the kernel and whatever
// its cells started.
func (c *Client) kill() {
	if err := syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		c.log.Debug("host kernel: kill", "err", err)
	}
}

// diedError describes the kernel's exit, with the end of its output.
func (c *Client) diedError(when string) error {
	<-c.exited
	if when != "" {
		when = " " + when
	}
	return fmt.Errorf("%w%s (%s)%s", ErrDied, when, c.Exited(), c.out.suffix())
}

// hostCell is how IPython names a cell in a traceback: "Cell In[7]" since
// 8.7, "Cell In [7]" and "Input In [7]" before (Debian's 8.5 among them).
var hostCell = regexp.MustCompile(`((?:Cell|Input) In ?\[)(\d+)\]`)

// relabel renames, in place, the host kernel's cells in traceback lines to
// the counts their callers gave them. Cells run without one keep the host
// kernel's name.
func (c *Client) relabel(tb []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, l := range tb {
		tb[i] = hostCell.ReplaceAllStringFunc(l, func(s string) string {
			m := hostCell.FindStringSubmatch(s)
			n, err := strconv.Atoi(m[2])
			if mine, ok := c.counts[n]; ok && err == nil {
				return m[1] + strconv.Itoa(mine) + "]"
			}
			return s
		})
	}
}

// execError turns error content into an ExecError without ANSI codes.
func execError(ename, evalue string, traceback []string) *kernel.ExecError {
	tb := make([]string, 0, len(traceback))
	for _, l := range traceback {
		tb = append(tb, StripANSI(l))
	}
	return &kernel.ExecError{Name: ename, Value: StripANSI(evalue), Traceback: tb}
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)`)

// StripANSI removes terminal colour and control sequences (IPython colours
// its tracebacks).
func StripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return ansiRE.ReplaceAllString(s, "")
}
