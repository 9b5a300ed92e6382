package workspace

import (
	"strconv"
	"strings"
)

// Names of the files and directories of a run workspace, relative to its
// namespace ([RunNamespace]).
const (
	// RunJSON is the run record, rewritten by the system after every
	// lifecycle event but heartbeats (unless the task's workspace policy
	// turns it off).
	RunJSON = "run.json"
	// EventsJSONL holds the run's lifecycle events, one JSON object per
	// line, appended by the system (unless the task's workspace policy
	// turns it off).
	EventsJSONL = "events.jsonl"
	// OutputMD is where the agent writes the run's final result.
	OutputMD = "output.md"
	// ScratchpadDir is where the agent keeps progress notes, plans and
	// to-do lists.
	ScratchpadDir = "scratchpad"
	// LogsDir is where the agent keeps logs of its work.
	LogsDir = "logs"
	// ArtifactsDir is where the agent saves the files it produces.
	ArtifactsDir = "artifacts"
	// SubagentsDir is where the outputs of sub-agents the run delegates
	// to go.
	SubagentsDir = "subagents"
)

// MaxIDLength is the longest agent, task or run id [RunNamespace]
// accepts, the same limit the task domain puts on ids.
const MaxIDLength = 128

// RunNamespace returns the default workspace directory of a background
// run, "background/{agent_id}/{task_id}/{run_id}". Each id must be 1 to
// [MaxIDLength] characters from A–Z, a–z, 0–9, '_', '.' and '-', and not
// dots alone, so the result is always a clean path with exactly four
// elements; otherwise the error is an [*InvalidPathError] naming the id.
func RunNamespace(agentID, taskID, runID string) (string, error) {
	for _, id := range []struct{ field, value string }{
		{"agent_id", agentID}, {"task_id", taskID}, {"run_id", runID},
	} {
		if reason := idProblem(id.value); reason != "" {
			return "", &InvalidPathError{Path: id.value, Reason: id.field + " " + reason}
		}
	}
	return "background/" + agentID + "/" + taskID + "/" + runID, nil
}

// idProblem returns why id cannot be a path element, or "".
func idProblem(id string) string {
	switch {
	case id == "":
		return "is required"
	case len(id) > MaxIDLength:
		return "is longer than " + strconv.Itoa(MaxIDLength) + " characters"
	case strings.Trim(id, ".") == "":
		return "must not be made of dots alone"
	}
	for _, c := range []byte(id) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '.' || c == '-'
		if !ok {
			return "must match ^[A-Za-z0-9_.-]+$"
		}
	}
	return ""
}

// RunContextParams are the inputs of [RunContext].
type RunContextParams struct {
	// AgentID is the id of the agent running the task.
	AgentID string
	// TaskID is the id of the task.
	TaskID string
	// RunID is the id of the run.
	RunID string
	// WorkspacePath is the run's directory relative to the workspace's
	// files area (the run's workspace_path), shown to the agent under
	// [AgentRoot].
	WorkspacePath string
	// Query is the run's query snapshot; it ends the text.
	Query string
}

// RunContext returns the query a background run gives its agent: a
// preamble saying the run is unattended, naming the run, the task, the
// agent and the workspace directory, and setting out the workspace
// conventions ([OutputMD] for the final result, [ScratchpadDir] for notes
// and to-dos, [LogsDir], [ArtifactsDir] for produced files, [SubagentsDir]
// for delegated work) and a short final reply, followed by p.Query
// unchanged, so the text ends with the query.
func RunContext(p RunContextParams) string {
	ws := AgentPath(p.WorkspacePath)
	var b strings.Builder
	b.WriteString("[Background run]\n")
	b.WriteString("You are running as a background task. Nobody is watching this conversation, so work on your own and do not wait for replies.\n\n")
	b.WriteString("run_id: " + p.RunID + "\n")
	b.WriteString("task_id: " + p.TaskID + "\n")
	if p.AgentID != "" {
		b.WriteString("agent_id: " + p.AgentID + "\n")
	}
	b.WriteString("workspace_path: " + ws + "\n\n")
	b.WriteString("This run has its own workspace directory at " + ws + ". Keep every file of the run inside it:\n")
	b.WriteString("- " + OutputMD + ": write the final result of the task here.\n")
	b.WriteString("- " + ScratchpadDir + "/: keep progress notes, plans and to-do lists here.\n")
	b.WriteString("- " + LogsDir + "/: record what you did and anything that went wrong.\n")
	b.WriteString("- " + ArtifactsDir + "/: save any files you generate.\n")
	b.WriteString("- " + SubagentsDir + "/: put the outputs of sub-agents you delegate work to.\n\n")
	b.WriteString("When you are done, answer briefly: summarise the outcome and point to " + OutputMD + " instead of repeating it.\n\n")
	b.WriteString("Task:\n")
	b.WriteString(p.Query)
	return b.String()
}
