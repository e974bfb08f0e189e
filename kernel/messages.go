package kernel

// Message types and content of the Jupyter messaging protocol 5.3, as far
// as this kernel speaks it. Content is always a typed struct; fields the
// kernel does not use are left out of request structs.

// protocolVersion is the messaging protocol version this kernel speaks.
const protocolVersion = "5.3"

// msgType is a header's msg_type.
type msgType string

const (
	msgKernelInfoRequest msgType = "kernel_info_request"
	msgKernelInfoReply   msgType = "kernel_info_reply"
	msgExecuteRequest    msgType = "execute_request"
	msgExecuteReply      msgType = "execute_reply"
	msgCompleteRequest   msgType = "complete_request"
	msgCompleteReply     msgType = "complete_reply"
	msgInspectRequest    msgType = "inspect_request"
	msgInspectReply      msgType = "inspect_reply"
	msgIsCompleteRequest msgType = "is_complete_request"
	msgIsCompleteReply   msgType = "is_complete_reply"
	msgHistoryRequest    msgType = "history_request"
	msgHistoryReply      msgType = "history_reply"
	msgCommInfoRequest   msgType = "comm_info_request"
	msgCommInfoReply     msgType = "comm_info_reply"
	msgCommOpen          msgType = "comm_open"
	msgCommMsg           msgType = "comm_msg"
	msgCommClose         msgType = "comm_close"
	msgShutdownRequest   msgType = "shutdown_request"
	msgShutdownReply     msgType = "shutdown_reply"
	msgInterruptRequest  msgType = "interrupt_request"
	msgInterruptReply    msgType = "interrupt_reply"
	msgInputRequest      msgType = "input_request"
	msgInputReply        msgType = "input_reply"

	// IOPub.
	msgStatus            msgType = "status"
	msgExecuteInput      msgType = "execute_input"
	msgStream            msgType = "stream"
	msgDisplayData       msgType = "display_data"
	msgUpdateDisplayData msgType = "update_display_data"
	msgExecuteResult     msgType = "execute_result"
	msgError             msgType = "error"
	msgClearOutput       msgType = "clear_output"
)

// header is a message header.
type header struct {
	MsgID    string  `json:"msg_id"`
	Session  string  `json:"session"`
	Username string  `json:"username"`
	Date     string  `json:"date"`
	MsgType  msgType `json:"msg_type"`
	Version  string  `json:"version"`
}

// Reply statuses.
const (
	statusOK      = "ok"
	statusError   = "error"
	statusAborted = "aborted"
)

type kernelInfoReply struct {
	Status                string       `json:"status"`
	ProtocolVersion       string       `json:"protocol_version"`
	Implementation        string       `json:"implementation"`
	ImplementationVersion string       `json:"implementation_version"`
	LanguageInfo          languageInfo `json:"language_info"`
	Banner                string       `json:"banner"`
	HelpLinks             []HelpLink   `json:"help_links"`
	Debugger              bool         `json:"debugger"`
}

type languageInfo struct {
	Name              string         `json:"name"`
	Version           string         `json:"version"`
	Mimetype          string         `json:"mimetype"`
	FileExtension     string         `json:"file_extension"`
	PygmentsLexer     string         `json:"pygments_lexer"`
	CodemirrorMode    codemirrorMode `json:"codemirror_mode"`
	NbconvertExporter string         `json:"nbconvert_exporter"`
}

type codemirrorMode struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// executeRequest is execute_request content. Pointers tell absent fields,
// whose protocol defaults are true, from false.
type executeRequest struct {
	Code         string `json:"code"`
	Silent       bool   `json:"silent"`
	StoreHistory *bool  `json:"store_history"`
	AllowStdin   *bool  `json:"allow_stdin"`
	StopOnError  *bool  `json:"stop_on_error"`
}

type executeReplyOK struct {
	Status          string         `json:"status"`
	ExecutionCount  int            `json:"execution_count"`
	UserExpressions map[string]any `json:"user_expressions"`
	Payload         []any          `json:"payload"`
}

type executeReplyError struct {
	Status         string   `json:"status"`
	ExecutionCount int      `json:"execution_count"`
	Ename          string   `json:"ename"`
	Evalue         string   `json:"evalue"`
	Traceback      []string `json:"traceback"`
}

type executeReplyAborted struct {
	Status         string `json:"status"`
	ExecutionCount int    `json:"execution_count"`
}

// errorReply is the generic reply content for a failed request.
type errorReply struct {
	Status    string   `json:"status"`
	Ename     string   `json:"ename"`
	Evalue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

type statusContent struct {
	ExecutionState string `json:"execution_state"`
}

type executeInput struct {
	Code           string `json:"code"`
	ExecutionCount int    `json:"execution_count"`
}

type streamContent struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

type displayData struct {
	Data      MIMEBundle     `json:"data"`
	Metadata  map[string]any `json:"metadata"`
	Transient *transient     `json:"transient,omitempty"`
}

type transient struct {
	DisplayID string `json:"display_id"`
}

type executeResult struct {
	ExecutionCount int            `json:"execution_count"`
	Data           MIMEBundle     `json:"data"`
	Metadata       map[string]any `json:"metadata"`
}

type errorContent struct {
	Ename     string   `json:"ename"`
	Evalue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

type clearOutput struct {
	Wait bool `json:"wait"`
}

type completeRequest struct {
	Code      string `json:"code"`
	CursorPos int    `json:"cursor_pos"`
}

type completeReply struct {
	Status      string         `json:"status"`
	Matches     []string       `json:"matches"`
	CursorStart int            `json:"cursor_start"`
	CursorEnd   int            `json:"cursor_end"`
	Metadata    map[string]any `json:"metadata"`
}

type inspectRequest struct {
	Code        string `json:"code"`
	CursorPos   int    `json:"cursor_pos"`
	DetailLevel int    `json:"detail_level"`
}

type inspectReply struct {
	Status   string         `json:"status"`
	Found    bool           `json:"found"`
	Data     MIMEBundle     `json:"data"`
	Metadata map[string]any `json:"metadata"`
}

type isCompleteRequest struct {
	Code string `json:"code"`
}

type isCompleteReply struct {
	Status string `json:"status"`
	Indent string `json:"indent"`
}

type historyReply struct {
	Status  string `json:"status"`
	History []any  `json:"history"`
}

type commInfoReply struct {
	Status string         `json:"status"`
	Comms  map[string]any `json:"comms"`
}

type commOpen struct {
	CommID     string `json:"comm_id"`
	TargetName string `json:"target_name"`
}

type commClose struct {
	CommID string         `json:"comm_id"`
	Data   map[string]any `json:"data"`
}

type shutdownRequest struct {
	Restart bool `json:"restart"`
}

type shutdownReply struct {
	Status  string `json:"status"`
	Restart bool   `json:"restart"`
}

type interruptReply struct {
	Status string `json:"status"`
}

type inputRequest struct {
	Prompt   string `json:"prompt"`
	Password bool   `json:"password"`
}

type inputReply struct {
	Value string `json:"value"`
}

// orEmpty returns m, or an empty map so that JSON says {} and not null.
func orEmpty[M ~map[string]any](m M) M {
	if m == nil {
		return M{}
	}
	return m
}
