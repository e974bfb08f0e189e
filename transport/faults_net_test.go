package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iot-kernel/iot-kernel/testboard"
)

// The network links (WebREPL, RFC 2217) get their faults from a loopback
// TCP proxy between the link and the test board's server, so that the
// links' own code is tested as it is, whatever WebSocket or telnet code it
// uses. The proxy finds the points in the data the protocol carries (a
// WebSocket frame's payload, unmasked; telnet data, IAC framing left out)
// and strikes there: a cut (both sides closed, before or after the byte)
// or a delay, which are what a TCP link can do. RFC 2217 also gets bytes
// dropped or doubled in its data, as a noisy UART behind the server
// would; the telnet framing stays valid. A byte lost inside TCP is never
// seen by either end, so WebREPL gets no drop or dup.

// netLinks are the network links the cases run on, each on its own wasm
// board.
var netLinks = []string{"webrepl", "rfc2217"}

const netPassword = "secret"

// runNetFaults runs the steps on each network link, in parallel with the
// serial cases.
func runNetFaults(t *testing.T, steps []faultStep) {
	for _, link := range netLinks {
		t.Run("wasm-"+link, func(t *testing.T) {
			if testing.Short() {
				t.Skip("needs the test boards")
			}
			t.Parallel()
			env := startNetFaultEnv(t, link)
			for _, st := range steps {
				for _, pt := range netPoints(link, st) {
					for _, f := range netFaults(link, st, pt) {
						t.Run(fmt.Sprintf("%s/%s/%s", st.name, pt, f), func(t *testing.T) {
							runFaultCase(t, env, st, pt, f)
						})
					}
				}
			}
		})
	}
}

// netPoints are the step's points on the link: WebREPL moves files with
// its own binary protocol, and logs in first.
func netPoints(link string, st faultStep) []point {
	pts := st.points(testboard.Wasm)
	if link != "webrepl" {
		return pts
	}
	switch st.name {
	case "enterRaw":
		pts = append([]point{
			{side: toBoard, pat: netPassword + "\r", nth: 1},    // the password
			{side: fromBoard, pat: "WebREPL connected", nth: 1}, // the greeting
		}, pts...)
	case "upload":
		pts = []point{
			{side: toBoard, pat: "WA\x01", nth: 1},       // the PUT request
			{side: toBoard, pat: "MARKER", nth: 1},       // inside the data
			{side: fromBoard, pat: "WB\x00\x00", nth: 2}, // the board wrote it
		}
	case "download":
		pts = []point{
			{side: toBoard, pat: "WA\x02", nth: 1},   // the GET request
			{side: fromBoard, pat: "MARKER", nth: 1}, // inside the data
		}
	}
	return pts
}

// netFaults are the step's faults at pt that the link can have: on
// WebREPL only cuts and delays, with a cut just after an answer too (it
// got through, the link did not last).
func netFaults(link string, st faultStep, pt point) []fault {
	fs := slices.DeleteFunc(slices.Clone(st.faults(pt)), func(f fault) bool {
		// A lost end of code (\x04) waits the whole 5 s for the board's
		// answer, in the engine, as on the serial link, which has that
		// case: here it would only add 5 s.
		lostEnd := f == fDrop && pt.side == toBoard && pt.pat == "\x04"
		return f == fDropWrite || lostEnd || link == "webrepl" && (f == fDrop || f == fDup)
	})
	if link == "webrepl" && pt.side == fromBoard && st.name != "interrupt" && !slices.Contains(fs, fCutAfter) {
		fs = append(fs, fCutAfter)
	}
	return fs
}

