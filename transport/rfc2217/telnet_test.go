package rfc2217

import (
	"bytes"
	"fmt"
	"testing"
)

// parseAll feeds in to a fresh parser in the given pieces and returns the
// data and the events, printed.
func parseAll(pieces [][]byte, binary bool) ([]byte, []string) {
	p := parser{binary: binary}
	var data []byte
	var evs []string
	for _, piece := range pieces {
		data = p.feed(piece, data, func(ev event) {
			evs = append(evs, fmt.Sprintf("%d/%d/%x", ev.verb, ev.opt, ev.payload))
		})
	}
	return data, evs
}

// Every way of cutting a stream into two reads gives the same data and
// commands as reading it whole.
func TestParserSplitAnywhere(t *testing.T) {
	stream := []byte{'a', cmdIAC, cmdIAC, 'b', // escaped 0xFF
		cmdIAC, cmdWILL, optBinary,
		'c',
		cmdIAC, cmdSB, optComPort, cpSetBaud + serverOffset, 0, 1, 0xC2, 0, cmdIAC, cmdSE,
		cmdIAC, cmdSB, optComPort, 107, cmdIAC, cmdIAC, cmdIAC, cmdSE, // 0xFF inside SB
		cmdIAC, cmdNOP,
		'd', '\r', '\n', 0xFF - 1,
	}
	wantData := []byte{'a', 0xFF, 'b', 'c', 'd', '\r', '\n', 0xFE}
	wantEvs := []string{
		fmt.Sprintf("%d/%d/", cmdWILL, optBinary),
		fmt.Sprintf("%d/%d/%x", cmdSB, optComPort, []byte{101, 0, 1, 0xC2, 0}),
		fmt.Sprintf("%d/%d/%x", cmdSB, optComPort, []byte{107, 0xFF}),
	}
	for cut := 0; cut <= len(stream); cut++ {
		data, evs := parseAll([][]byte{stream[:cut], stream[cut:]}, true)
		if !bytes.Equal(data, wantData) || fmt.Sprint(evs) != fmt.Sprint(wantEvs) {
			t.Fatalf("cut at %d: data %x events %v; want %x %v", cut, data, evs, wantData, wantEvs)
		}
	}
	// One byte per read.
	var bytewise [][]byte
	for i := range stream {
		bytewise = append(bytewise, stream[i:i+1])
	}
	if data, evs := parseAll(bytewise, true); !bytes.Equal(data, wantData) || fmt.Sprint(evs) != fmt.Sprint(wantEvs) {
		t.Fatalf("byte by byte: data %x events %v", data, evs)
	}
}

// Outside BINARY mode a CR NUL pair is a bare CR (RFC 854).
func TestParserCRNUL(t *testing.T) {
	data, _ := parseAll([][]byte{{'a', '\r'}, {0, 'b', '\r', '\n', 0}}, false)
	if want := []byte{'a', '\r', 'b', '\r', '\n', 0}; !bytes.Equal(data, want) {
		t.Fatalf("got %q, want %q", data, want)
	}
	data, _ = parseAll([][]byte{{'a', '\r', 0}}, true)
	if want := []byte{'a', '\r', 0}; !bytes.Equal(data, want) {
		t.Fatalf("in BINARY mode got %q, want %q", data, want)
	}
}

// A subnegotiation cut short by another command still ends.
func TestParserUnterminatedSubneg(t *testing.T) {
	data, evs := parseAll([][]byte{{cmdIAC, cmdSB, optComPort, 106, 1, cmdIAC, cmdWILL, optSGA, 'x'}}, true)
	want := []string{fmt.Sprintf("%d/%d/%x", cmdSB, optComPort, []byte{106, 1}), fmt.Sprintf("%d/%d/", cmdWILL, optSGA)}
	if string(data) != "x" || fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Fatalf("data %q events %v, want x %v", data, evs, want)
	}
}

func TestEscape(t *testing.T) {
	in := []byte{1, 0xFF, '\r', 0xFF, 0xFF, '\n'}
	if got, want := escape(nil, in, true), []byte{1, 0xFF, 0xFF, '\r', 0xFF, 0xFF, 0xFF, 0xFF, '\n'}; !bytes.Equal(got, want) {
		t.Errorf("binary escape = %x, want %x", got, want)
	}
	if got, want := escape(nil, in, false), []byte{1, 0xFF, 0xFF, '\r', 0, 0xFF, 0xFF, 0xFF, 0xFF, '\n'}; !bytes.Equal(got, want) {
		t.Errorf("NVT escape = %x, want %x", got, want)
	}
	if got, want := subneg(cpSetBaud, []byte{0, 0, 0xFF, 0}), []byte{cmdIAC, cmdSB, optComPort, cpSetBaud, 0, 0, 0xFF, 0xFF, 0, cmdIAC, cmdSE}; !bytes.Equal(got, want) {
		t.Errorf("subneg = %x, want %x", got, want)
	}
}
