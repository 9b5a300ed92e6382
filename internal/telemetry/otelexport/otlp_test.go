package otelexport

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// receiver is an in-process OTLP/HTTP trace receiver: it accepts POSTs on
// one path, protobuf or JSON, gzipped or not, and keeps what it got.
type receiver struct {
	t    *testing.T
	path string
	srv  *httptest.Server

	mu       sync.Mutex
	requests []receivedRequest
}

type receivedRequest struct {
	Path            string
	ContentType     string
	ContentEncoding string
	Authorization   string
	Body            *coltracepb.ExportTraceServiceRequest
}

func newReceiver(t *testing.T, path string) *receiver {
	t.Helper()
	r := &receiver{t: t, path: path}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != r.path {
		r.t.Errorf("receiver: unexpected %s %s", req.Method, req.URL.Path)
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.t.Errorf("receiver: gzip: %v", err)
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		r.t.Errorf("receiver: read body: %v", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	msg := &coltracepb.ExportTraceServiceRequest{}
	ct := req.Header.Get("Content-Type")
	unmarshal, marshal := proto.Unmarshal, proto.Marshal
	if ct == "application/json" {
		unmarshal, marshal = protojson.Unmarshal, protojson.Marshal
	}
	if err := unmarshal(raw, msg); err != nil {
		r.t.Errorf("receiver: decode %s: %v", ct, err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.requests = append(r.requests, receivedRequest{
		Path: req.URL.Path, ContentType: ct, ContentEncoding: req.Header.Get("Content-Encoding"),
		Authorization: req.Header.Get("Authorization"), Body: msg,
	})
	r.mu.Unlock()
	out, err := marshal(&coltracepb.ExportTraceServiceResponse{})
	if err != nil {
		r.t.Errorf("receiver: encode response: %v", err)
		return
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(out)
}

func (r *receiver) received() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.requests...)
}

// spans flattens every received span, with its resource and scope.
func (r *receiver) spans() (spans []gotSpan, resources []map[string]any, scopes []string) {
	for _, req := range r.received() {
		for _, rs := range req.Body.GetResourceSpans() {
			resources = append(resources, protoAttrs(rs.GetResource().GetAttributes()))
			for _, ss := range rs.GetScopeSpans() {
				scopes = append(scopes, ss.GetScope().GetName())
				for _, s := range ss.GetSpans() {
					spans = append(spans, fromProto(s))
				}
			}
		}
	}
	return spans, resources, scopes
}

func fromProto(s *tracepb.Span) gotSpan {
	g := gotSpan{
		Name:          s.GetName(),
		TraceID:       hex.EncodeToString(s.GetTraceId()),
		SpanID:        hex.EncodeToString(s.GetSpanId()),
		ParentID:      hex.EncodeToString(s.GetParentSpanId()),
		Kind:          strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_")),
		Start:         time.Unix(0, int64(s.GetStartTimeUnixNano())).UTC(),
		End:           time.Unix(0, int64(s.GetEndTimeUnixNano())).UTC(),
		Attrs:         protoAttrs(s.GetAttributes()),
		Error:         s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
		StatusMessage: s.GetStatus().GetMessage(),
	}
	return g
}

// protoAttrs converts attributes to the Go values the SDK's AsInterface
// gives, so assertions are shared.
func protoAttrs(kvs []*commonpb.KeyValue) map[string]any {
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		out[kv.GetKey()] = protoValue(kv.GetValue())
	}
	return out
}

func protoValue(v *commonpb.AnyValue) any {
	switch v := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return v.StringValue
	case *commonpb.AnyValue_BoolValue:
		return v.BoolValue
	case *commonpb.AnyValue_IntValue:
		return v.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return v.DoubleValue
	case *commonpb.AnyValue_ArrayValue:
		var ss []string
		for _, e := range v.ArrayValue.GetValues() {
			ss = append(ss, e.GetStringValue())
		}
		return ss
	}
	return nil
}

// env is a lookup over fixed variables; the process environment is never
// read or changed.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestOTLPExportOfServedRuns(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "/v1/traces")
	lookup := env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    rcv.srv.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":     "authorization=Bearer%20t0ken",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
		"OTEL_SERVICE_NAME":              "omniserve-test",
		"OTEL_RESOURCE_ATTRIBUTES":       "deployment.environment=test,service.name=overridden",
	})
	if !Enabled(lookup) {
		t.Fatal("Enabled = false with an endpoint set")
	}
	x, err := New(t.Context(), Config{LookupFunc: lookup, ServiceVersion: "1.2.3"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	inner := memstore.New()
	store := x.Wrap(inner)

	ok, failed := newScenario("ok"), newScenario("failed")
	okEvents, failedEvents := ok.toolRun(false), failed.toolRun(true)
	appendAll(t, store, okEvents)
	appendAll(t, store, failedEvents)
	if err := x.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	reqs := rcv.received()
	if len(reqs) == 0 {
		t.Fatal("receiver got no export")
	}
	for _, r := range reqs {
		got := [3]string{r.ContentType, r.ContentEncoding, r.Authorization}
		if want := [3]string{"application/x-protobuf", "gzip", "Bearer t0ken"}; got != want {
			t.Errorf("request content type, encoding, authorization: got %q, want %q", got, want)
		}
	}

	spans, resources, scopes := rcv.spans()
	for _, res := range resources {
		want := map[string]any{"service.name": "omniserve-test", "service.version": "1.2.3", "deployment.environment": "test", "telemetry.sdk.language": "go"}
		if diff := cmp.Diff(want, pick(gotSpan{Attrs: res}, want)); diff != "" {
			t.Errorf("resource (-want +got):\n%s", diff)
		}
	}
	for _, s := range scopes {
		if s != tracerName {
			t.Errorf("scope %q, want %q", s, tracerName)
		}
	}

	// One trace per served run, each the same tree.
	byRun := map[string][]gotSpan{}
	for _, s := range spans {
		id, _ := s.Attrs["omniserve.run_id"].(string)
		byRun[id] = append(byRun[id], s)
	}
	wantTree := []string{" > serve.request", "agent.run > model.call", "agent.run > model.call", "agent.run > tool.call", "serve.request > agent.run"}
	for _, sc := range []*scenario{ok, failed} {
		run := byRun[sc.runID]
		if diff := cmp.Diff(wantTree, tree(run)); diff != "" {
			t.Errorf("%s: span tree (-want +got):\n%s", sc.runID, diff)
		}
		if n := len(traces(run)); n != 1 {
			t.Errorf("%s: %d traces, want 1", sc.runID, n)
		}
	}
	if traces(byRun[ok.runID])[0] == traces(byRun[failed.runID])[0] {
		t.Error("two served runs share a trace")
	}
	checkAttributes(t, ok, byRun[ok.runID])
	if !one(t, byRun[ok.runID], SpanServeRequest).Start.Equal(okEvents[0].Timestamp) {
		t.Errorf("serve.request starts at %v, want the event's %v", one(t, byRun[ok.runID], SpanServeRequest).Start, okEvents[0].Timestamp)
	}

	// Only the failed tool call carries an error status.
	var errored []string
	for _, s := range spans {
		if s.Error {
			errored = append(errored, s.Name+" "+s.Attrs["omniserve.run_id"].(string)+": "+s.StatusMessage+" ("+s.Attrs["error.type"].(string)+")")
		}
	}
	if diff := cmp.Diff([]string{"tool.call run_failed: division by zero (tool_error)"}, errored); diff != "" {
		t.Errorf("error statuses (-want +got):\n%s", diff)
	}

	// The log got every event, unchanged.
	for _, sc := range []struct {
		id     string
		events []*telemetry.Event
	}{{ok.sessionID, okEvents}, {failed.sessionID, failedEvents}} {
		got, err := inner.EventList(t.Context(), telemetry.ListParams{SessionID: sc.id})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]telemetry.Event, len(sc.events))
		for i, e := range sc.events {
			want[i] = *e
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("session %s stored events (-want +got):\n%s", sc.id, diff)
		}
	}
}

