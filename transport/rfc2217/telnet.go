package rfc2217

// Telnet commands (RFC 854).
const (
	cmdSE   = 240
	cmdNOP  = 241
	cmdSB   = 250
	cmdWILL = 251
	cmdWONT = 252
	cmdDO   = 253
	cmdDONT = 254
	cmdIAC  = 255
)

// Telnet options.
const (
	optBinary  = 0  // RFC 856
	optEcho    = 1  // RFC 857
	optSGA     = 3  // RFC 858, suppress go-ahead
	optComPort = 44 // RFC 2217
)

// COM-PORT-OPTION commands, client to server; the server answers with the
// same command plus serverOffset.
const (
	cpSetBaud     = 1
	cpSetDataSize = 2
	cpSetParity   = 3
	cpSetStopSize = 4
	serverOffset  = 100

	parityNone    = 1
	stopBitsOne   = 1
	dataBitsEight = 8

	maxSubnegLen = 1024 // longer subnegotiations are cut; none should be
)

// event is a telnet command found in the stream: an option verb
// (WILL/WONT/DO/DONT) with its option, or a subnegotiation (verb cmdSB)
// with its payload, IAC doubling undone.
type event struct {
	verb    byte
	opt     byte
	payload []byte
}

// Parser states.
const (
	stData   = iota
	stIAC    // after IAC
	stVerb   // after IAC WILL/WONT/DO/DONT, waiting for the option
	stSBOpt  // after IAC SB, waiting for the option
	stSB     // inside a subnegotiation
	stSBIAC  // IAC inside a subnegotiation
	stDataCR // after CR, when the peer is not in BINARY mode
)

// parser separates data from telnet commands. Its state carries over
// between calls, so commands split across reads are understood.
type parser struct {
	state int
	verb  byte
	opt   byte
	sb    []byte
	// binary is whether the peer sends in BINARY mode; otherwise a CR is
	// followed by NUL (dropped) or LF (RFC 854).
	binary bool
}

// feed parses in, appends its data bytes to data and returns it, calling
// on for each command. on may change p.binary; the change applies to the
// bytes after the command.
func (p *parser) feed(in, data []byte, on func(event)) []byte {
	for _, b := range in {
		switch p.state {
		case stData, stDataCR:
			afterCR := p.state == stDataCR
			p.state = stData
			switch {
			case b == cmdIAC:
				p.state = stIAC
			case afterCR && b == 0:
				// CR NUL is a bare CR.
			default:
				data = append(data, b)
				if b == '\r' && !p.binary {
					p.state = stDataCR
				}
			}
		case stIAC:
			switch b {
			case cmdIAC:
				data = append(data, cmdIAC)
				p.state = stData
			case cmdWILL, cmdWONT, cmdDO, cmdDONT:
				p.verb, p.state = b, stVerb
			case cmdSB:
				p.state = stSBOpt
			default: // NOP, GA, SE out of place, ...: nothing to do
				p.state = stData
			}
		case stVerb:
			p.state = stData
			on(event{verb: p.verb, opt: b})
		case stSBOpt:
			p.opt, p.sb, p.state = b, p.sb[:0], stSB
		case stSB:
			if b == cmdIAC {
				p.state = stSBIAC
			} else if len(p.sb) < maxSubnegLen {
				p.sb = append(p.sb, b)
			}
		case stSBIAC:
			switch b {
			case cmdIAC:
				if len(p.sb) < maxSubnegLen {
					p.sb = append(p.sb, cmdIAC)
				}
				p.state = stSB
			case cmdSE:
				p.state = stData
				on(event{verb: cmdSB, opt: p.opt, payload: append([]byte(nil), p.sb...)})
			default:
				// An unterminated subnegotiation: end it and take b as the
				// command after IAC.
				on(event{verb: cmdSB, opt: p.opt, payload: append([]byte(nil), p.sb...)})
				p.state = stIAC
				data = p.feed([]byte{b}, data, on)
			}
		}
	}
	return data
}

// escape appends p to out with IAC doubled and, when the link is not in
// BINARY mode, CR sent as CR NUL.
func escape(out, p []byte, binary bool) []byte {
	for _, b := range p {
		switch {
		case b == cmdIAC:
			out = append(out, cmdIAC, cmdIAC)
		case b == '\r' && !binary:
			out = append(out, '\r', 0)
		default:
			out = append(out, b)
		}
	}
	return out
}

// subneg encodes a COM-PORT-OPTION subnegotiation.
func subneg(cmd byte, value []byte) []byte {
	out := []byte{cmdIAC, cmdSB, optComPort, cmd}
	out = escape(out, value, true)
	return append(out, cmdIAC, cmdSE)
}
