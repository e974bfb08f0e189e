package hostkernel

// Minimal client side of the Jupyter wire protocol (messaging 5.3): framing,
// HMAC signing and the few content types this client uses.
// TODO: use kernel/'s codec once it exports one; this duplicates it.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/iot-kernel/iot-kernel/kernel"
)

const protocolVersion = "5.3"

var delimiter = []byte("<IDS|MSG>")

// header is a message header.
type header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Date     string `json:"date"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// message is one decoded message.
type message struct {
	Header    header
	RawHeader json.RawMessage // for the parent_header of a reply (input_reply)
	Parent    header
	Content   json.RawMessage
}

// codec signs and frames messages for one session.
type codec struct {
	key     []byte
	session string
}

func newCodec(key []byte) *codec {
	return &codec{key: key, session: uuid.NewString()}
}

func (c *codec) mac(parts [][]byte) []byte {
	m := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// encode builds the frames of a new message of type typ; parent may be nil.
// It returns the frames and the new message's id.
func (c *codec) encode(typ string, parent json.RawMessage, content any) ([][]byte, string, error) {
	id := uuid.NewString()
	hdr, err := json.Marshal(header{
		MsgID:    id,
		Session:  c.session,
		Username: "iot-kernel",
		Date:     time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"),
		MsgType:  typ,
		Version:  protocolVersion,
	})
	if err != nil {
		return nil, "", err
	}
	if parent == nil {
		parent = json.RawMessage("{}")
	}
	body, err := json.Marshal(content)
	if err != nil {
		return nil, "", fmt.Errorf("encode %s: %w", typ, err)
	}
	signed := [][]byte{hdr, parent, []byte("{}"), body}
	frames := [][]byte{delimiter, []byte(hex.EncodeToString(c.mac(signed)))}
	return append(frames, signed...), id, nil
}

var errBadMessage = errors.New("malformed message")

// decode checks and parses the frames of one received message.
func (c *codec) decode(frames [][]byte) (*message, error) {
	d := -1
	for i, f := range frames {
		if bytes.Equal(f, delimiter) {
			d = i
			break
		}
	}
	if d < 0 || len(frames)-d < 6 {
		return nil, fmt.Errorf("%w: no delimiter or too few frames", errBadMessage)
	}
	signed := frames[d+2 : d+6]
	sig := make([]byte, hex.DecodedLen(len(frames[d+1])))
	if _, err := hex.Decode(sig, frames[d+1]); err != nil || !hmac.Equal(sig, c.mac(signed)) {
		return nil, fmt.Errorf("%w: bad signature", errBadMessage)
	}
	m := &message{RawHeader: signed[0], Content: signed[3]}
	if err := json.Unmarshal(signed[0], &m.Header); err != nil || m.Header.MsgType == "" {
		return nil, fmt.Errorf("%w: bad header", errBadMessage)
	}
	// The parent of unsolicited messages is {} and decodes to a zero header.
	if err := json.Unmarshal(signed[1], &m.Parent); err != nil {
		return nil, fmt.Errorf("%w: bad parent_header: %v", errBadMessage, err)
	}
	return m, nil
}

// Content of the messages this client sends and reads.

type executeRequest struct {
	Code            string         `json:"code"`
	Silent          bool           `json:"silent"`
	StoreHistory    bool           `json:"store_history"`
	UserExpressions map[string]any `json:"user_expressions"`
	AllowStdin      bool           `json:"allow_stdin"`
	StopOnError     bool           `json:"stop_on_error"`
}

type replyContent struct {
	Status    string   `json:"status"`
	Ename     string   `json:"ename"`
	Evalue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

type statusContent struct {
	ExecutionState string `json:"execution_state"`
}

type streamContent struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

type displayContent struct {
	Data      kernel.MIMEBundle `json:"data"`
	Metadata  map[string]any    `json:"metadata"`
	Transient struct {
		DisplayID string `json:"display_id"`
	} `json:"transient"`
}

type clearContent struct {
	Wait bool `json:"wait"`
}

type inputRequest struct {
	Prompt   string `json:"prompt"`
	Password bool   `json:"password"`
}

type inputReply struct {
	Status string `json:"status"`
	Value  string `json:"value"`
}

type shutdownRequest struct {
	Restart bool `json:"restart"`
}
