//go:build ignore

package agent

var Agent = "gpt"
