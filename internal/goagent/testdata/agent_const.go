//go:build ignore

package agent

const Agent = "gpt"
