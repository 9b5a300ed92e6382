package workspace

import (
	"errors"
	"strings"
	"testing"
)

func TestRunNamespace(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxIDLength)
	tests := []struct {
		name                 string
		agent, task, run     string
		want, wantErrContain string
	}{
		{"default", "served", "daily_report", "run_0123", "background/served/daily_report/run_0123", ""},
		{"dots and dashes", "a.b", "t-1", "r_2.v3", "background/a.b/t-1/r_2.v3", ""},
		{"longest ids", long, long, long, "background/" + long + "/" + long + "/" + long, ""},
		{"empty agent", "", "t", "r", "", "agent_id is required"},
		{"empty task", "a", "", "r", "", "task_id is required"},
		{"empty run", "a", "t", "", "", "run_id is required"},
		{"dot", ".", "t", "r", "", "agent_id must not be made of dots alone"},
		{"dotdot", "a", "..", "r", "", "task_id must not be made of dots alone"},
		{"slash", "a", "t", "r/../../x", "", "run_id must match"},
		{"backslash", `a\b`, "t", "r", "", "agent_id must match"},
		{"space", "a b", "t", "r", "", "agent_id must match"},
		{"NUL", "a", "t\x00", "r", "", "task_id must match"},
		{"unicode", "a", "t", "rün", "", "run_id must match"},
		{"too long", long + "x", "t", "r", "", "agent_id is longer than 128 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := RunNamespace(tc.agent, tc.task, tc.run)
			if tc.wantErrContain != "" {
				if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), tc.wantErrContain) {
					t.Fatalf("RunNamespace = %q, %v; want ErrInvalidPath containing %q", got, err, tc.wantErrContain)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("RunNamespace = %q, %v; want %q", got, err, tc.want)
			}
			if clean, err := CleanPath(got); err != nil || clean != got {
				t.Errorf("namespace %q is not clean: %q, %v", got, clean, err)
			}
		})
	}
}

func TestRunContext(t *testing.T) {
	t.Parallel()
	query := "Summarise yesterday's sales.\nKeep it short."
	got := RunContext(RunContextParams{
		AgentID:       "served",
		TaskID:        "daily_report",
		RunID:         "run_42",
		WorkspacePath: "background/served/daily_report/run_42",
		Query:         query,
	})
	// What the original's tests check: the workspace path, each convention
	// and the query at the end.
	for _, want := range []string{
		"background run",
		"run_id: run_42",
		"task_id: daily_report",
		"workspace_path: /workspace/background/served/daily_report/run_42",
		"output.md",
		"scratchpad/",
		"logs/",
		"artifacts/",
		"subagents/",
	} {
		if !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
			t.Errorf("run context lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(got, query) {
		t.Errorf("run context does not end with the query:\n%s", got)
	}
	if strings.Index(got, "output.md") > strings.Index(got, query) {
		t.Error("conventions come after the query")
	}
}

func TestRunContextWithoutAgentID(t *testing.T) {
	t.Parallel()
	got := RunContext(RunContextParams{TaskID: "t", RunID: "r", WorkspacePath: "w", Query: "q"})
	if strings.Contains(got, "agent_id") || !strings.HasSuffix(got, "\nq") {
		t.Errorf("unexpected run context:\n%s", got)
	}
}
