package task

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"daily_report", true},
		{"a.b-c_9", true},
		{"A", true},
		{".hidden", true},
		{strings.Repeat("x", MaxIDLength), true},
		{"", false},
		{".", false},
		{"..", false},
		{"...", false},
		{"../etc", false},
		{"a/b", false},
		{`a\b`, false},
		{"has space", false},
		{"tab\t", false},
		{"new\nline", false},
		{"colon:x", false},
		{"ünïcode", false},
		{"null\x00", false},
		{strings.Repeat("x", MaxIDLength+1), false},
	}
	for _, tt := range tests {
		err := ValidateID("task_id", tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateID(%q) = %v, want ok %v", tt.id, err, tt.ok)
		}
		if err != nil {
			checkField(t, err, "task_id")
		}
	}
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"ok", "..", "a/b", "x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidateID("id", id) != nil {
			return
		}
		// An accepted id is one path segment that cannot walk anywhere.
		if strings.ContainsAny(id, `/\`) || id == "." || id == ".." || len(id) > MaxIDLength {
			t.Errorf("accepted unsafe id %q", id)
		}
	})
}

func TestNewIDsAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		for _, id := range []string{NewRunID(), NewAttemptID(), NewWorkerID(), NewLeaseToken()} {
			if err := ValidateID("id", id); err != nil || seen[id] {
				t.Fatalf("id %q: %v, seen %v", id, err, seen[id])
			}
			seen[id] = true
		}
	}
	if !strings.HasPrefix(NewWorkerID(), "worker_") || !strings.HasPrefix(NewRunID(), "run_") {
		t.Error("id prefixes")
	}
}

func validTask() Task {
	return Task{TaskID: "daily_report", AgentID: "served", Query: "report", Schedule: Schedule{Type: ScheduleManual}, Enabled: true}
}

func TestTaskValidate(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		modify func(*Task)
		field  string
	}{
		{"valid", func(*Task) {}, ""},
		{"unsafe task id", func(t *Task) { t.TaskID = "../x" }, "task_id"},
		{"missing agent", func(t *Task) { t.AgentID = "" }, "agent_id"},
		{"blank query", func(t *Task) { t.Query = "  \n" }, "query"},
		{"zero timeout", func(t *Task) { t.TimeoutSeconds = new(0) }, "timeout_seconds"},
		{"positive timeout", func(t *Task) { t.TimeoutSeconds = new(60) }, ""},
		{"retry", func(t *Task) { t.RetryPolicy.MaxRetries = -2 }, "retry_policy.max_retries"},
		{"overlap", func(t *Task) { t.OverlapPolicy = "skip" }, "overlap_policy"},
		{"fixed session needs id", func(t *Task) { t.SessionPolicy.Mode = SessionFixed }, "session_policy.session_id"},
		{"fixed session", func(t *Task) { t.SessionPolicy = SessionPolicy{Mode: SessionFixed, SessionID: "s1"} }, ""},
		{"session mode", func(t *Task) { t.SessionPolicy.Mode = "forever" }, "session_policy.mode"},
		{"template escapes", func(t *Task) { t.WorkspacePolicy.NamespaceTemplate = "../{run_id}" }, "workspace_policy.namespace_template"},
		{"template absolute", func(t *Task) { t.WorkspacePolicy.NamespaceTemplate = "/abs/{run_id}" }, "workspace_policy.namespace_template"},
		{"template unknown placeholder", func(t *Task) { t.WorkspacePolicy.NamespaceTemplate = "x/{user}" }, "workspace_policy.namespace_template"},
		{"template custom", func(t *Task) { t.WorkspacePolicy.NamespaceTemplate = "runs/{task_id}/{run_id}" }, ""},
		{"schedule field named", func(t *Task) { t.Schedule = Schedule{Type: ScheduleOnce, RunAt: &at, Timezone: "Mars/Olympus"} }, "schedule.timezone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := validTask()
			tt.modify(&task)
			task = task.WithDefaults()
			checkField(t, task.Validate(), tt.field)
		})
	}
}

func TestTaskDefaults(t *testing.T) {
	task := validTask().WithDefaults()
	if task.OverlapPolicy != OverlapSkipIfRunning || task.SessionPolicy.Mode != SessionPerTask ||
		task.WorkspacePolicy.NamespaceTemplate != DefaultNamespaceTemplate ||
		!task.WorkspacePolicy.RunJSON() || !task.WorkspacePolicy.EventsJSONL() ||
		task.Schedule.Timezone != "UTC" || task.Schedule.MisfirePolicy != MisfireSkipMissed ||
		*task.RetryPolicy.InitialDelaySeconds != 30 || *task.RetryPolicy.MaxDelaySeconds != 300 ||
		task.RetryPolicy.Backoff != BackoffFixed || len(task.RetryPolicy.RetryOn) != 2 {
		b, _ := json.Marshal(task)
		t.Errorf("defaults: %s", b)
	}
	off := false
	task.WorkspacePolicy.WriteRunJSON = &off
	if task.WithDefaults().WorkspacePolicy.RunJSON() {
		t.Error("explicit write_run_json false was overridden")
	}
}

func TestSessionAndWorkspacePaths(t *testing.T) {
	tests := []struct {
		name    string
		session SessionPolicy
		tmpl    string
		wantSes string
		wantWS  string
	}{
		{"defaults", SessionPolicy{}, "", "background:served:daily_report", "background/served/daily_report/run_1"},
		{"per run", SessionPolicy{Mode: SessionPerRun}, "", "background:run_1", "background/served/daily_report/run_1"},
		{"fixed", SessionPolicy{Mode: SessionFixed, SessionID: "shared"}, "jobs/{run_id}", "shared", "jobs/run_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := validTask()
			task.SessionPolicy = tt.session
			task.WorkspacePolicy.NamespaceTemplate = tt.tmpl
			if got := task.SessionFor("run_1"); got != tt.wantSes {
				t.Errorf("session = %q, want %q", got, tt.wantSes)
			}
			if got := task.WorkspacePathFor("run_1"); got != tt.wantWS {
				t.Errorf("workspace = %q, want %q", got, tt.wantWS)
			}
		})
	}
}

func TestAgentSpecValidate(t *testing.T) {
	tests := []struct {
		name  string
		spec  AgentSpec
		field string
	}{
		{"minimal", AgentSpec{AgentID: "served"}, ""},
		{"unsafe id", AgentSpec{AgentID: "a b"}, "agent_id"},
		{"provider required", AgentSpec{AgentID: "a", ModelConfig: &ModelConfig{Model: "m"}}, "model_config.provider"},
		{"temperature", AgentSpec{AgentID: "a", ModelConfig: &ModelConfig{Provider: "openai", Temperature: new(3.0)}}, "model_config.temperature"},
		{"max tokens", AgentSpec{AgentID: "a", ModelConfig: &ModelConfig{Provider: "openai", MaxTokens: -1}}, "model_config.max_tokens"},
		{"tool", AgentSpec{AgentID: "a", Tools: []ToolRef{{Builtin: "calculate"}, {}}}, "tools[1].builtin"},
		{"mcp", AgentSpec{AgentID: "a", MCPServers: []json.RawMessage{json.RawMessage(`{`)}}, "mcp_tools[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec.WithDefaults()
			checkField(t, spec.Validate(), tt.field)
		})
	}
	if got := (AgentSpec{AgentID: "x"}).WithDefaults().Name; got != "x" {
		t.Errorf("name defaults to %q", got)
	}
}

func TestAgentSpecJSONKeys(t *testing.T) {
	spec := AgentSpec{AgentID: "a", ModelConfig: &ModelConfig{Provider: "openai", Model: "gpt", APIKeyEnv: "K"}, MCPServers: []json.RawMessage{json.RawMessage(`{"name":"fs"}`)}}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"agent_id":"a"`, `"model_config":{"provider":"openai","model":"gpt","api_key_env":"K"}`, `"mcp_tools":[{"name":"fs"}]`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("%s lacks %s", b, key)
		}
	}
}

func TestOverlapConsultsActiveRuns(t *testing.T) {
	for p, want := range map[OverlapPolicy]bool{
		"": true, OverlapSkipIfRunning: true, OverlapCancelPrevious: true,
		OverlapQueueNext: false, OverlapAllowParallel: false,
	} {
		if got := p.ConsultsActiveRuns(); got != want {
			t.Errorf("%q: got %v, want %v", p, got, want)
		}
	}
}
