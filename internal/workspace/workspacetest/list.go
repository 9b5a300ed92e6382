package workspacetest

import (
	"github.com/omniserve/omniserve/internal/workspace"
)

// tree writes the files the listing tests share. Its names sort
// differently by path than by walk order: '-' and '.' sort before '/'.
func (b *bundle) tree() {
	for _, p := range []string{"z.txt", "b/d/f.txt", "a.txt", "b/c.txt", "b/d/e.txt", "b-x.txt", "b.txt", "bb/x.txt"} {
		b.write(p, p)
	}
}

func testListRecursiveSorted(b *bundle) {
	b.tree()
	b.wantList("",
		file("a.txt", 5),
		dir("b"),
		file("b-x.txt", 7),
		file("b.txt", 5),
		file("b/c.txt", 7),
		dir("b/d"),
		file("b/d/e.txt", 9),
		file("b/d/f.txt", 9),
		dir("bb"),
		file("bb/x.txt", 8),
		file("z.txt", 5),
	)
}

func testListPrefix(b *bundle) {
	b.tree()
	want := []entry{file("b/c.txt", 7), dir("b/d"), file("b/d/e.txt", 9), file("b/d/f.txt", 9)}
	b.wantList("b", want...)
	b.wantList("b/", want...)
	b.wantList("./b", want...)
	b.wantList("b/d", file("b/d/e.txt", 9), file("b/d/f.txt", 9))
}

func testListEmpty(b *bundle) {
	b.wantList("")
	b.tree()
	b.wantList("missing")
	b.wantList("b/missing/deeper")
	b.wantList("a.txt")
	b.wantList("b/c.txt")
}

func testRunLayout(b *bundle) {
	t := b.t
	ns, err := workspace.RunNamespace("served", "daily_report", "run_42")
	if err != nil {
		t.Fatal(err)
	}
	at := func(name string) string {
		p, err := workspace.Join(ns, name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const (
		runJSON = `{"run_id":"run_42","status":"running"}`
		event1  = `{"sequence":1,"event":"background_run_queued"}` + "\n"
		event2  = `{"sequence":2,"event":"background_run_claimed"}` + "\n"
		output  = "# Report\n"
		todo    = "- [x] gather\n"
		log     = "ok\n"
		csv     = "day,total\n"
		sub     = "notes\n"
	)
	b.write(at(workspace.RunJSON), runJSON)
	b.append(at(workspace.EventsJSONL), event1)
	b.append(at(workspace.EventsJSONL), event2)
	b.write(at(workspace.OutputMD), output)
	b.write(at(workspace.ScratchpadDir+"/todo.md"), todo)
	b.write(at(workspace.LogsDir+"/agent.log"), log)
	b.write(at(workspace.ArtifactsDir+"/sales.csv"), csv)
	b.write(at(workspace.SubagentsDir+"/researcher/output.md"), sub)
	b.write("background/served/daily_report/run_43/run.json", "{}")
	b.wantList(ns,
		dir(ns+"/artifacts"),
		file(ns+"/artifacts/sales.csv", len(csv)),
		file(ns+"/events.jsonl", len(event1+event2)),
		dir(ns+"/logs"),
		file(ns+"/logs/agent.log", len(log)),
		file(ns+"/output.md", len(output)),
		file(ns+"/run.json", len(runJSON)),
		dir(ns+"/scratchpad"),
		file(ns+"/scratchpad/todo.md", len(todo)),
		dir(ns+"/subagents"),
		dir(ns+"/subagents/researcher"),
		file(ns+"/subagents/researcher/output.md", len(sub)),
	)
}
