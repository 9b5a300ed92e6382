package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRunBody sends arbitrary bodies to both run routes: whatever arrives,
// the answer is never a 5xx and always JSON or an event stream.
func FuzzRunBody(f *testing.F) {
	for _, seed := range []string{
		`{"query":"hello"}`,
		`{"query":"hi","session_id":"abc"}`,
		"{\"query\":\"add\\n{\\\"tool\\\": \\\"add\\\", \\\"arguments\\\": {\\\"a\\\": 1, \\\"b\\\": 2}}\"}",
		`{"query":""}`, `{}`, `[]`, `null`, `{"query":5}`, `{"query":"x","extra":true}`,
		`{"query":"x","session_id":"../../etc/passwd"}`, `{"query":"\u0000"}`, `{"query`, ``,
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	b := setupFuzz(f)
	h := b.api.Handler()
	f.Fuzz(func(t *testing.T, body string, stream bool) {
		path := "/run/sync"
		if stream {
			path = "/run"
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		}
		ct := rec.Header().Get("Content-Type")
		if !strings.Contains(ct, "json") && ct != "text/event-stream" {
			t.Fatalf("body %q: content type %q", body, ct)
		}
	})
}

// FuzzSSEFrame writes one frame with an arbitrary event name and data and
// parses it back: exactly one frame, the same (sanitised) name, the data
// intact.
func FuzzSSEFrame(f *testing.F) {
	f.Add("final_answer", "42", int64(7))
	f.Add("evil\nid: 999\ndata: forged", "line1\nline2\r\n", int64(1))
	f.Add("", "", int64(0))
	f.Fuzz(func(t *testing.T, name, data string, id int64) {
		rec := httptest.NewRecorder()
		sw := newSSEWriter(rec, 0)
		if err := sw.event(name, id, map[string]string{"v": data}); err != nil {
			t.Skip() // unencodable data (invalid UTF-8 is replaced, so this is rare)
		}
		frames := strings.Split(strings.TrimSuffix(rec.Body.String(), "\n\n"), "\n\n")
		if len(frames) != 1 {
			t.Fatalf("wrote %d frames: %q", len(frames), rec.Body.String())
		}
		var gotName, gotID, gotData string
		for _, line := range strings.Split(frames[0], "\n") {
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "event":
				gotName = value
			case "id":
				gotID = value
			case "data":
				gotData = value
			default:
				t.Fatalf("unexpected line %q in %q", line, frames[0])
			}
		}
		if gotName != safeEventName(name) {
			t.Errorf("name = %q, want %q", gotName, safeEventName(name))
		}
		if (id > 0) != (gotID != "") {
			t.Errorf("id %d written as %q", id, gotID)
		}
		var back map[string]string
		if err := json.Unmarshal([]byte(gotData), &back); err != nil {
			t.Fatalf("data %q: %v", gotData, err)
		}
		// JSON replaces each invalid UTF-8 byte with U+FFFD; compare with
		// what a plain round trip of the value gives.
		var want map[string]string
		raw, _ := json.Marshal(map[string]string{"v": data})
		_ = json.Unmarshal(raw, &want)
		if want["v"] != back["v"] {
			t.Errorf("data = %q, want %q", back["v"], want["v"])
		}
	})
}
