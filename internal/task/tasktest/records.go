package tasktest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/task"
)

func testAgentRecords(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	spec := task.AgentSpec{
		AgentID:           "zeta",
		SystemInstruction: "be brief",
		ModelConfig:       &task.ModelConfig{Provider: "openai", Model: "gpt-4o-mini", Temperature: new(0.2), MaxTokens: 100, APIKeyEnv: "MY_KEY"},
		Tools:             []task.ToolRef{{Builtin: "calculate"}},
		MCPServers:        []json.RawMessage{json.RawMessage(`{"name":"fs","command":"mcp-fs"}`)},
		WorkspaceConfig:   map[string]any{"backend": "local"},
		Metadata:          map[string]any{"team": "ops"},
	}
	got, err := s.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "zeta" || !got.CreatedAt.Equal(Start) || !got.UpdatedAt.Equal(Start) {
		t.Errorf("registered: name %q created %v updated %v", got.Name, got.CreatedAt, got.UpdatedAt)
	}
	b.clock.Advance(time.Second)
	b.agent("alpha")
	b.clock.Advance(time.Second)
	b.agent("mid")

	read, err := s.AgentGet(ctx, &task.AgentGetParams{AgentID: "zeta"})
	if err != nil {
		t.Fatal(err)
	}
	want := spec
	want.Name, want.CreatedAt, want.UpdatedAt = "zeta", Start, Start
	// The spec keeps its model, MCP and workspace configuration intact.
	if diff := cmp.Diff(&want, read, cmp.Comparer(func(a, b json.RawMessage) bool { return string(a) == string(b) })); diff != "" {
		t.Errorf("stored spec (-want +got):\n%s", diff)
	}

	list, err := s.AgentList(ctx, &task.AgentListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range list {
		ids = append(ids, a.AgentID)
	}
	if fmt.Sprint(ids) != "[zeta alpha mid]" {
		t.Errorf("agents listed %v, want by created_at [zeta alpha mid]", ids)
	}

	_, err = s.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{AgentID: "zeta"}})
	wantErr(t, "register twice", err, task.ErrAlreadyExists)
	wantErr(t, "register twice", err, task.ErrConflict)

	b.clock.Advance(time.Second)
	replaced, err := s.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{AgentID: "zeta", Name: "Zeta"}, Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if replaced.Name != "Zeta" || replaced.ModelConfig != nil || !replaced.CreatedAt.Equal(Start) || !replaced.UpdatedAt.Equal(b.clock.Now()) {
		t.Errorf("replaced: %+v", replaced)
	}

	_, err = s.AgentGet(ctx, &task.AgentGetParams{AgentID: "nobody"})
	wantNotFound(t, "get missing agent", err, "agent")
	_, err = s.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{AgentID: "../etc"}})
	wantField(t, "unsafe agent id", err, "agent_id")

	if err := s.AgentDelete(ctx, &task.AgentDeleteParams{AgentID: "alpha"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.AgentGet(ctx, &task.AgentGetParams{AgentID: "alpha"})
	wantNotFound(t, "get deleted agent", err, "agent")
	wantNotFound(t, "delete missing agent", s.AgentDelete(ctx, &task.AgentDeleteParams{AgentID: "alpha"}), "agent")
}

func testAgentDeleteBusy(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job"))
	r := b.manual("job", "")
	wantErr(t, "delete agent with a queued run", s.AgentDelete(ctx, &task.AgentDeleteParams{AgentID: "agent"}), task.ErrAgentBusy)
	b.finish(b.claim("w1"), task.RunFailed)
	if err := s.AgentDelete(ctx, &task.AgentDeleteParams{AgentID: "agent"}); err != nil {
		t.Errorf("delete agent whose runs ended: %v", err)
	}
	b.agent("agent")
	b.manual("job", "")
	if err := s.AgentDelete(ctx, &task.AgentDeleteParams{AgentID: "agent", Force: true}); err != nil {
		t.Errorf("forced delete: %v", err)
	}
	// Tasks and runs outlive their agent.
	if _, err := s.TaskGet(ctx, &task.TaskGetParams{TaskID: "job"}); err != nil {
		t.Errorf("task of deleted agent: %v", err)
	}
	b.get(r.RunID)
}

func testTaskRecords(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	_, err := s.TaskCreate(ctx, &task.TaskCreateParams{Task: newTask("orphan", func(tk *task.Task) { tk.AgentID = "ghost" })})
	wantNotFound(t, "task of unknown agent", err, "agent")

	b.agent("agent")
	b.agent("other")
	got := b.task(newTask("t_b", func(tk *task.Task) {
		tk.OverlapPolicy = ""
		tk.Metadata = map[string]any{"k": "v"}
	}))
	if !got.CreatedAt.Equal(Start) || !got.UpdatedAt.Equal(Start) {
		t.Errorf("times: %v %v", got.CreatedAt, got.UpdatedAt)
	}
	// Defaults are filled in and returned.
	if got.OverlapPolicy != task.OverlapSkipIfRunning || got.SessionPolicy.Mode != task.SessionPerTask ||
		got.WorkspacePolicy.NamespaceTemplate != task.DefaultNamespaceTemplate || got.Schedule.Timezone != "UTC" ||
		got.RetryPolicy.Backoff != task.BackoffFixed || !got.Enabled || got.Metadata["k"] != "v" {
		t.Errorf("defaults not applied: %+v", got)
	}
	b.task(newTask("t_a"))
	b.clock.Advance(time.Second)
	b.task(newTask("t_0", func(tk *task.Task) { tk.AgentID = "other" }))
	b.clock.Advance(time.Second)
	b.task(newTask("t_c"))

	list := func(agentID string) string {
		ts, err := s.TaskList(ctx, &task.TaskListParams{AgentID: agentID})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, tk := range ts {
			ids = append(ids, tk.TaskID)
		}
		return fmt.Sprint(ids)
	}
	// By created_at, then task_id.
	if got := list(""); got != "[t_a t_b t_0 t_c]" {
		t.Errorf("all tasks %s", got)
	}
	if got := list("agent"); got != "[t_a t_b t_c]" {
		t.Errorf("tasks of agent %s", got)
	}
	if got := list("nobody"); got != "[]" {
		t.Errorf("tasks of unknown agent %s", got)
	}

	read, err := s.TaskGet(ctx, &task.TaskGetParams{TaskID: "t_b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, read); diff != "" {
		t.Errorf("read back (-created +read):\n%s", diff)
	}
	_, err = s.TaskCreate(ctx, &task.TaskCreateParams{Task: newTask("t_b")})
	wantErr(t, "create twice", err, task.ErrAlreadyExists)
	_, err = s.TaskGet(ctx, &task.TaskGetParams{TaskID: "nope"})
	wantNotFound(t, "get missing task", err, "task")
}

func testTaskValidation(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.agent("agent")
	tests := []struct {
		field  string
		modify func(*task.Task)
	}{
		{"task_id", func(tk *task.Task) { tk.TaskID = "../../etc" }},
		{"task_id", func(tk *task.Task) { tk.TaskID = "a b" }},
		{"query", func(tk *task.Task) { tk.Query = " " }},
		{"schedule.seconds", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleManual, Seconds: 5} }},
		{"schedule.expression", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleCron, Expression: "* * *"} }},
		{"schedule.timezone", func(tk *task.Task) {
			tk.Schedule = task.Schedule{Type: task.ScheduleInterval, Seconds: 1, Timezone: "Nowhere/City"}
		}},
		{"schedule.run_at", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleOnce} }},
		{"retry_policy.max_delay_seconds", func(tk *task.Task) {
			tk.RetryPolicy = task.RetryPolicy{InitialDelaySeconds: new(10.0), MaxDelaySeconds: new(1.0)}
		}},
		{"overlap_policy", func(tk *task.Task) { tk.OverlapPolicy = "sometimes" }},
		{"session_policy.session_id", func(tk *task.Task) { tk.SessionPolicy = task.SessionPolicy{Mode: task.SessionFixed} }},
		{"workspace_policy.namespace_template", func(tk *task.Task) { tk.WorkspacePolicy.NamespaceTemplate = "../{run_id}" }},
	}
	for _, tt := range tests {
		_, err := s.TaskCreate(ctx, &task.TaskCreateParams{Task: newTask("bad", tt.modify)})
		wantField(t, tt.field, err, tt.field)
	}
	if _, err := s.TaskGet(ctx, &task.TaskGetParams{TaskID: "bad"}); err == nil {
		t.Error("an invalid task was stored")
	}
}