// startNetFaultEnv starts a wasm board behind the link's server, and the
// proxy in front of it: the URL the cases use is the proxy's.
func startNetFaultEnv(t *testing.T, link string) *faultEnv {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tb := startTestBoard(t, testboard.Wasm, testboard.Options{})
	opt := Options{Timeout: faultTimeout}
	var srv *testboard.Server
	var err error
	var framer func() netFramer
	switch link {
	case "webrepl":
		srv, err = testboard.StartWebREPL(ctx, tb, netPassword)
		opt.Password = netPassword
		framer = func() netFramer { return &wsFramer{http: true} }
	case "rfc2217":
		srv, err = testboard.StartRFC2217(ctx, tb)
		framer = func() netFramer { return &telnetFramer{} }
	}
	if err != nil {
		skipIfMissing(t, err)
		t.Fatalf("start the %s server: %v", link, err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	p := startFaultProxy(t, u.Host, framer)
	u.Host = p.addr()
	addr, err := ParseAddress(u.String())
	if err != nil {
		t.Fatal(err)
	}
	lk, err := linkFor(context.Background(), addr, opt)
	if err != nil {
		t.Fatal(err)
	}
	return &faultEnv{url: u.String(), kind: testboard.Wasm, dial: lk.dial, opt: opt, proxy: p}
}

// netFramer finds the data a protocol carries in one direction of its
// byte stream. Its state carries over between calls.
type netFramer interface {
	// data returns the data bytes in p and, for each, its index in p.
	data(p []byte) (data []byte, at []int)
	// plain reports whether the data byte at p[i] can be dropped or
	// doubled in place, framing kept valid.
	plain(p []byte, i int) bool
}

// wsFramer reads WebSocket: the HTTP upgrade, then frames, whose payload
// (unmasked) is the data; control frames carry none.
type wsFramer struct {
	http    bool   // in the HTTP upgrade still
	tail    []byte // its last bytes, to see its end
	hdr     []byte // the frame header so far
	left    uint64 // payload bytes left in the frame
	mask    []byte // the frame's masking key, nil when unmasked
	k       int    // payload bytes gone by
	control bool
}

func (f *wsFramer) data(p []byte) (data []byte, at []int) {
	for i, b := range p {
		switch {
		case f.http:
			f.tail = append(f.tail, b)
			if len(f.tail) > 4 {
				f.tail = f.tail[1:]
			}
			f.http = string(f.tail) != "\r\n\r\n"
		case f.left > 0:
			if f.mask != nil {
				b ^= f.mask[f.k%4]
			}
			f.k++
			f.left--
			if !f.control {
				data, at = append(data, b), append(at, i)
			}
		default:
			f.header(b)
		}
	}
	return data, at
}

// header takes one byte of a frame header.
func (f *wsFramer) header(b byte) {
	f.hdr = append(f.hdr, b)
	if len(f.hdr) < 2 {
		return
	}
	ext := map[byte]int{126: 2, 127: 8}[f.hdr[1]&0x7f]
	masked := f.hdr[1]&0x80 != 0
	n := 2 + ext
	if masked {
		n += 4
	}
	if len(f.hdr) < n {
		return
	}
	size := uint64(f.hdr[1] & 0x7f)
	if ext > 0 {
		size = 0
		for _, x := range f.hdr[2 : 2+ext] {
			size = size<<8 | uint64(x)
		}
	}
	f.mask = nil
	if masked {
		f.mask = slices.Clone(f.hdr[2+ext : n])
	}
	f.control = f.hdr[0]&0x08 != 0
	f.left, f.k, f.hdr = size, 0, f.hdr[:0]
}

// plain: a byte cannot leave a frame of a fixed length.
func (f *wsFramer) plain([]byte, int) bool { return false }

// telnetFramer reads telnet: data bytes, IAC IAC for a 0xFF, and commands
// (IAC verb option, IAC SB ... IAC SE), which carry none.
type telnetFramer struct{ state int }

func (f *telnetFramer) data(p []byte) (data []byte, at []int) {
	for i, b := range p {
		switch f.state {
		case stData:
			if b == cmdIAC {
				f.state = stIAC
			} else {
				data, at = append(data, b), append(at, i)
			}
		case stIAC:
			switch b {
			case cmdIAC:
				data, at = append(data, b), append(at, i)
				f.state = stData
			case cmdWILL, cmdWONT, cmdDO, cmdDONT:
				f.state = stVerb
			case cmdSB:
				f.state = stSB
			default:
				f.state = stData
			}
		case stVerb:
			f.state = stData
		case stSB:
			if b == cmdIAC {
				f.state = stSBIAC
			}
		case stSBIAC:
			f.state = stSB
			if b == cmdSE {
				f.state = stData
			}
		}
	}
	return data, at
}

// plain: an escaped 0xFF is two bytes; every other data byte stands alone.
func (f *telnetFramer) plain(p []byte, i int) bool { return p[i] != cmdIAC }

// Telnet, as the framer needs it (RFC 854).
const (
	cmdSE   = 240
	cmdSB   = 250
	cmdWILL = 251
	cmdWONT = 252
	cmdDO   = 253
	cmdDONT = 254
	cmdIAC  = 255
)

const (
	stData = iota
	stIAC
	stVerb
	stSB
	stSBIAC
)

// faultProxy forwards each connection made to it to the server, through
// the injector its dial was given.
type faultProxy struct {
	ln       net.Listener
	upstream string
	framer   func() netFramer
	wg       sync.WaitGroup

	dialMu sync.Mutex // one dial at a time, so each connection gets its dial's injector
	mu     sync.Mutex
	next   *injector      // for the connections being dialled
	taken  chan struct{}  // closed once the first was accepted
	conns  map[*pipe]bool // open connections
	closed bool
}

func startFaultProxy(t *testing.T, upstream string, framer func() netFramer) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	p := &faultProxy{ln: ln, upstream: upstream, framer: framer, conns: map[*pipe]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.cut()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

// dial runs d with in striking the connection it makes (none when in is
// nil).
func (p *faultProxy) dial(ctx context.Context, in *injector, d Dialer) (io.ReadWriteCloser, error) {
	p.dialMu.Lock()
	defer p.dialMu.Unlock()
	taken := make(chan struct{})
	p.mu.Lock()
	p.next, p.taken = in, taken
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.next, p.taken = nil, nil
		p.mu.Unlock()
	}()
	rwc, err := d(ctx)
	if err != nil {
		return nil, err
	}
	// Both protocols answer before the dial returns, so the connection was
	// accepted: this only makes sure.
	select {
	case <-taken:
	case <-ctx.Done():
		_ = rwc.Close()
		return nil, fmt.Errorf("fault proxy: the dial's connection never came: %w", ctx.Err())
	}
	return rwc, nil
}

func (p *faultProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		// Every connection of the dial gets its injector: a dial may try
		// again (WebREPL, after a hang-up).
		p.mu.Lock()
		in := p.next
		if p.taken != nil {
			close(p.taken)
			p.taken = nil
		}
		p.mu.Unlock()
		up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		pp := &pipe{client: c, server: up, in: in}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pp.cut()
			continue
		}
		p.conns[pp] = true
		p.mu.Unlock()
		p.wg.Add(2)
		done := make(chan struct{}, 2)
		for _, s := range []side{toBoard, fromBoard} {
			go func() {
				defer p.wg.Done()
				pp.run(s, p.framer())
				done <- struct{}{}
			}()
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			<-done
			<-done
			pp.cut()
			p.mu.Lock()
			delete(p.conns, pp)
			p.mu.Unlock()
		}()
	}
}

