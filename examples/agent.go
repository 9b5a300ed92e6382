//go:build ignore

// A Go agent file: an agent with one tool written in Go (word_count) and the
// built-in calculate tool. omniserve interprets this file at startup, so it
// needs no Go toolchain and no build step; the build line above only keeps
// `go build ./...` and `go vet ./...` away from it.
//
// It uses the offline echo model, so it runs without a key or network:
//
//	omniserve run --agent examples/agent.go
//
// The echo model turns a last line of the form {"tool": NAME, "arguments":
// {...}} into a call of that tool and answers with the tool's result:
//
//	curl -s localhost:8000/run/sync -H 'Content-Type: application/json' \
//	  -d '{"query": "Count these words.\n{\"tool\": \"word_count\", \"arguments\": {\"text\": \"the quick brown fox\"}}"}'
//
// answers {"response": "{\"words\":4,\"characters\":19}", ...}. To use a
// real model, set Provider and Model (e.g. "openai" and "gpt-4o-mini") and
// export LLM_API_KEY.
//
// The interpreter runs the Go 1.21 language: no range over integers, no
// min or max builtins, no iterator helpers.
package main

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/omniserve/omniserve"
)

// WordCountArgs are the arguments of word_count. The json tags name the
// properties of the tool's JSON Schema; jsonschema tags describe them.
type WordCountArgs struct {
	Text string `json:"text" jsonschema:"The text whose words to count."`
}

// WordCount is the result of word_count, sent to the model as JSON.
type WordCount struct {
	Words      int `json:"words"`
	Characters int `json:"characters"`
}

// wordCount counts the words and characters of a text.
func wordCount(ctx context.Context, in WordCountArgs) (WordCount, error) {
	return WordCount{
		Words:      len(strings.Fields(in.Text)),
		Characters: utf8.RuneCountInString(in.Text),
	}, nil
}

// CreateAgent builds the agent. A function rather than `var Agent` so that a
// failure is reported with its reason.
func CreateAgent() (*omniserve.Agent, error) {
	tools := omniserve.NewToolRegistry()
	if err := tools.Register("word_count", "Count the words and characters of a text.", wordCount); err != nil {
		return nil, err
	}
	if err := tools.RegisterBuiltin("calculate"); err != nil {
		return nil, err
	}
	return omniserve.NewAgent(omniserve.AgentConfig{
		Name:              "word_counter",
		SystemInstruction: "You count words with the word_count tool and do arithmetic with calculate.",
		Model:             omniserve.ModelConfig{Provider: "echo"},
		Tools:             tools,
	})
}
