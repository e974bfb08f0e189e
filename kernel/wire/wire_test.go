package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// frames of a message signed with key, for table tests.
func signedFrames(key string, ids [][]byte, hdr, parent, meta, content string, buffers ...[]byte) [][]byte {
	s, _ := NewSigner("hmac-sha256", key)
	return Encode(ids, []byte(hdr), []byte(parent), []byte(meta), []byte(content), buffers, s)
}

const okHeader = `{"msg_id":"1","session":"s","username":"u","date":"","msg_type":"execute_request","version":"5.3"}`

func TestDecode(t *testing.T) {
	keyed, _ := NewSigner("hmac-sha256", "k")
	unsigned, _ := NewSigner("hmac-sha256", "")
	good := signedFrames("k", [][]byte{[]byte("client-1")}, okHeader, "{}", "{}", `{"code":"1"}`, []byte("buf"))
	tamper := func(i int, b string) [][]byte {
		f := append([][]byte(nil), good...)
		f[i] = []byte(b)
		return f
	}
	for _, tc := range []struct {
		name   string
		frames [][]byte
		s      Signer
		want   error // nil: decodes
	}{
		{"valid", good, keyed, nil},
		{"valid no identities", signedFrames("k", nil, okHeader, "{}", "{}", "{}"), keyed, nil},
		{"valid unsigned", signedFrames("", nil, okHeader, "{}", "{}", "{}"), unsigned, nil},
		{"uppercase hex signature", tamper(2, string(bytes.ToUpper(good[2]))), keyed, nil},
		{"empty", nil, keyed, errNoDelimiter},
		{"no delimiter", [][]byte{[]byte("a"), []byte("b")}, keyed, errNoDelimiter},
		{"only delimiter", [][]byte{[]byte(Delimiter)}, keyed, errTooFewFrames},
		{"too few frames", good[:6], keyed, errTooFewFrames},
		{"bad signature", tamper(2, "00"+string(good[2][2:])), keyed, errBadSignature},
		{"signature not hex", tamper(2, "zz"), keyed, errBadSignature},
		{"missing signature", tamper(2, ""), keyed, errBadSignature},
		{"content changed", tamper(6, `{"code":"2"}`), keyed, errBadSignature},
		{"unsigned message to keyed kernel", signedFrames("", nil, okHeader, "{}", "{}", "{}"), keyed, errBadSignature},
		{"header not json", signedFrames("", nil, "{", "{}", "{}", "{}"), unsigned, errBadHeader},
		{"header array", signedFrames("", nil, "[]", "{}", "{}", "{}"), unsigned, errBadHeader},
		{"header without msg_type", signedFrames("", nil, `{"msg_id":"1"}`, "{}", "{}", "{}"), unsigned, errBadHeader},
		{"msg_type not a string", signedFrames("", nil, `{"msg_type":5}`, "{}", "{}", "{}"), unsigned, errBadHeader},
		{"parent not object", signedFrames("", nil, okHeader, "null", "{}", "{}"), unsigned, errNotObject},
		{"metadata invalid", signedFrames("", nil, okHeader, "{}", "{x}", "{}"), unsigned, errNotObject},
		{"content truncated", signedFrames("", nil, okHeader, "{}", "{}", `{"code":`), unsigned, errNotObject},
		{"content empty", signedFrames("", nil, okHeader, "{}", "{}", ""), unsigned, errNotObject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.frames, tc.s)
			if !errors.Is(err, tc.want) {
				t.Fatalf("decode error = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if m.Header.MsgType != MsgExecuteRequest {
				t.Errorf("msg_type = %q", m.Header.MsgType)
			}
			if tc.name == "valid" {
				if len(m.Identities) != 1 || string(m.Identities[0]) != "client-1" || len(m.Buffers) != 1 || string(m.Buffers[0]) != "buf" {
					t.Errorf("identities %q buffers %q", m.Identities, m.Buffers)
				}
				var c ExecuteRequest
				if err := json.Unmarshal(m.Content, &c); err != nil || c.Code != "1" {
					t.Errorf("content %s: %v", m.Content, err)
				}
			}
		})
	}
}

func TestSignerSchemes(t *testing.T) {
	for _, scheme := range []string{"hmac-sha256", "hmac-sha512", "hmac-sha1", ""} {
		s, err := NewSigner(scheme, "key")
		if err != nil {
			t.Fatalf("%q: %v", scheme, err)
		}
		parts := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}
		if !s.Verify(s.Sign(parts), parts) {
			t.Errorf("%q: own signature does not verify", scheme)
		}
	}
	if _, err := NewSigner("hmac-md4", "key"); err == nil {
		t.Error("unknown scheme accepted")
	}
}

// FuzzDecode feeds arbitrary frames (separated by 0xff, a byte that never
// occurs in UTF-8 JSON) to the decoder: it must never panic, and what it
// accepts must survive an encode/decode round trip.
func FuzzDecode(f *testing.F) {
	sep := []byte{0xff}
	for _, fr := range [][][]byte{
		signedFrames("", [][]byte{[]byte("id")}, okHeader, "{}", "{}", `{"code":"print(1)","silent":false}`),
		signedFrames("", nil, `{"msg_type":"kernel_info_request"}`, "{}", "{}", "{}", []byte("buffer")),
		signedFrames("k", nil, okHeader, "{}", "{}", "{}"),
		{[]byte(Delimiter)},
	} {
		f.Add(bytes.Join(fr, sep))
	}
	unsigned, _ := NewSigner("", "")
	keyed, _ := NewSigner("hmac-sha256", "k")
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := bytes.Split(data, sep)
		_, _ = Decode(frames, keyed)
		m, err := Decode(frames, unsigned)
		if err != nil {
			return
		}
		again, err := Decode(Encode(m.Identities, m.RawHeader, m.ParentHeader, m.Metadata, m.Content, m.Buffers, keyed), keyed)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if again.Header != m.Header || !bytes.Equal(again.Content, m.Content) || len(again.Buffers) != len(m.Buffers) {
			t.Fatalf("round trip changed the message: %+v vs %+v", again.Header, m.Header)
		}
	})
}

