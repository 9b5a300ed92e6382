package builtin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/omniserve/omniserve/internal/tool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNames(t *testing.T) {
	t.Parallel()

	want := []string{"calculate", "get_time"}
	if diff := cmp.Diff(want, Names()); diff != "" {
		t.Errorf("Names() mismatch (-want +got):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()

	for _, name := range Names() {
		tl, err := New(name)
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if got := tl.Name(); got != name {
			t.Errorf("New(%q).Name() = %q, want %q", name, got, name)
		}
		if got := tl.Kind(); got != tool.KindLocal {
			t.Errorf("New(%q).Kind() = %q, want %q", name, got, tool.KindLocal)
		}
		if tl.Description() == "" {
			t.Errorf("New(%q).Description() is empty", name)
		}
		var schema map[string]any
		if err := json.Unmarshal(tl.InputSchema(), &schema); err != nil {
			t.Errorf("New(%q).InputSchema() is not a JSON object: %v", name, err)
		} else if schema["type"] != "object" {
			t.Errorf("New(%q) schema type = %v, want %q", name, schema["type"], "object")
		}
	}
}

func TestNewUnknown(t *testing.T) {
	t.Parallel()

	_, err := New("rm_rf")
	if err == nil {
		t.Fatal(`New("rm_rf"): got nil error, want an error`)
	}
	for _, want := range append([]string{`"rm_rf"`}, Names()...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}
