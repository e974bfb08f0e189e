// Package wire is the Jupyter messaging protocol 5.3 on the wire, for both
// ends of a connection: HMAC signing, the multipart message format
// (identities, <IDS|MSG>, signature, header, parent_header, metadata,
// content, buffers), headers, message types and the content of the
// messages iot-kernel sends or reads. Package kernel serves it; package
// hostkernel speaks it as a client. It does no socket I/O.
//
// A side of a connection builds messages through a Session and checks
// received ones with Decode:
//
//	sig, err := wire.NewSigner(ci.SignatureScheme, ci.Key)
//	sess := wire.NewSession("kernel", sig)
//	frames, hdr, err := sess.Compose(ids, req.RawHeader, wire.MsgStatus, wire.StatusContent{ExecutionState: "idle"})
//	msg, err := wire.Decode(received, sig)
//
// A message too large to hold is checked with a Partial as it is read past.
package wire

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
	"io"
	"time"

	"github.com/google/uuid"
)

// Delimiter is the frame that separates routing identities from the
// signed parts of a message.
const Delimiter = "<IDS|MSG>"

// Decoding errors. A message that fails with one of them is dropped.
var (
	errNoDelimiter  = errors.New("no <IDS|MSG> delimiter")
	errTooFewFrames = errors.New("too few frames after delimiter")
	errBadSignature = errors.New("bad signature")
	errBadHeader    = errors.New("header is not a JSON object with a msg_type")
	errNotObject    = errors.New("part is not a JSON object")
)

// Signer computes and checks the HMAC of a message's four signed parts
// (header, parent_header, metadata, content). The zero Signer, like one
// made with an empty key, leaves messages unsigned and accepts any
// signature.
type Signer struct {
	key     []byte
	newHash func() hash.Hash
}

// NewSigner returns the signer of a connection file's signature_scheme
// ("hmac-sha256", the default when empty, "hmac-sha512" or "hmac-sha1")
// and key. An empty key means unsigned messages.
func NewSigner(scheme, key string) (Signer, error) {
	if key == "" {
		return Signer{}, nil
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
		return Signer{}, fmt.Errorf("unsupported signature_scheme %q", scheme)
	}
	return Signer{key: []byte(key), newHash: h}, nil
}