func TestOTLPTracesEndpointAndJSON(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "/custom/traces")
	lookup := env(map[string]string{
		// The traces-only variable wins and is used as is.
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rcv.srv.URL + "/custom/traces",
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://127.0.0.1:1",
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/json",
	})
	x, err := New(t.Context(), Config{LookupFunc: lookup})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sc := newScenario("json")
	appendAll(t, x.Wrap(memstore.New()), []*telemetry.Event{sc.userMessage(), sc.finalAnswer(4, 2)})
	if err := x.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	reqs := rcv.received()
	if len(reqs) != 1 || reqs[0].ContentType != "application/json" {
		t.Fatalf("got %d requests (%+v), want 1 of application/json", len(reqs), reqs)
	}
	// OTLP/JSON spells ids in hex where protojson expects base64, so ids
	// are not compared here; the protobuf test checks the tree.
	spans, resources, _ := rcv.spans()
	if len(spans) != 1 || spans[0].Name != SpanAgentRun {
		t.Fatalf("got %+v, want one agent.run span", spans)
	}
	want := map[string]any{"gen_ai.usage.input_tokens": int64(4), "gen_ai.usage.output_tokens": int64(2)}
	if diff := cmp.Diff(want, pick(spans[0], want)); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	if got := resources[0]["service.name"]; got != "omniserve" {
		t.Errorf("default service.name = %v, want omniserve", got)
	}
}
