package kernel

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/iot-kernel/iot-kernel/kernel/wire"
)

// tooLarge answers a signed request that was over the message limit, of
// which only the identities and header were kept: as a request that
// cannot run, so the client stops waiting and the user learns why. An
// execute_request gets busy, an error and (from dispatch) idle on IOPub,
// and an execute_reply with the current count, as a cell that failed.
func (s *Server) tooLarge(ch *router, msg *wire.Message, in inbound) response {
	t := msg.Header.MsgType
	if !strings.HasSuffix(string(t), "_request") {
		s.log.Warn("not answering a large message: it is no request", "channel", ch.name, "msg_type", t)
		return response{}
	}
	what := "message"
	isCell := t == wire.MsgExecuteRequest && ch == s.shell
	if isCell {
		what = "cell"
	}
	ee := tooLargeError(what, true, in.tooLarge, ch.maxMessage)
	if !isCell {
		return response{typ: t.Reply(), content: errorReplyOf(ee)}
	}
	if in.seq <= s.abortMark {
		return s.abort(msg)
	}
	// As execute does for a cell that begins (its silent flag was in the
	// content, not kept: the error is shown).
	if s.lingering != nil {
		s.lingering.retire()
		s.lingering = nil
	}
	s.publishBusy(msg)
	s.publish(msg, wire.MsgError, wire.ErrorContent{Ename: ee.Name, Evalue: ee.Value, Traceback: ee.Traceback})
	// As a cell that failed with stop_on_error, the default: the cells
	// queued after it are aborted, since they may need what it defines.
	s.abortMark = s.shell.seq.Load()
	return response{typ: wire.MsgExecuteReply, content: wire.ExecuteReplyError{
		Status: wire.StatusError, ExecutionCount: s.count,
		Ename: ee.Name, Evalue: ee.Value, Traceback: ee.Traceback,
	}}
}

// tooLargeError says a message of size bytes is over limit, and how to
// send it anyway. what names the message: "cell", "message" or "answer to
// input()"; splittable says whether splitting it is advice (one line
// answers an input()).
func tooLargeError(what string, splittable bool, size uint64, limit int) *ExecError {
	const mib = 1 << 20
	mb := int(math.Ceil(float64(size) / mib)) // the least --max-message-mb that fits it
	split := ""
	if splittable {
		split = "split it, or "
	}
	ee := &ExecError{Name: "MessageTooLarge", Value: fmt.Sprintf(
		"the %s is %s MiB, over the kernel's limit of %s MiB: %sraise the limit with iot-kernel run --max-message-mb %d or IOT_MAX_MESSAGE_MB=%d in the kernelspec's env",
		what, overMiB(size, limit), strconv.FormatFloat(float64(limit)/mib, 'f', -1, 64), split, mb, mb)}
	ee.Traceback = []string{ee.Error()}
	return ee
}

// overMiB is size in MiB to a tenth, rounded so that it reads as over
// limit: 16.01 MiB over a 16 MiB limit is 16.1, not 16.
func overMiB(size uint64, limit int) string {
	tenths := math.Round(float64(size) * 10 / (1 << 20))
	if tenths*(1<<20)/10 <= float64(limit) {
		tenths = math.Ceil(float64(size) * 10 / (1 << 20))
	}
	return strconv.FormatFloat(tenths/10, 'f', -1, 64)
}