func (s Signer) mac(parts [][]byte) []byte {
	m := hmac.New(s.newHash, s.key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// Sign returns the hex signature of parts, or an empty one without a key.
func (s Signer) Sign(parts [][]byte) []byte {
	if s.key == nil {
		return []byte{}
	}
	return []byte(hex.EncodeToString(s.mac(parts)))
}

// Verify checks a received hex signature of parts in constant time. Without
// a key every signature passes.
func (s Signer) Verify(sig []byte, parts [][]byte) bool {
	if s.key == nil {
		return true
	}
	return sigMatches(sig, s.mac(parts))
}

// sigMatches reports whether the hex signature sig is sum, in constant time.
func sigMatches(sig, sum []byte) bool {
	got := make([]byte, hex.DecodedLen(len(sig)))
	if _, err := hex.Decode(got, sig); err != nil {
		return false
	}
	return hmac.Equal(got, sum)
}

// Message is one decoded message. The byte slices share memory with the
// frames it was decoded from.
type Message struct {
	Identities [][]byte // routing frames before the delimiter
	Header     Header
	// RawHeader is the header exactly as received; it becomes the
	// parent_header of replies so unknown fields survive the round trip.
	RawHeader    json.RawMessage
	ParentHeader json.RawMessage
	Metadata     json.RawMessage
	Content      json.RawMessage
	Buffers      [][]byte
}

// Parent decodes the parent_header. Unsolicited messages have {} as their
// parent, which gives a zero Header, as does a parent that does not match
// Header's fields.
func (m *Message) Parent() Header {
	var h Header
	_ = json.Unmarshal(m.ParentHeader, &h)
	return h
}

// Decode parses and authenticates the frames of one message: it checks
// the signature with s, that the header is a JSON object with a msg_type,
// and that parent_header, metadata and content are JSON objects. It never
// panics and never trusts a length it has not checked.
func Decode(frames [][]byte, s Signer) (*Message, error) {
	d := -1
	for i, f := range frames {
		if string(f) == Delimiter {
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
	if !s.Verify(sig, signed) {
		return nil, errBadSignature
	}
	m := &Message{
		Identities:   frames[:d],
		RawHeader:    signed[0],
		ParentHeader: signed[1],
		Metadata:     signed[2],
		Content:      signed[3],
		Buffers:      frames[d+6:],
	}
	if err := m.parseHeader(); err != nil {
		return nil, err
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

// parseHeader decodes RawHeader into Header: a JSON object with a msg_type.
func (m *Message) parseHeader() error {
	if !isObject(m.RawHeader) {
		return errBadHeader
	}
	if err := json.Unmarshal(m.RawHeader, &m.Header); err != nil || m.Header.MsgType == "" {
		return errBadHeader
	}
	return nil
}

// isObject reports whether b is valid JSON whose top level is an object.
func isObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

// Encode signs with s and frames a message: identities, delimiter,
// signature, header, parent_header, metadata, content, buffers.
func Encode(identities [][]byte, header, parent, metadata, content []byte, buffers [][]byte, s Signer) [][]byte {
	signed := [][]byte{header, parent, metadata, content}
	frames := make([][]byte, 0, len(identities)+6+len(buffers))
	frames = append(frames, identities...)
	frames = append(frames, []byte(Delimiter), s.Sign(signed))
	frames = append(frames, signed...)
	frames = append(frames, buffers...)
	return frames
}

// Session is one end of a connection: the session id and username in the
// header of every message it sends, and the signer of the connection.
type Session struct {
	ID       string // header.session; a UUID
	Username string // header.username
	Signer   Signer
}

// NewSession returns a session with a new random id.
func NewSession(username string, s Signer) Session {
	return Session{ID: uuid.NewString(), Username: username, Signer: s}
}

// Compose builds the signed frames of a new message of type t to
// identities, with a fresh header, empty metadata, no buffers and content
// marshalled to JSON. parent is the raw header of the message this one
// answers (Message.RawHeader), or nil for none. It returns the frames and
// the new header (whose MsgID a client waits on for replies).
func (s Session) Compose(identities [][]byte, parent json.RawMessage, t MsgType, content any) ([][]byte, Header, error) {
	c, err := json.Marshal(content)
	if err != nil {
		return nil, Header{}, fmt.Errorf("encode %s content: %w", t, err)
	}
	h := Header{
		MsgID:    uuid.NewString(),
		Session:  s.ID,
		Username: s.Username,
		Date:     time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		MsgType:  t,
		Version:  ProtocolVersion,
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, Header{}, fmt.Errorf("encode %s header: %w", t, err)
	}
	if parent == nil {
		parent = json.RawMessage("{}")
	}
	return Encode(identities, hb, parent, []byte("{}"), c, nil, s.Signer), h, nil
}

// maxHeadFrame bounds each frame a Partial keeps: a request's identities,
// delimiter, signature and header are small, so a larger one is no
// request to answer, and keeping it would hold what the limit refused.
const maxHeadFrame = 64 << 10

// Partial authenticates a message too large to hold as it is read past.
// NewPartial gets the frames read whole before the reader stopped keeping
// them; every later frame's bytes go through the writer Frame returns as
// they are discarded; Message then checks the signature over the four
// signed parts, as Decode does. It keeps only the identities, signature
// and header, so its memory stays small whatever the message's size.
type Partial struct {
	mac    hash.Hash // nil without a key
	d      int       // index of the delimiter
	ids    [][]byte
	sig    []byte
	header []byte
	frames int   // frames seen so far
	err    error // why the message cannot be answered, once known
}

// NewPartial starts checking a message from its first frames, those read
// whole (kept may end anywhere, even inside the identities).
func NewPartial(kept [][]byte, s Signer) *Partial {
	p := &Partial{d: -1, frames: len(kept)}
	for i, f := range kept {
		if string(f) == Delimiter {
			p.d = i
			break
		}
	}
	switch {
	case p.d < 0:
		p.err = errNoDelimiter
		return p
	case len(kept) < p.d+3:
		p.err = errors.New("its header was past the limit")
		return p
	}
	for _, f := range kept[:p.d+3] {
		if len(f) > maxHeadFrame {
			p.err = fmt.Errorf("a frame before its parent_header is over %d bytes", maxHeadFrame)
			return p
		}
	}
	if s.key != nil {
		p.mac = hmac.New(s.newHash, s.key)
	}
	for i := p.d + 2; i < len(kept) && i < p.d+6; i++ {
		p.write(kept[i])
	}
	// A copy: kept's array still holds the frames after the header, which
	// may be large (content read whole before a buffer passed the limit).
	p.ids = append([][]byte(nil), kept[:p.d]...)
	p.sig, p.header = kept[p.d+1], kept[p.d+2]
	return p
}

func (p *Partial) write(b []byte) {
	if p.mac != nil {
		p.mac.Write(b)
	}
}

// Frame returns where the bytes of the message's next frame go, i its
// index from the first identity (frames come in order); nil when they are
// not signed, or the message is already known to be unanswerable.
func (p *Partial) Frame(i int) io.Writer {
	p.frames = i + 1
	if p.err != nil || p.mac == nil || i < p.d+2 || i >= p.d+6 {
		return nil
	}
	return p.mac
}

// Message returns the message's identities and header once all its frames
// have gone through, if its signature verifies and its header is a JSON
// object with a msg_type. Its ParentHeader, Metadata and Content are nil:
// they were not kept.
func (p *Partial) Message() (*Message, error) {
	if p.err != nil {
		return nil, p.err
	}
	if p.frames-p.d < 6 {
		return nil, fmt.Errorf("%w: %d", errTooFewFrames, p.frames-p.d-1)
	}
	if p.mac != nil && !sigMatches(p.sig, p.mac.Sum(nil)) {
		return nil, errBadSignature
	}
	m := &Message{Identities: p.ids, RawHeader: p.header}
	if err := m.parseHeader(); err != nil {
		return nil, err
	}
	return m, nil
}
