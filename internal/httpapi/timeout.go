package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// gatewayTimeout is the original's body for a request that ran out of time.
type gatewayTimeout struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Detail  string `json:"detail"`
}

// timeoutExempt reports whether path streams or bounds its own time: the
// run routes (their timeout ends the run and is reported in the run's own
// shape), POST /background/tasks/{task_id}/run (it waits within a budget
// under the timeout and answers its own structured 504), event streams,
// and the cheap static routes.
func (a *API) timeoutExempt(path string) bool {
	p := strings.TrimPrefix(path, a.cfg.APIPrefix)
	switch {
	case p == "/run", p == "/run/sync", path == "/prometheus", path == "/openapi.json":
		return true
	case strings.HasPrefix(path, "/docs"), strings.HasPrefix(path, "/redoc"):
		return true
	case strings.HasPrefix(p, "/events/"), strings.HasSuffix(p, "/stream"):
		return true
	}
	if rest, ok := strings.CutPrefix(p, "/background/tasks/"); ok {
		id, tail, _ := strings.Cut(rest, "/")
		return id != "" && tail == "run"
	}
	return false
}

// timeoutMiddleware gives every other request RequestTimeout to answer.
// The handler writes into a buffer; if the deadline passes first the
// client gets 504 and whatever the handler writes later is dropped.
func (a *API) timeoutMiddleware(next http.Handler) http.Handler {
	limit := a.cfg.RequestTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.timeoutExempt(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), limit)
		defer cancel()
		tw := &timeoutWriter{header: make(http.Header)}
		done := make(chan struct{})
		var panicked any
		go func() {
			defer close(done)
			defer func() { panicked = recover() }()
			next.ServeHTTP(tw, r.WithContext(ctx))
		}()
		select {
		case <-done:
			if panicked != nil {
				panic(panicked)
			}
			tw.flushTo(w)
		case <-ctx.Done():
			tw.mu.Lock()
			tw.timedOut = true
			tw.mu.Unlock()
			if r.Context().Err() != nil {
				return // the client left; nobody to answer
			}
			writeJSON(w, http.StatusGatewayTimeout, gatewayTimeout{
				Error:   "GatewayTimeout",
				Message: "Request timed out",
				Detail:  fmt.Sprintf("Request timed out after %d seconds", int(limit.Seconds())),
			})
		}
	})
}

// timeoutWriter buffers a response until the handler finishes in time.
type timeoutWriter struct {
	mu       sync.Mutex
	header   http.Header
	buf      bytes.Buffer
	status   int
	timedOut bool
}

func (tw *timeoutWriter) Header() http.Header { return tw.header }

func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.status == 0 {
		tw.status = code
	}
}

func (tw *timeoutWriter) Write(b []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	if tw.status == 0 {
		tw.status = http.StatusOK
	}
	return tw.buf.Write(b)
}

func (tw *timeoutWriter) flushTo(w http.ResponseWriter) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	dst := w.Header()
	for k, vs := range tw.header {
		dst[k] = vs
	}
	if tw.status == 0 {
		tw.status = http.StatusOK
	}
	w.WriteHeader(tw.status)
	_, _ = w.Write(tw.buf.Bytes())
}
