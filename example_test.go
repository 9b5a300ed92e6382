package omniserve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/omniserve/omniserve"
)

// An agent on the offline echo model calls a Go tool and is served over
// HTTP. The echo model calls the tool named on the last line of the query
// and answers with the tool's result.
func Example() {
	tools := omniserve.NewToolRegistry()
	type greetArgs struct {
		Name string `json:"name" jsonschema:"who to greet"`
	}
	err := tools.Register("greet", "Greet someone by name.", func(_ context.Context, in greetArgs) (string, error) {
		return "Hello, " + in.Name + "!", nil
	})
	if err != nil {
		panic(err)
	}
	agent, err := omniserve.NewAgent(omniserve.AgentConfig{
		Name:              "greeter",
		SystemInstruction: "You greet people.",
		Model:             omniserve.ModelConfig{Provider: "echo"},
		Tools:             tools,
	})
	if err != nil {
		panic(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	srv := httptest.NewServer(omniserve.New(agent, omniserve.Config{LookupEnv: noEnv}).Handler())
	defer srv.Close()

	query := "Please greet Ada.\n" + `{"tool": "greet", "arguments": {"name": "Ada"}}`
	body, _ := json.Marshal(map[string]string{"query": query, "session_id": "example"})
	resp, err := http.Post(srv.URL+"/run/sync", "application/json", strings.NewReader(string(body)))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Response  string `json:"response"`
		SessionID string `json:"session_id"`
		AgentName string `json:"agent_name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, out.AgentName, out.SessionID)
	fmt.Println(out.Response)
	// Output:
	// 200 greeter example
	// Hello, Ada!
}
