package background

import (
	"strings"

	"github.com/omniserve/omniserve/internal/task"
)

// RunContextQuery returns the query a background run sends by default:
// a preamble that tells the agent it is in a background run, names the
// run, the task and the run's workspace directory and the conventions for
// the files it writes there, followed by the run's query snapshot.
func RunContextQuery(run *task.Run) string {
	var b strings.Builder
	b.WriteString("[Background run context]\n")
	b.WriteString("You are executing a background run: no one reads your replies as you work.\n")
	b.WriteString("run_id: " + run.RunID + "\n")
	b.WriteString("task_id: " + run.TaskID + "\n")
	b.WriteString("workspace_path: /workspace/" + run.WorkspacePath + "\n")
	b.WriteString("Workspace conventions for this run:\n")
	b.WriteString("- write the final result to output.md;\n")
	b.WriteString("- keep progress, notes and todos in scratchpad/;\n")
	b.WriteString("- write logs to logs/;\n")
	b.WriteString("- put generated files in artifacts/;\n")
	b.WriteString("- put the outputs of delegated sub-agents in subagents/.\n")
	b.WriteString("Keep your final response short; the details belong in output.md.\n\n")
	b.WriteString("[Task]\n")
	b.WriteString(run.QuerySnapshot)
	return b.String()
}
