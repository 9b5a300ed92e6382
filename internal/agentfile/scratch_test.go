package agentfile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestScratch(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: a\nmodel_config: {provider: echo}\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "x%d: &x%d [*x%d, *x%d, *x%d, *x%d, *x%d, *x%d, *x%d, *x%d, *x%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	b.WriteString("tools: *x11\n")
	start := time.Now()
	_, err := Parse([]byte(b.String()), FormatYAML, "bomb")
	fmt.Println(time.Since(start), err)
	var c strings.Builder
	c.WriteString("name: a\nmodel_config: {provider: echo}\n")
	c.WriteString("tools: &t [{builtin: a}]\n")
	start = time.Now()
	_, err = Parse([]byte(strings.Repeat("[", 100000)), FormatYAML, "deep")
	fmt.Println(time.Since(start), err != nil)
	_, err = Parse([]byte(strings.Repeat("[", 100000)), FormatJSON, "deep")
	fmt.Println(time.Since(start), err)
	_, err = Parse([]byte(strings.Repeat("- ", 10000)), FormatYAML, "deep")
	fmt.Println(time.Since(start), err != nil)
}