func testScheduleStateOnCreate(b *bundle) {
	t := b.t
	b.task(newTask("manual"))
	b.task(newTask("every", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleInterval, Seconds: 90} }))
	runAt := Start.Add(48 * time.Hour)
	b.task(newTask("once", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleOnce, RunAt: &runAt} }))
	b.task(newTask("lagos", func(tk *task.Task) {
		tk.Schedule = task.Schedule{Type: task.ScheduleCron, Expression: "0 9 * * *", Timezone: "Africa/Lagos"}
	}))
	tests := []struct {
		taskID string
		due    *time.Time
	}{
		{"manual", nil},
		{"every", new(Start.Add(90 * time.Second))},
		{"once", &runAt},
		// 09:00 in Lagos (UTC+1) is 08:00 UTC.
		{"lagos", new(time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC))},
	}
	for _, tt := range tests {
		st := b.state(tt.taskID)
		if st.TaskID != tt.taskID || st.ScheduleRevision != 1 || st.Paused || st.LastDueAt != nil || st.LastDispatchedAt != nil {
			t.Errorf("%s: state %+v", tt.taskID, st)
		}
		switch {
		case tt.due == nil && st.NextDueAt != nil:
			t.Errorf("%s: next due %v, want none", tt.taskID, *st.NextDueAt)
		case tt.due != nil && !timeEq(st.NextDueAt, *tt.due):
			t.Errorf("%s: next due %v, want %v", tt.taskID, st.NextDueAt, *tt.due)
		}
	}
	_, err := b.s.ScheduleStateGet(b.ctx, &task.ScheduleStateGetParams{TaskID: "none"})
	wantErr(t, "state of missing task", err, task.ErrNotFound)
}

