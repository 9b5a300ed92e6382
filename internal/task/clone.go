package task

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Clone returns a deep copy of a, so a store never shares maps or
// pointers with its callers.
func (a *AgentSpec) Clone() *AgentSpec {
	if a == nil {
		return nil
	}
	c := *a
	if a.ModelConfig != nil {
		mc := *a.ModelConfig
		mc.Temperature = clonePtr(mc.Temperature)
		c.ModelConfig = &mc
	}
	c.AgentConfig = CloneMetadata(a.AgentConfig)
	c.Tools = slices.Clone(a.Tools)
	if a.MCPServers != nil {
		c.MCPServers = make([]json.RawMessage, len(a.MCPServers))
		for i, raw := range a.MCPServers {
			c.MCPServers[i] = slices.Clone(raw)
		}
	}
	c.WorkspaceConfig = CloneMetadata(a.WorkspaceConfig)
	c.Metadata = CloneMetadata(a.Metadata)
	return &c
}

// Clone returns a deep copy of t.
func (t *Task) Clone() *Task {
	if t == nil {
		return nil
	}
	c := *t
	c.Schedule = t.Schedule.clone()
	c.TimeoutSeconds = clonePtr(t.TimeoutSeconds)
	c.RetryPolicy.InitialDelaySeconds = clonePtr(t.RetryPolicy.InitialDelaySeconds)
	c.RetryPolicy.MaxDelaySeconds = clonePtr(t.RetryPolicy.MaxDelaySeconds)
	c.RetryPolicy.RetryOn = slices.Clone(t.RetryPolicy.RetryOn)
	c.WorkspacePolicy.WriteRunJSON = clonePtr(t.WorkspacePolicy.WriteRunJSON)
	c.WorkspacePolicy.WriteEventsJSONL = clonePtr(t.WorkspacePolicy.WriteEventsJSONL)
	c.Metadata = CloneMetadata(t.Metadata)
	return &c
}

func (s Schedule) clone() Schedule {
	s.RunAt = clonePtr(s.RunAt)
	s.StartAt = clonePtr(s.StartAt)
	s.EndAt = clonePtr(s.EndAt)
	return s
}

// Clone returns a deep copy of st.
func (st *ScheduleState) Clone() *ScheduleState {
	if st == nil {
		return nil
	}
	c := *st
	c.NextDueAt = clonePtr(st.NextDueAt)
	c.LastDueAt = clonePtr(st.LastDueAt)
	c.LastDispatchedAt = clonePtr(st.LastDispatchedAt)
	c.MisfireCursor = clonePtr(st.MisfireCursor)
	return &c
}

// Clone returns a deep copy of p.
func (p DuePlan) Clone() DuePlan {
	p.Next = clonePtr(p.Next)
	p.Occurrences = slices.Clone(p.Occurrences)
	for i := range p.Occurrences {
		p.Occurrences[i].Next = clonePtr(p.Occurrences[i].Next)
	}
	return p
}

// Clone returns a deep copy of r.
func (r *Run) Clone() *Run {
	if r == nil {
		return nil
	}
	c := *r
	c.DueAt = clonePtr(r.DueAt)
	c.TriggerMetadata = CloneMetadata(r.TriggerMetadata)
	c.LeaseExpiresAt = clonePtr(r.LeaseExpiresAt)
	c.HeartbeatAt = clonePtr(r.HeartbeatAt)
	c.ClaimedAt = clonePtr(r.ClaimedAt)
	c.StartedAt = clonePtr(r.StartedAt)
	c.FinishedAt = clonePtr(r.FinishedAt)
	c.CancelRequestedAt = clonePtr(r.CancelRequestedAt)
	c.Metadata = CloneMetadata(r.Metadata)
	return &c
}

// Clone returns a deep copy of a.
func (a *Attempt) Clone() *Attempt {
	if a == nil {
		return nil
	}
	c := *a
	c.FinishedAt = clonePtr(a.FinishedAt)
	c.RetryDelaySeconds = clonePtr(a.RetryDelaySeconds)
	return &c
}

// CloneMetadata returns a deep copy of m, descending into nested maps and
// slices as JSON decoding produces them; nil stays nil.
func CloneMetadata(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return CloneMetadata(v)
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneValue(e)
		}
		return c
	case []string:
		return slices.Clone(v)
	case map[string]string:
		return maps.Clone(v)
	case json.RawMessage:
		return slices.Clone(v)
	default:
		return v
	}
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// timePtr returns a pointer to a copy of t.
func timePtr(t time.Time) *time.Time { return &t }