// pipe is one proxied connection.
type pipe struct {
	client, server net.Conn
	in             *injector // nil: no faults
	once           sync.Once
}

// cut closes both sides, as a link that goes.
func (pp *pipe) cut() {
	pp.once.Do(func() {
		_ = pp.client.Close()
		_ = pp.server.Close()
	})
}

// run copies one direction, striking the fault where its point goes by.
func (pp *pipe) run(s side, fr netFramer) {
	src, dst := pp.client, pp.server
	if s == fromBoard {
		src, dst = pp.server, pp.client
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			raw := buf[:n]
			data, at := fr.data(raw)
			if pp.in != nil && pp.in.trace != nil {
				pp.in.trace("%s %q", map[side]string{toBoard: ">", fromBoard: "<"}[s], data)
			}
			i := -1
			if pp.in != nil && len(data) > 0 {
				i = pp.in.strike(s, data)
			}
			if i >= 0 {
				var cut bool
				if raw, cut = pp.strike(raw, at[i], fr, dst); cut {
					return
				}
			}
			if _, werr := dst.Write(raw); werr != nil {
				pp.cut()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The other direction may still carry an answer, as TCP
				// would after a half-close.
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			pp.cut()
			return
		}
	}
}

// strike applies the fault at raw[at] and returns what is left to send,
// or that the connection is cut.
func (pp *pipe) strike(raw []byte, at int, fr netFramer, dst net.Conn) (rest []byte, cut bool) {
	switch pp.in.fault {
	case fCut, fCutAfter:
		if pp.in.fault == fCutAfter {
			at++
		}
		_, _ = dst.Write(raw[:at])
		pp.cut()
		return nil, true
	case fDelay:
		if _, err := dst.Write(raw[:at]); err != nil {
			pp.cut()
			return nil, true
		}
		time.Sleep(faultDelay)
		return raw[at:], false
	case fDrop, fDup:
		if !fr.plain(raw, at) {
			panic(fmt.Sprintf("fault %s at a byte the protocol cannot lose or double", pp.in.fault))
		}
		if pp.in.fault == fDrop {
			return cat(raw[:at], raw[at+1:]), false
		}
		return cat(raw[:at+1], raw[at:]), false
	}
	return raw, false
}
