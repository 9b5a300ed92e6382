// Package memory is the conversation memory of sessions: what the agent
// remembers between runs of one session. It is not the task store.
package memory

import (
	"context"

	"github.com/omniserve/omniserve/internal/llm"
)

// Store keeps each session's messages in order.
type Store interface {
	// MessageList returns the session's messages, oldest first; none for an
	// unknown session.
	MessageList(ctx context.Context, sessionID string) ([]llm.Message, error)
	// MessageAppend adds messages to the end of the session.
	MessageAppend(ctx context.Context, sessionID string, msgs ...llm.Message) error
	// MessageClear forgets the session.
	MessageClear(ctx context.Context, sessionID string) error
}
