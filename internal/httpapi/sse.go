package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sseWriter writes Server-Sent-Events frames and flushes each one. Every
// write carries a deadline, so a client that stops reading makes the write
// fail instead of holding the handler (and its memory) forever.
type sseWriter struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	buf          []byte
	writeTimeout time.Duration
}

func newSSEWriter(w http.ResponseWriter, writeTimeout time.Duration) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	return &sseWriter{w: w, rc: http.NewResponseController(w), writeTimeout: writeTimeout}
}

// event writes one frame; id 0 omits the id line.
func (s *sseWriter) event(name string, id int64, data any) error {
	payload, err := json.Marshal(data)
	if err != nil {
		return err
	}
	b := s.buf[:0]
	b = append(b, "event: "...)
	b = append(b, safeEventName(name)...)
	b = append(b, '\n')
	if id > 0 {
		b = append(b, "id: "...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '\n')
	}
	b = append(b, "data: "...)
	b = append(b, payload...)
	b = append(b, '\n', '\n')
	s.buf = b
	return s.write(b)
}

// comment writes an SSE comment line, used as a keep-alive.
func (s *sseWriter) comment(text string) error {
	return s.write([]byte(": " + text + "\n\n"))
}

func (s *sseWriter) write(b []byte) error {
	if s.writeTimeout > 0 {
		// Not every ResponseWriter supports deadlines (httptest's does
		// not); streaming still works without one.
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// safeEventName keeps a frame's event line on one line: a CR or LF in a
// name would end the field early and let the rest forge frame fields.
func safeEventName(name string) string {
	if !strings.ContainsAny(name, "\r\n") {
		return name
	}
	return strings.NewReplacer("\r", "_", "\n", "_").Replace(name)
}