// A message composed by one end decodes at the other with its header,
// parent and content intact, and a reply names its request as parent.
func TestSessionCompose(t *testing.T) {
	s, err := NewSigner("hmac-sha256", "k")
	if err != nil {
		t.Fatal(err)
	}
	client, kernel := NewSession("client", s), NewSession("kernel", s)
	f, h, err := client.Compose(nil, nil, MsgExecuteRequest, ExecuteRequest{Code: "1+1", AllowStdin: new(false)})
	if err != nil {
		t.Fatal(err)
	}
	req, err := Decode(f, s)
	if err != nil {
		t.Fatalf("decode request: %v", err)
	}
	if req.Header != h || h.Session != client.ID || h.Username != "client" || h.Version != ProtocolVersion || h.MsgID == "" {
		t.Errorf("header %+v, returned %+v", req.Header, h)
	}
	if p := req.Parent(); p != (Header{}) {
		t.Errorf("parent of a request = %+v, want zero", p)
	}
	var c ExecuteRequest
	if err := json.Unmarshal(req.Content, &c); err != nil || c.Code != "1+1" || c.AllowStdin == nil || *c.AllowStdin || c.StoreHistory != nil {
		t.Errorf("content %s: %v", req.Content, err)
	}

	f, _, err = kernel.Compose([][]byte{[]byte("peer")}, req.RawHeader, MsgExecuteRequest.Reply(), ExecuteReplyOK{Status: StatusOK})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Decode(f, s)
	if err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	if rep.Header.MsgType != MsgExecuteReply || rep.Parent() != h || string(rep.Identities[0]) != "peer" {
		t.Errorf("reply %+v parent %+v ids %q", rep.Header, rep.Parent(), rep.Identities)
	}

	if _, _, err := client.Compose(nil, nil, MsgStream, func() {}); err == nil {
		t.Error("content that does not marshal was accepted")
	}
}

// partial feeds frames to a Partial as a reader dropping the message
// does: the first kept whole, the rest written in pieces.
func partial(frames [][]byte, kept int, s Signer) (*Message, error) {
	p := NewPartial(frames[:kept], s)
	for i := kept; i < len(frames); i++ {
		if w := p.Frame(i); w != nil {
			for f := frames[i]; len(f) > 0; f = f[min(3, len(f)):] {
				_, _ = w.Write(f[:min(3, len(f))])
			}
		}
	}
	return p.Message()
}

// A Partial accepts what Decode accepts and refuses a bad signature, a
// changed part, or a message whose header it did not get whole, wherever
// the message was cut.
func TestPartial(t *testing.T) {
	keyed, _ := NewSigner("hmac-sha256", "k")
	unsigned, _ := NewSigner("hmac-sha256", "")
	ids := [][]byte{[]byte("client-1")}
	good := signedFrames("k", ids, okHeader, `{"p":1}`, `{"m":2}`, `{"code":"big"}`, []byte("buf"))
	for kept := 4; kept <= len(good); kept++ { // from the header on
		m, err := partial(good, kept, keyed)
		if err != nil {
			t.Fatalf("cut at frame %d: %v", kept, err)
		}
		if m.Header.MsgType != MsgExecuteRequest || string(m.RawHeader) != okHeader || len(m.Identities) != 1 || string(m.Identities[0]) != "client-1" || m.Content != nil {
			t.Errorf("cut at frame %d: %+v", kept, m)
		}
	}
	tamper := func(i int, b string) [][]byte {
		f := append([][]byte(nil), good...)
		f[i] = []byte(b)
		return f
	}
	for _, tc := range []struct {
		name   string
		frames [][]byte
		kept   int
		s      Signer
		want   error // nil: accepted
	}{
		{"unsigned to a kernel without a key", signedFrames("", nil, okHeader, "{}", "{}", "{}"), 3, unsigned, nil},
		{"buffer changed", tamper(7, "other"), 4, keyed, nil},
		{"content changed", tamper(6, `{"code":"bug"}`), 4, keyed, errBadSignature},
		{"parent changed", tamper(4, `{"p":2}`), 6, keyed, errBadSignature},
		{"bad signature", tamper(2, "00"+string(good[2][2:])), 4, keyed, errBadSignature},
		{"no signature", tamper(2, ""), 4, keyed, errBadSignature},
		{"unsigned to a keyed kernel", signedFrames("", nil, okHeader, "{}", "{}", "{}"), 3, keyed, errBadSignature},
		{"too few frames", good[:6], 4, keyed, errTooFewFrames},
		{"header without msg_type", signedFrames("k", nil, `{"msg_id":"1"}`, "{}", "{}", "{}"), 3, keyed, errBadHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := partial(tc.frames, tc.kept, tc.s); !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
	// Refused without a check: too little was kept, or too much.
	for _, tc := range []struct {
		name   string
		frames [][]byte
		kept   int
		want   string // in the error
	}{
		{"cut before the header", good, 3, "header was past the limit"},
		{"cut before the delimiter", good, 0, "no <IDS|MSG>"},
		{"header over 64 KiB", signedFrames("k", nil, `{"msg_type":"execute_request","x":"`+string(bytes.Repeat([]byte("x"), 64<<10))+`"}`, "{}", "{}", "{}"), 3, "over 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := partial(tc.frames, tc.kept, keyed); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one that says %q", err, tc.want)
			}
		})
	}
}
