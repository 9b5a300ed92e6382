package omniserve

import (
	"os"
	"strings"
	"testing"

	"github.com/omniserve/omniserve/internal/config"
)

// TestREADMEListsEveryVariable keeps the user's manual in step with the
// configuration: a new variable without documentation fails here.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Vars() {
		if !strings.Contains(string(readme), "`"+v.Name+"`") {
			t.Errorf("README.md does not document %s", v.Name)
		}
	}
}
