package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzBackgroundBodies sends arbitrary bodies to the background routes that
// take one: whatever arrives, the answer is JSON and never a 5xx.
func FuzzBackgroundBodies(f *testing.F) {
	for _, seed := range []string{
		`{"task_id":"t","query":"q","schedule":{"type":"manual"}}`,
		`{"task_id":"t2","query":"q","schedule":{"type":"cron","expression":"*/5 9-17 * * 1-5","timezone":"Africa/Lagos","jitter_seconds":30}}`,
		`{"task_id":"t3","query":"q","schedule":{"type":"once","run_at":"2030-01-01T09:00:00"},"retry_policy":{"max_retries":3,"backoff":"exponential"}}`,
		`{"task_id":"t4","query":"q","schedule":{"type":"interval","seconds":1e300}}`,
		`{"task_id":"t5","query":"q","schedule":{"type":"manual"},"retry_policy":{"max_retries":9223372036854775807}}`,
		`{"query":"q","wait":true}`, `{"timeout_seconds":null,"metadata":{}}`, `{"schedule":{"type":"once","run_at":"0000-01-01"}}`,
		`{"spec":{"agent_id":"a","mcp_tools":[{"x":[1,{"y":null}]}],"model_config":{"provider":"p"}}}`,
		`{"agent_id":"..","replace":true}`, `{}`, `[]`, `null`, `{"task_id":`, ``,
	} {
		for route := range uint8(4) {
			f.Add(seed, route)
		}
	}
	fb := newFakeBackground(f)
	b := setupFuzz(f, func(c *Config) { c.Background = fb })
	h := b.api.Handler()
	if rec := serve(h, http.MethodPost, "/background/tasks", `{"task_id":"t","query":"q","schedule":{"type":"manual"},"overlap_policy":"allow_parallel"}`); rec.Code != 200 {
		f.Fatalf("create task: %d %s", rec.Code, rec.Body)
	}
	routes := []struct{ method, path string }{
		{http.MethodPost, "/background/tasks"},
		{http.MethodPatch, "/background/tasks/t"},
		{http.MethodPost, "/background/agents"},
		{http.MethodPost, "/background/tasks/t/run"},
	}
	f.Fuzz(func(t *testing.T, body string, route uint8) {
		r := routes[int(route)%len(routes)]
		rec := serve(h, r.method, r.path, body)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", r.method, r.path, body, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "json") {
			t.Fatalf("%s %s %q: content type %q", r.method, r.path, body, ct)
		}
	})
}

func serve(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
