package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// The worker protocol: one JSON object a line each way. A request carries its id and op; the reply echoes the id,
// first on its line ({"id": N, ...}), so that a line the server cannot read still tells which request it answered.

// header is what every request carries.
type header struct {
	ID int64  `json:"id"`
	Op string `json:"op"`
}

func (h *header) base() *header { return h }

// request is one of the typed requests below.
type request interface{ base() *header }

type loadRequest struct {
	header
	Module   string `json:"module"`
	Filename string `json:"filename"`
	Source   string `json:"source"`
}

type importRequest struct {
	header
	Dotted string `json:"dotted"`
}

type unloadRequest struct {
	header
	Module string `json:"module"`
}

type invokeRequest struct {
	header
	Service string          `json:"service"`
	Payload json.RawMessage `json:"payload,omitempty"`
	CID     string          `json:"cid,omitempty"`
}

type pingRequest struct{ header }

type servicesRequest struct{ header }

func newLoad(module, filename string, source []byte) *loadRequest {
	return &loadRequest{header: header{Op: "load"}, Module: module, Filename: filename, Source: string(source)}
}
func newImport(dotted string) *importRequest {
	return &importRequest{header: header{Op: "import"}, Dotted: dotted}
}
func newUnload(module string) *unloadRequest {
	return &unloadRequest{header: header{Op: "unload"}, Module: module}
}
func newPing() *pingRequest         { return &pingRequest{header{Op: "ping"}} }
func newReplayed() *pingRequest     { return &pingRequest{header{Op: "replayed"}} }
func newServices() *servicesRequest { return &servicesRequest{header{Op: "services"}} }

// loaderOp tells the requests that run one after another on the worker's main thread, in the order sent (LOADER_OPS
// in the worker); they have a pipe of their own.
func loaderOp(op string) bool {
	return op == "load" || op == "import" || op == "unload" || op == "replayed"
}

// reply is any line from the worker: a reply to a request, or a log record.
type reply struct {
	ID       int64           `json:"id"`
	Log      *logRecord      `json:"log"`
	OK       bool            `json:"ok"`
	Services []string        `json:"services"` // load, import
	Listing  []serviceJSON   `json:"listing"`  // services
	Removed  []string        `json:"removed"`  // load, import, unload
	Response json.RawMessage `json:"response"` // invoke
	Status   int             `json:"status"`   // invoke: the HTTP status of a failure
	PID      int             `json:"pid"`      // ping
	// Executable is the interpreter's own path (sys.executable), from ping: restarts run it directly rather than
	// through a launcher such as pyenv's shim, a shell script that costs a few hundred ms at every start.
	Executable string      `json:"executable"`
	Error      *replyError `json:"error"`
}

type replyError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	Traceback string `json:"traceback"`
}

type serviceJSON struct {
	Name   string `json:"name"`
	Module string `json:"module"`
	Class  string `json:"class"`
}

// logRecord is a service's self.logger record.
type logRecord struct {
	Level  string `json:"level"`
	Logger string `json:"logger"`
	Msg    string `json:"msg"`
}

// failed is the reply that stands for one the server could not read.
func failed(id int64, status int, typ, msg string) reply {
	return reply{ID: id, Status: status, Error: &replyError{Type: typ, Message: msg}}
}

// idOf reads the id at the start of a reply line, {"id": N, ...}.
func idOf(line []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"id":`))
	if !ok {
		return 0, false
	}
	rest = bytes.TrimLeft(rest, " ")
	n := 0
	for n < len(rest) && n < 19 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	id, err := strconv.ParseInt(string(rest[:n]), 10, 64)
	return id, err == nil && id > 0
}

// lineReader splits a stream into lines without ever holding more than max bytes of one: the rest of a longer line
// is read and counted, not kept, so that no line, however long, stalls the stream or ends the reading.
type lineReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

func newLineReader(rd io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(rd, 64<<10), max: max}
}

// next returns the next line without its newline (at most max bytes of it) and the whole line's length; the line is
// valid until the next call.
func (l *lineReader) next() (line []byte, size int64, err error) {
	if cap(l.buf) > 4<<20 {
		l.buf = nil // one huge reply must not pin its buffer for ever
	}
	l.buf = l.buf[:0]
	for {
		chunk, err := l.br.ReadSlice('\n')
		n := len(chunk)
		if err == nil {
			n-- // the newline
		}
		size += int64(n)
		if room := l.max - len(l.buf); room > 0 {
			l.buf = append(l.buf, chunk[:min(n, room)]...)
		}
		switch {
		case err == nil:
			return l.buf, size, nil
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF && size > 0:
			return l.buf, size, nil // the last line, without its newline
		default:
			return nil, 0, err
		}
	}
}
