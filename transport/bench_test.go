package transport

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
	"github.com/iot-kernel/iot-kernel/transport/serialport"
	"github.com/iot-kernel/iot-kernel/transport/webrepl"
)

// Benchmarks against the test boards. Each prints its results as lines
// "BENCH name value unit"; run them once each:
//
//	go test ./transport -run '^$' -bench . -benchtime 1x

func benchOpen(b *testing.B, url string, opt Options) *Board {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bd, err := Open(ctx, url, opt)
	if err != nil {
		b.Fatalf("Open(%s): %v", url, err)
	}
	b.Cleanup(func() { _ = bd.Close() })
	return bd
}

func report(b *testing.B, name string, value float64, unit string) {
	fmt.Printf("BENCH %s %.4g %s\n", name, value, unit)
	b.ReportMetric(value, unit)
}

// rawExchange is the minimal hand-rolled raw REPL client: one write, read
// until the closing "\x04>", no goroutine, no checks beyond that.
type rawExchange struct {
	rwc  io.ReadWriteCloser
	buf  []byte
	pace bool // paced like the engine for the micro:bit's 64-byte buffer
}

func (r *rawExchange) readUntil(suffix string) error {
	tmp := make([]byte, 4096)
	for !bytes.HasSuffix(r.buf, []byte(suffix)) {
		n, err := r.rwc.Read(tmp)
		if err != nil {
			return err
		}
		r.buf = append(r.buf, tmp[:n]...)
	}
	return nil
}

func (r *rawExchange) exec(code string) ([]byte, error) {
	r.buf = r.buf[:0]
	msg := []byte(code + "\x04")
	chunk := len(msg)
	if r.pace {
		chunk = paceChunk
	}
	for i := 0; i < len(msg); i += chunk {
		if i > 0 && r.pace {
			time.Sleep(paceGap) // the micro:bit's 64-byte buffer
		}
		if _, err := r.rwc.Write(msg[i:min(i+chunk, len(msg))]); err != nil {
			return nil, err
		}
	}
	// "OK" output "\x04" errors "\x04>"
	for bytes.Count(r.buf, []byte{4}) < 2 || !bytes.HasSuffix(r.buf, []byte("\x04>")) {
		if err := r.readUntil("\x04>"); err != nil {
			return nil, err
		}
	}
	return r.buf, nil
}

// sharedPort starts a board (in its own process when IOT_TESTBOARD_BIN is
// set) and opens its port once, for the engine's Board and the hand-rolled
// exchange alike.
func sharedPort(b *testing.B, kind testboard.Kind) (*Board, *rawExchange) {
	path := externalBoard(b, kind)
	if path == "" {
		path = startTestBoard(b, kind, testboard.Options{}).Path()
	}
	rwc, err := serialport.Dial(context.Background(), path, serialport.Options{})
	if err != nil {
		b.Fatal(err)
	}
	bd := New(path, func(context.Context) (io.ReadWriteCloser, error) { return rwc, nil }, Options{})
	b.Cleanup(func() { _ = bd.Close() })
	// The micro:bit's 64-byte buffer needs the engine's pacing.
	return bd, &rawExchange{rwc: rwc, pace: kind != testboard.Wasm}
}

