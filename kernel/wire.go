package kernel

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// delimiter separates routing identities from the signed message parts.
var delimiter = []byte("<IDS|MSG>")

// Decoding errors. A message that fails with one of them is dropped.
var (
	errNoDelimiter  = errors.New("no <IDS|MSG> delimiter")
	errTooFewFrames = errors.New("too few frames after delimiter")
	errBadSignature = errors.New("bad signature")
	errBadHeader    = errors.New("header is not a JSON object with a msg_type")
	errNotObject    = errors.New("part is not a JSON object")
)

// signer computes and checks the HMAC of a message's four signed parts.
// An empty key means messages are unsigned and not checked.
type signer struct {
	key     []byte
	newHash func() hash.Hash
}

func newSigner(scheme, key string) (signer, error) {
	if key == "" {
		return signer{}, nil
	}
	var h func() hash.Hash
	switch scheme {
	case "", "hmac-sha256":
		h = sha256.New
	case "hmac-sha512":
		h = sha512.New
	case "hmac-sha1":
		h = sha1.New
	default:
		return signer{}, fmt.Errorf("unsupported signature_scheme %q", scheme)
	}
	return signer{key: []byte(key), newHash: h}, nil
}

func (s signer) mac(parts [][]byte) []byte {
	m := hmac.New(s.newHash, s.key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// sign returns the hex signature of parts, or "" without a key.
func (s signer) sign(parts [][]byte) []byte {
	if s.key == nil {
		return []byte{}
	}
	return []byte(hex.EncodeToString(s.mac(parts)))
}

// verify checks a received hex signature in constant time.
func (s signer) verify(sig []byte, parts [][]byte) bool {
	if s.key == nil {
		return true
	}
	got := make([]byte, hex.DecodedLen(len(sig)))
	if _, err := hex.Decode(got, sig); err != nil {
		return false
	}
	return hmac.Equal(got, s.mac(parts))
}

// message is one decoded Jupyter message.
type message struct {
	Identities [][]byte // routing frames before the delimiter
	Header     header
	// RawHeader is the header exactly as received; it becomes the
	// parent_header of replies so unknown fields survive the round trip.
	RawHeader    json.RawMessage
	ParentHeader json.RawMessage
	Metadata     json.RawMessage
	Content      json.RawMessage
	Buffers      [][]byte
}

// decode parses and authenticates the frames of one message. It never
// panics and never trusts a length it has not checked.
func decode(frames [][]byte, s signer) (*message, error) {
	d := -1
	for i, f := range frames {
		if bytes.Equal(f, delimiter) {
			d = i
			break
		}
	}
	if d < 0 {
		return nil, errNoDelimiter
	}
	if len(frames)-d < 6 {
		return nil, fmt.Errorf("%w: %d", errTooFewFrames, len(frames)-d-1)
	}
	sig := frames[d+1]
	signed := frames[d+2 : d+6]
	if !s.verify(sig, signed) {
		return nil, errBadSignature
	}
	m := &message{
		Identities:   frames[:d],
		RawHeader:    signed[0],
		ParentHeader: signed[1],
		Metadata:     signed[2],
		Content:      signed[3],
		Buffers:      frames[d+6:],
	}
	if !isObject(m.RawHeader) {
		return nil, errBadHeader
	}
	if err := json.Unmarshal(m.RawHeader, &m.Header); err != nil || m.Header.MsgType == "" {
		return nil, errBadHeader
	}
	for _, p := range []struct {
		name string
		raw  json.RawMessage
	}{{"parent_header", m.ParentHeader}, {"metadata", m.Metadata}, {"content", m.Content}} {
		if !isObject(p.raw) {
			return nil, fmt.Errorf("%s: %w", p.name, errNotObject)
		}
	}
	return m, nil
}

// isObject reports whether b is valid JSON whose top level is an object.
func isObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

// encode signs and frames a message: identities, delimiter, signature,
// header, parent_header, metadata, content, buffers.
func encode(identities [][]byte, hdr, parent, metadata, content []byte, buffers [][]byte, s signer) [][]byte {
	signed := [][]byte{hdr, parent, metadata, content}
	frames := make([][]byte, 0, len(identities)+6+len(buffers))
	frames = append(frames, identities...)
	frames = append(frames, delimiter, s.sign(signed))
	frames = append(frames, signed...)
	frames = append(frames, buffers...)
	return frames
}

// replyType maps "x_request" to "x_reply".
func replyType(t msgType) msgType {
	return msgType(strings.TrimSuffix(string(t), "_request") + "_reply")
}