func testTaskUpdate(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", func(tk *task.Task) {
		tk.Schedule = task.Schedule{Type: task.ScheduleInterval, Seconds: 60}
		tk.Metadata = map[string]any{"a": 1.0, "b": 2.0}
		tk.TimeoutSeconds = new(30)
	}))
	b.clock.Advance(10 * time.Second)

	got, err := s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Query: new("new query"), Enabled: new(false), Metadata: map[string]any{"c": 3.0}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Query != "new query" || got.Enabled || !got.UpdatedAt.Equal(b.clock.Now()) || !got.CreatedAt.Equal(Start) {
		t.Errorf("updated: %+v", got)
	}
	// Metadata is replaced as a whole, not merged.
	if diff := cmp.Diff(map[string]any{"c": 3.0}, got.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if st := b.state("job"); st.ScheduleRevision != 1 || !timeEq(st.NextDueAt, Start.Add(time.Minute)) {
		t.Errorf("a non-schedule update moved the schedule: %+v", st)
	}
	// The same schedule again is not a change.
	if _, err := s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Schedule: &task.Schedule{Type: task.ScheduleInterval, Seconds: 60, Timezone: "UTC"}}); err != nil {
		t.Fatal(err)
	}
	if st := b.state("job"); st.ScheduleRevision != 1 {
		t.Errorf("an unchanged schedule bumped the revision to %d", st.ScheduleRevision)
	}

	got, err = s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Schedule: &task.Schedule{Type: task.ScheduleInterval, Seconds: 300}, TimeoutSeconds: new(0)})
	if err != nil {
		t.Fatal(err)
	}
	if got.TimeoutSeconds != nil {
		t.Errorf("timeout not cleared: %v", *got.TimeoutSeconds)
	}
	st := b.state("job")
	if st.ScheduleRevision != 2 || !timeEq(st.NextDueAt, b.clock.Now().Add(300*time.Second)) {
		t.Errorf("schedule change: revision %d next due %v; want 2 and now+300s", st.ScheduleRevision, st.NextDueAt)
	}

	_, err = s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Schedule: &task.Schedule{Type: task.ScheduleCron, Expression: "61 * * * *"}})
	wantField(t, "nested schedule patch", err, "schedule.expression")
	_, err = s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Query: new("")})
	wantField(t, "blank query patch", err, "query")
	if tk, _ := s.TaskGet(ctx, &task.TaskGetParams{TaskID: "job"}); tk.Query != "new query" || tk.Schedule.Seconds != 300 {
		t.Errorf("a refused update changed the task: %+v", tk)
	}
	_, err = s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "none", Query: new("x")})
	wantNotFound(t, "update missing task", err, "task")
}

