//go:build ignore

package agent

func CreateAgent() string {
	return "not an agent"
}
