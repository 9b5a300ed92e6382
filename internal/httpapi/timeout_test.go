package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTimeoutMiddleware(t *testing.T) {
	t.Parallel()
	a := &API{cfg: Config{RequestTimeout: 20 * time.Millisecond}}
	release := make(chan struct{})
	slow := a.timeoutMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a handler that honours its context
		<-release
		_, _ = w.Write([]byte("too late"))
	}))
	rec := httptest.NewRecorder()
	slow.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/background/status", nil))
	close(release)
	if rec.Code != http.StatusGatewayTimeout {
		t.Fatalf("status = %d, want 504", rec.Code)
	}
	want := `{"error":"GatewayTimeout","message":"Request timed out","detail":"Request timed out after 0 seconds"}` + "\n"
	if diff := cmp.Diff(want, rec.Body.String()); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

	fast := a.timeoutMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "1")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("ok"))
	}))
	rec = httptest.NewRecorder()
	fast.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tools", nil))
	if rec.Code != http.StatusCreated || rec.Body.String() != "ok" || rec.Header().Get("X-Test") != "1" {
		t.Errorf("fast handler: %d %q %v", rec.Code, rec.Body, rec.Header())
	}

	// Streaming and self-timed routes pass straight through.
	for _, p := range []string{"/run", "/run/sync", "/prometheus", "/docs", "/events/s1"} {
		if !a.timeoutExempt(p) {
			t.Errorf("%s should be exempt", p)
		}
	}
	if a.timeoutExempt("/tools") {
		t.Error("/tools should not be exempt")
	}
}

func TestTimeoutMiddlewareRepanics(t *testing.T) {
	t.Parallel()
	a := &API{cfg: Config{RequestTimeout: time.Minute}}
	h := a.timeoutMiddleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	defer func() {
		if recover() == nil {
			t.Error("panic swallowed")
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/tools", nil))
}
