package wire

import "strings"

// Message types and content of the Jupyter messaging protocol 5.3, as far
// as iot-kernel speaks it, on either end. Request structs leave out fields
// no end of iot-kernel uses. A MIME bundle (data) is a map[string]any, the
// type underlying kernel.MIMEBundle, so either converts to the other.

// ProtocolVersion is the messaging protocol version in every header.
const ProtocolVersion = "5.3"

// MsgType is a header's msg_type.
type MsgType string

// Message types.
const (
	MsgKernelInfoRequest MsgType = "kernel_info_request"
	MsgKernelInfoReply   MsgType = "kernel_info_reply"
	MsgExecuteRequest    MsgType = "execute_request"
	MsgExecuteReply      MsgType = "execute_reply"
	MsgCompleteRequest   MsgType = "complete_request"
	MsgCompleteReply     MsgType = "complete_reply"
	MsgInspectRequest    MsgType = "inspect_request"
	MsgInspectReply      MsgType = "inspect_reply"
	MsgIsCompleteRequest MsgType = "is_complete_request"
	MsgIsCompleteReply   MsgType = "is_complete_reply"
	MsgHistoryRequest    MsgType = "history_request"
	MsgHistoryReply      MsgType = "history_reply"
	MsgCommInfoRequest   MsgType = "comm_info_request"
	MsgCommInfoReply     MsgType = "comm_info_reply"
	MsgCommOpen          MsgType = "comm_open"
	MsgCommMsg           MsgType = "comm_msg"
	MsgCommClose         MsgType = "comm_close"
	MsgShutdownRequest   MsgType = "shutdown_request"
	MsgShutdownReply     MsgType = "shutdown_reply"
	MsgInterruptRequest  MsgType = "interrupt_request"
	MsgInterruptReply    MsgType = "interrupt_reply"
	MsgInputRequest      MsgType = "input_request"
	MsgInputReply        MsgType = "input_reply"

	// IOPub.
	MsgStatus            MsgType = "status"
	MsgExecuteInput      MsgType = "execute_input"
	MsgStream            MsgType = "stream"
	MsgDisplayData       MsgType = "display_data"
	MsgUpdateDisplayData MsgType = "update_display_data"
	MsgExecuteResult     MsgType = "execute_result"
	MsgError             MsgType = "error"
	MsgClearOutput       MsgType = "clear_output"
)

// Reply returns the reply type of a request type: "x_request" gives
// "x_reply".
func (t MsgType) Reply() MsgType {
	return MsgType(strings.TrimSuffix(string(t), "_request") + "_reply")
}

// Header is a message header.
type Header struct {
	MsgID    string  `json:"msg_id"`
	Session  string  `json:"session"`
	Username string  `json:"username"`
	Date     string  `json:"date"`
	MsgType  MsgType `json:"msg_type"`
	Version  string  `json:"version"`
}

// Reply statuses.
const (
	StatusOK      = "ok"
	StatusError   = "error"
	StatusAborted = "aborted"
)

// KernelInfoReply is kernel_info_reply content.
type KernelInfoReply struct {
	Status                string       `json:"status"`
	ProtocolVersion       string       `json:"protocol_version"`
	Implementation        string       `json:"implementation"`
	ImplementationVersion string       `json:"implementation_version"`
	LanguageInfo          LanguageInfo `json:"language_info"`
	Banner                string       `json:"banner"`
	HelpLinks             []HelpLink   `json:"help_links"`
	Debugger              bool         `json:"debugger"`
}

// HelpLink is one entry of kernel_info_reply's help_links.
type HelpLink struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

// LanguageInfo is kernel_info_reply's language_info.
type LanguageInfo struct {
	Name              string         `json:"name"`
	Version           string         `json:"version"`
	Mimetype          string         `json:"mimetype"`
	FileExtension     string         `json:"file_extension"`
	PygmentsLexer     string         `json:"pygments_lexer"`
	CodemirrorMode    CodemirrorMode `json:"codemirror_mode"`
	NbconvertExporter string         `json:"nbconvert_exporter"`
}

// CodemirrorMode is language_info's codemirror_mode.
type CodemirrorMode struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// ExecuteRequest is execute_request content. Pointers tell absent fields,
// whose protocol defaults are true, from false.
type ExecuteRequest struct {
	Code            string         `json:"code"`
	Silent          bool           `json:"silent"`
	StoreHistory    *bool          `json:"store_history"`
	UserExpressions map[string]any `json:"user_expressions,omitempty"`
	AllowStdin      *bool          `json:"allow_stdin"`
	StopOnError     *bool          `json:"stop_on_error"`
}

