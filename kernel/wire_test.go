package kernel

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// frames of a message signed with key, for table tests.
func signedFrames(key string, ids [][]byte, hdr, parent, meta, content string, buffers ...[]byte) [][]byte {
	s, _ := newSigner("hmac-sha256", key)
	return encode(ids, []byte(hdr), []byte(parent), []byte(meta), []byte(content), buffers, s)
}

const okHeader = `{"msg_id":"1","session":"s","username":"u","date":"","msg_type":"execute_request","version":"5.3"}`

func TestDecode(t *testing.T) {
	keyed, _ := newSigner("hmac-sha256", "k")
	unsigned, _ := newSigner("hmac-sha256", "")
	good := signedFrames("k", [][]byte{[]byte("client-1")}, okHeader, "{}", "{}", `{"code":"1"}`, []byte("buf"))
	tamper := func(i int, b string) [][]byte {
		f := append([][]byte(nil), good...)
		f[i] = []byte(b)
		return f
	}
	for _, tc := range []struct {
		name   string
		frames [][]byte
		s      signer
		want   error // nil: decodes
	}{
		{"valid", good, keyed, nil},
		{"valid no identities", signedFrames("k", nil, okHeader, "{}", "{}", "{}"), keyed, nil},
		{"valid unsigned", signedFrames("", nil, okHeader, "{}", "{}", "{}"), unsigned, nil},
		{"uppercase hex signature", tamper(2, string(bytes.ToUpper(good[2]))), keyed, nil},
		{"empty", nil, keyed, errNoDelimiter},
		{"no delimiter", [][]byte{[]byte("a"), []byte("b")}, keyed, errNoDelimiter},
		{"only delimiter", [][]byte{delimiter}, keyed, errTooFewFrames},
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
			m, err := decode(tc.frames, tc.s)
			if !errors.Is(err, tc.want) {
				t.Fatalf("decode error = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if m.Header.MsgType != msgExecuteRequest {
				t.Errorf("msg_type = %q", m.Header.MsgType)
			}
			if tc.name == "valid" {
				if len(m.Identities) != 1 || string(m.Identities[0]) != "client-1" || len(m.Buffers) != 1 || string(m.Buffers[0]) != "buf" {
					t.Errorf("identities %q buffers %q", m.Identities, m.Buffers)
				}
				var c executeRequest
				if err := json.Unmarshal(m.Content, &c); err != nil || c.Code != "1" {
					t.Errorf("content %s: %v", m.Content, err)
				}
			}
		})
	}
}

func TestSignerSchemes(t *testing.T) {
	for _, scheme := range []string{"hmac-sha256", "hmac-sha512", "hmac-sha1", ""} {
		s, err := newSigner(scheme, "key")
		if err != nil {
			t.Fatalf("%q: %v", scheme, err)
		}
		parts := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}
		if !s.verify(s.sign(parts), parts) {
			t.Errorf("%q: own signature does not verify", scheme)
		}
	}
	if _, err := newSigner("hmac-md4", "key"); err == nil {
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
		{delimiter},
	} {
		f.Add(bytes.Join(fr, sep))
	}
	unsigned, _ := newSigner("", "")
	keyed, _ := newSigner("hmac-sha256", "k")
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := bytes.Split(data, sep)
		_, _ = decode(frames, keyed)
		m, err := decode(frames, unsigned)
		if err != nil {
			return
		}
		again, err := decode(encode(m.Identities, m.RawHeader, m.ParentHeader, m.Metadata, m.Content, m.Buffers, keyed), keyed)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if again.Header != m.Header || !bytes.Equal(again.Content, m.Content) || len(again.Buffers) != len(m.Buffers) {
			t.Fatalf("round trip changed the message: %+v vs %+v", again.Header, m.Header)
		}
	})
}
