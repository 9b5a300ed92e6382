package workspace_test

import (
	"fmt"
	"strings"

	"github.com/omniserve/omniserve/internal/workspace"
)

func ExampleRunNamespace() {
	ns, err := workspace.RunNamespace("served", "daily_report", "run_42")
	if err != nil {
		fmt.Println(err)
		return
	}
	events, _ := workspace.Join(ns, workspace.EventsJSONL)
	fmt.Println(ns)
	fmt.Println(events)
	// Output:
	// background/served/daily_report/run_42
	// background/served/daily_report/run_42/events.jsonl
}

func ExampleCleanPath() {
	for _, p := range []string{"scratchpad//notes.md", "./output.md", "../../etc/passwd", "/etc/passwd"} {
		clean, err := workspace.CleanPath(p)
		fmt.Printf("%q %q %v\n", p, clean, err)
	}
	// Output:
	// "scratchpad//notes.md" "scratchpad/notes.md" <nil>
	// "./output.md" "output.md" <nil>
	// "../../etc/passwd" "" invalid workspace path "../../etc/passwd": contains a .. segment
	// "/etc/passwd" "" invalid workspace path "/etc/passwd": is absolute
}

func ExampleRunContext() {
	text := workspace.RunContext(workspace.RunContextParams{
		AgentID:       "served",
		TaskID:        "daily_report",
		RunID:         "run_42",
		WorkspacePath: "background/served/daily_report/run_42",
		Query:         "Write the daily report.",
	})
	fmt.Println(strings.HasSuffix(text, "Write the daily report."))
	// Output: true
}