// ExecuteReplyOK is execute_reply content with status "ok".
type ExecuteReplyOK struct {
	Status          string         `json:"status"`
	ExecutionCount  int            `json:"execution_count"`
	UserExpressions map[string]any `json:"user_expressions"`
	Payload         []any          `json:"payload"`
}

// ExecuteReplyError is execute_reply content with status "error". Its
// fields cover those of every status, so a client decodes any
// execute_reply into it.
type ExecuteReplyError struct {
	Status         string   `json:"status"`
	ExecutionCount int      `json:"execution_count"`
	Ename          string   `json:"ename"`
	Evalue         string   `json:"evalue"`
	Traceback      []string `json:"traceback"`
}

// ExecuteReplyAborted is execute_reply content with status "aborted". It
// has no execution_count, as the messaging spec and ipykernel have it: the
// request did not run, so it took no count of its own.
type ExecuteReplyAborted struct {
	Status string `json:"status"`
}

// ErrorReply is the generic reply content for a failed request.
type ErrorReply struct {
	Status    string   `json:"status"`
	Ename     string   `json:"ename"`
	Evalue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

// StatusContent is status content: "busy", "idle" or "starting".
type StatusContent struct {
	ExecutionState string `json:"execution_state"`
}

// ExecuteInput is execute_input content.
type ExecuteInput struct {
	Code           string `json:"code"`
	ExecutionCount int    `json:"execution_count"`
}

// StreamContent is stream content; Name is "stdout" or "stderr".
type StreamContent struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// DisplayData is display_data and update_display_data content. A client
// may decode execute_result into it too (Transient is then nil).
type DisplayData struct {
	Data      map[string]any `json:"data"`
	Metadata  map[string]any `json:"metadata"`
	Transient *Transient     `json:"transient,omitempty"`
}

// Transient is the part of display content that is not kept in a
// notebook.
type Transient struct {
	DisplayID string `json:"display_id"`
}

// ExecuteResult is execute_result content.
type ExecuteResult struct {
	ExecutionCount int            `json:"execution_count"`
	Data           map[string]any `json:"data"`
	Metadata       map[string]any `json:"metadata"`
}

// ErrorContent is the content of an IOPub error message.
type ErrorContent struct {
	Ename     string   `json:"ename"`
	Evalue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

// ClearOutput is clear_output content.
type ClearOutput struct {
	Wait bool `json:"wait"`
}

// CompleteRequest is complete_request content.
type CompleteRequest struct {
	Code      string `json:"code"`
	CursorPos int    `json:"cursor_pos"`
}

// CompleteReply is complete_reply content with status "ok".
type CompleteReply struct {
	Status      string         `json:"status"`
	Matches     []string       `json:"matches"`
	CursorStart int            `json:"cursor_start"`
	CursorEnd   int            `json:"cursor_end"`
	Metadata    map[string]any `json:"metadata"`
}

// InspectRequest is inspect_request content.
type InspectRequest struct {
	Code        string `json:"code"`
	CursorPos   int    `json:"cursor_pos"`
	DetailLevel int    `json:"detail_level"`
}

// InspectReply is inspect_reply content with status "ok".
type InspectReply struct {
	Status   string         `json:"status"`
	Found    bool           `json:"found"`
	Data     map[string]any `json:"data"`
	Metadata map[string]any `json:"metadata"`
}

// IsCompleteRequest is is_complete_request content.
type IsCompleteRequest struct {
	Code string `json:"code"`
}

// IsCompleteReply is is_complete_reply content.
type IsCompleteReply struct {
	Status string `json:"status"`
	Indent string `json:"indent"`
}

// HistoryReply is history_reply content.
type HistoryReply struct {
	Status  string `json:"status"`
	History []any  `json:"history"`
}

// CommInfoReply is comm_info_reply content.
type CommInfoReply struct {
	Status string         `json:"status"`
	Comms  map[string]any `json:"comms"`
}

// CommOpen is the part of comm_open content a kernel without comm targets
// needs.
type CommOpen struct {
	CommID     string `json:"comm_id"`
	TargetName string `json:"target_name"`
}

// CommClose is comm_close content.
type CommClose struct {
	CommID string         `json:"comm_id"`
	Data   map[string]any `json:"data"`
}

// ShutdownRequest is shutdown_request content.
type ShutdownRequest struct {
	Restart bool `json:"restart"`
}

// ShutdownReply is shutdown_reply content.
type ShutdownReply struct {
	Status  string `json:"status"`
	Restart bool   `json:"restart"`
}

// InterruptReply is interrupt_reply content.
type InterruptReply struct {
	Status string `json:"status"`
}

// InputRequest is input_request content.
type InputRequest struct {
	Prompt   string `json:"prompt"`
	Password bool   `json:"password"`
}

// InputReply is input_reply content.
type InputReply struct {
	Value string `json:"value"`
}