// asOperation makes the hand-rolled exchange fn an operation of bd, which
// shares its port: meanwhile the engine's idle poller leaves the port
// alone. Only fn's own timing counts.
func asOperation(b *testing.B, bd *Board, fn func() time.Duration) func() time.Duration {
	return func() time.Duration {
		var took time.Duration
		if err := bd.op(context.Background(), func(context.Context, *link) error {
			took = fn()
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		return took
	}
}

// BenchmarkExecRoundTrip compares print(1) through the engine with the
// hand-rolled exchange on the same open port. The hand-rolled exchange runs
// as an operation of the engine's Board (so nothing else reads the port
// meanwhile), and the two take turns exec by exec: whatever else the shared
// machine does then hits both alike. Trimmed means are compared.
//
// With IOT_TESTBOARD_BIN set (make bench sets it), the board runs in its own
// process, as a real board is its own device: in the test binary's process
// its pty copying would share the Go scheduler with the engine being timed.
func BenchmarkExecRoundTrip(b *testing.B) {
	for _, kind := range []testboard.Kind{testboard.Microbit, testboard.Wasm} {
		b.Run(string(kind), func(b *testing.B) {
			bd, raw := sharedPort(b, kind)
			ctx := context.Background()
			var out bytes.Buffer
			viaEngine := func() time.Duration {
				out.Reset()
				start := time.Now()
				if err := bd.Exec(ctx, "print(1)", ExecOptions{Stdout: &out}); err != nil || out.String() != "1\r\n" {
					b.Fatalf("exec: %v %q", err, out.String())
				}
				return time.Since(start)
			}
			byHand := asOperation(b, bd, func() time.Duration {
				start := time.Now()
				if got, err := raw.exec("print(1)"); err != nil || !bytes.Contains(got, []byte("OK1\r\n\x04")) {
					b.Fatalf("raw exec: %v %q", err, got)
				}
				return time.Since(start)
			})
			viaEngine() // opens the link, enters the raw REPL, warms up
			byHand()
			const n = 400
			for range b.N {
				engine, hand := takeTurns(n, viaEngine, byHand)
				// A trimmed mean, not the median: on the paced micro:bit the
				// round trip is bimodal (the pacer sends in 1 ms bursts), and
				// a median falls in either mode from run to run.
				e, h := trimmedMean(engine), trimmedMean(hand)
				report(b, "exec_roundtrip_"+string(kind)+"_engine", float64(e.Microseconds()), "us")
				report(b, "exec_roundtrip_"+string(kind)+"_raw", float64(h.Microseconds()), "us")
				report(b, "exec_roundtrip_"+string(kind)+"_ratio", float64(e)/float64(h), "x")
			}
		})
	}
}

// externalBoard starts the testboard program named by IOT_TESTBOARD_BIN
// and returns the board's device path, or "" when the variable is unset.
// The board stops when the benchmark ends (EOF on its stdin).
func externalBoard(b *testing.B, kind testboard.Kind) string {
	bin := os.Getenv("IOT_TESTBOARD_BIN")
	if bin == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.Command(bin, "-kind", string(kind))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", bin, err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout) // keep the pipe drained
	}()
	select {
	case p, ok := <-line:
		if !ok || p == "" {
			b.Fatalf("%s -kind %s printed no device path", bin, kind)
		}
		return p
	case <-ctx.Done():
		b.Fatalf("%s -kind %s: no device path within a minute", bin, kind)
	}
	return ""
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// takeTurns times a and b n times each, alternating which goes first so
// that neither always follows the other.
func takeTurns(n int, a, b func() time.Duration) (as, bs []time.Duration) {
	for i := range n {
		if i%2 == 0 {
			as = append(as, a())
			bs = append(bs, b())
		} else {
			bs = append(bs, b())
			as = append(as, a())
		}
	}
	return as, bs
}

// trimmedMean is the mean without the lowest and highest tenth.
func trimmedMean(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	s = s[len(s)/10 : len(s)-len(s)/10]
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	return sum / time.Duration(len(s))
}

func randomData(n int) []byte {
	data := make([]byte, n)
	rand.New(rand.NewSource(42)).Read(data)
	return data
}

// BenchmarkUpload115200 uploads 64 KB of random bytes to the wasm board
// paced like a 115200 baud UART (the micro:bit's flash is too small).
func BenchmarkUpload115200(b *testing.B) {
	tb := startTestBoard(b, testboard.Wasm, testboard.Options{PaceBaud: 115200})
	bd := benchOpen(b, tb.Path(), Options{})
	data := randomData(64 * 1024)
	for range b.N {
		start := time.Now()
		if err := bd.WriteFile(context.Background(), "bench.bin", data, nil); err != nil {
			b.Fatal(err)
		}
		rate := float64(len(data)) / time.Since(start).Seconds()
		report(b, "upload_64KB_115200_exec", rate, "B/s")
		report(b, "upload_64KB_115200_of_line_rate", rate/11520*100, "%")
	}
}

// plainConn hides a WebREPL conn's own file transfer, so file operations
// go through exec like on any link; its reads stay direct.
type plainConn struct {
	io.ReadWriteCloser
	TimedReader
}

// BenchmarkUploadWebREPL compares WebREPL's own file transfer with the
// exec-based upload over the same WebREPL link, in steady state: an upload
// of either kind takes milliseconds here, so a cold start would swamp it.
// A first round is untimed for both modes: the wasm board's first uploads
// of each kind are several times slower (node compiles the code paths they
// use), which counted against whichever mode went first. Then rounds
// alternate the two modes and which goes first (the machine is shared);
// each connection uploads once untimed (it probes the board's filesystem,
// a fixed cost per link in both modes), then times the next uploads. The
// medians are compared.
func BenchmarkUploadWebREPL(b *testing.B) {
	tb := startTestBoard(b, testboard.Wasm, testboard.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := testboard.StartWebREPL(ctx, tb, "secret")
	if err != nil {
		b.Fatalf("WebREPL server: %v", err)
	}
	b.Cleanup(func() { _ = s.Close() })
	data := randomData(64 * 1024)
	open := func(mode string) *Board {
		dial := func(context.Context) (io.ReadWriteCloser, error) {
			// The server takes one client at a time: the previous one
			// may not be gone yet.
			var c *webrepl.Conn
			var err error
			for try := 0; try < 20; try++ {
				if c, err = webrepl.Dial(context.Background(), s.URL(), "secret"); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			switch {
			case err != nil:
				return nil, err
			case mode == "webrepl":
				return c, nil
			}
			return plainConn{c, c}, nil
		}
		return New(s.URL(), dial, Options{})
	}
	const rounds, uploads = 5, 5 // timed rounds, timed uploads per connection
	for range b.N {
		took := map[string][]time.Duration{}
		for round := range rounds + 1 {
			modes := []string{"webrepl", "exec"}
			if round%2 == 1 {
				modes[0], modes[1] = modes[1], modes[0]
			}
			for _, mode := range modes {
				bd := open(mode)
				for i := range uploads + 1 {
					start := time.Now()
					if err := bd.WriteFile(context.Background(), "bench_ws.bin", data, nil); err != nil {
						b.Fatalf("%s upload: %v", mode, err)
					}
					if round > 0 && i > 0 {
						took[mode] = append(took[mode], time.Since(start))
					}
				}
				_ = bd.Close()
			}
		}
		rates := map[string]float64{}
		for _, mode := range []string{"webrepl", "exec"} {
			rates[mode] = float64(len(data)) / median(took[mode]).Seconds()
			report(b, "upload_64KB_webrepl_"+mode, rates[mode], "B/s")
		}
		report(b, "upload_64KB_webrepl_speedup", rates["webrepl"]/rates["exec"], "x")
	}
}

// BenchmarkOutputThroughput measures 1 MB of board output through the
// engine against the hand-rolled exchange, taking turns on the same open
// port as BenchmarkExecRoundTrip does. The board runs the loop once untimed
// first: the wasm board's first run is much slower (node compiles the code
// paths), which would count against whichever client went first.
func BenchmarkOutputThroughput(b *testing.B) {
	for _, kind := range []testboard.Kind{testboard.Microbit, testboard.Wasm} {
		b.Run(string(kind), func(b *testing.B) {
			bd, raw := sharedPort(b, kind)
			line := strings.Repeat("x", 98) // 100 bytes with \r\n
			code := fmt.Sprintf("for i in range(10000):print('%s')", line)
			const size = 10000 * 100
			viaEngine := func() time.Duration {
				var n countWriter
				start := time.Now()
				if err := bd.Exec(context.Background(), code, ExecOptions{Stdout: &n}); err != nil || n != size {
					b.Fatalf("exec: %v, %d bytes", err, n)
				}
				return time.Since(start)
			}
			byHand := asOperation(b, bd, func() time.Duration {
				start := time.Now()
				out, err := raw.exec(code)
				if err != nil {
					b.Fatal(err)
				}
				took := time.Since(start)
				// "OK", the output, "\x04": every byte arrived.
				if got := bytes.IndexByte(out, 4) - bytes.Index(out, []byte("OK")) - 2; got != size {
					b.Fatalf("raw exec: %d bytes of output, want %d", got, size)
				}
				return took
			})
			viaEngine() // warms the board up
			const rounds = 7
			for range b.N {
				engine, hand := takeTurns(rounds, viaEngine, byHand)
				e := float64(size) / median(engine).Seconds()
				h := float64(size) / median(hand).Seconds()
				report(b, "output_1MB_"+string(kind)+"_engine", e, "B/s")
				report(b, "output_1MB_"+string(kind)+"_raw", h, "B/s")
				report(b, "output_1MB_"+string(kind)+"_ratio", e/h, "x")
			}
		})
	}
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
