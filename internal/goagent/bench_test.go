package goagent

import (
	"path/filepath"
	"testing"
)

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(b.Context(), filepath.Join("..", "..", "examples", "agent.go"), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