func testTaskReplace(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleInterval, Seconds: 60} }))
	if _, err := s.ScheduleSetPaused(ctx, &task.ScheduleSetPausedParams{TaskID: "job", Paused: true, Reason: "policy refused"}); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Hour)
	got, err := s.TaskCreate(ctx, &task.TaskCreateParams{Replace: true, Task: newTask("job", func(tk *task.Task) {
		tk.Query = "replaced"
		tk.Schedule = task.Schedule{Type: task.ScheduleInterval, Seconds: 60}
	})})
	if err != nil {
		t.Fatal(err)
	}
	if got.Query != "replaced" || !got.CreatedAt.Equal(Start) || !got.UpdatedAt.Equal(b.clock.Now()) {
		t.Errorf("replaced task: %+v", got)
	}
	st := b.state("job")
	if st.ScheduleRevision != 1 || st.Paused || st.PausedReason != "" || !timeEq(st.NextDueAt, Start.Add(time.Minute)) {
		t.Errorf("replace with the same schedule: %+v", st)
	}
	if _, err := s.TaskCreate(ctx, &task.TaskCreateParams{Replace: true, Task: newTask("job", func(tk *task.Task) {
		tk.Schedule = task.Schedule{Type: task.ScheduleInterval, Seconds: 120}
	})}); err != nil {
		t.Fatal(err)
	}
	if st := b.state("job"); st.ScheduleRevision != 2 || !timeEq(st.NextDueAt, b.clock.Now().Add(2*time.Minute)) {
		t.Errorf("replace with a new schedule: %+v", st)
	}
}

func testTaskDelete(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	runAt := Start.Add(time.Minute)
	once := func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleOnce, RunAt: &runAt} }
	b.task(newTask("keep", once))
	b.task(newTask("drop"))
	b.clock.Set(runAt)
	ds := b.due(0)
	if len(ds) != 1 {
		t.Fatalf("due: %d", len(ds))
	}
	old := b.dispatch("keep", 1, ds[0].Plan.Occurrences[0]).Run
	dropped := b.manual("drop", "")
	c, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", RunID: old.RunID})
	if err != nil || c == nil {
		t.Fatalf("claim %s: %v", old.RunID, err)
	}
	b.start(c)

	if err := s.TaskDelete(ctx, &task.TaskDeleteParams{TaskID: "keep"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.TaskGet(ctx, &task.TaskGetParams{TaskID: "keep"})
	wantNotFound(t, "deleted task", err, "task")
	_, err = s.ScheduleStateGet(ctx, &task.ScheduleStateGetParams{TaskID: "keep"})
	wantErr(t, "state of deleted task", err, task.ErrNotFound)
	b.get(old.RunID)
	if len(b.attempts(old.RunID)) != 1 {
		t.Error("kept run lost its attempt")
	}

	// Re-created under the same id, the task's first occurrence is new,
	// not the kept run.
	b.task(newTask("keep", once))
	ds = b.due(0)
	if len(ds) != 1 {
		t.Fatalf("due after re-create: %d", len(ds))
	}
	res := b.dispatch("keep", 1, ds[0].Plan.Occurrences[0])
	if !res.Created || res.Run.RunID == old.RunID {
		t.Errorf("re-created task's occurrence deduped against the old run: %+v", res)
	}

	if err := s.TaskDelete(ctx, &task.TaskDeleteParams{TaskID: "drop", DeleteRuns: true}); err != nil {
		t.Fatal(err)
	}
	_, err = s.RunGet(ctx, &task.RunGetParams{RunID: dropped.RunID})
	wantNotFound(t, "run of task deleted with runs", err, "run")
	_, err = s.AttemptList(ctx, &task.AttemptListParams{RunID: dropped.RunID})
	wantNotFound(t, "attempts of deleted run", err, "run")
	if runs, _ := s.RunList(ctx, &task.RunListParams{TaskID: "drop"}); len(runs) != 0 {
		t.Errorf("runs left: %v", runIDs(runs))
	}
	wantNotFound(t, "delete missing task", s.TaskDelete(ctx, &task.TaskDeleteParams{TaskID: "drop"}), "task")
}

func testCopies(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	tk := b.task(newTask("job", func(tk *task.Task) { tk.Metadata = map[string]any{"k": "v"} }))
	tk.Metadata["k"] = "changed"
	tk.Query = "changed"
	r := b.manual("job", "")
	r.Status = task.RunCompleted
	if r.Metadata == nil {
		r.Metadata = map[string]any{}
	}
	r.Metadata["x"] = 1
	if got, _ := s.TaskGet(ctx, &task.TaskGetParams{TaskID: "job"}); got.Query != "do job" || got.Metadata["k"] != "v" {
		t.Errorf("changing a returned task changed the store: %+v", got)
	}
	if got := b.get(r.RunID); got.Status != task.RunQueued || got.Metadata != nil {
		t.Errorf("changing a returned run changed the store: %+v", got)
	}
}
