package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkRunSync measures one POST /run/sync through the whole handler
// stack (routing, validation, agent loop on the echo model, event log,
// metrics) without the network.
func BenchmarkRunSync(b *testing.B) {
	tb := setupBench(b)
	h := tb.api.Handler()
	body := `{"query":"What is the answer to everything?"}`
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/run/sync", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
