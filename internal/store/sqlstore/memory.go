package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/omniserve/omniserve/internal/llm"
)

// MessageList implements [memory.Store].
func (s *Store) MessageList(ctx context.Context, sessionID string) ([]llm.Message, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT data FROM {p}messages WHERE session_id = ? ORDER BY seq`), sessionID)
	if err != nil {
		return nil, wrap("list messages", err)
	}
	var out []llm.Message
	err = scanEach(rows, func(r *sql.Rows) error {
		var data string
		if err := r.Scan(&data); err != nil {
			return err
		}
		var m llm.Message
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			return fmt.Errorf("decode message: %w", err)
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, wrap("list messages", err)
	}
	return out, nil
}

// MessageAppend implements [memory.Store]. The session's counter row
// reserves a block of numbers, so concurrent appends to one session never
// interleave their messages.
func (s *Store) MessageAppend(ctx context.Context, sessionID string, msgs ...llm.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	encoded := make([]string, len(msgs))
	for i := range msgs {
		b, err := json.Marshal(&msgs[i])
		if err != nil {
			return fmt.Errorf("append messages: encode message %d: %w", i, err)
		}
		encoded[i] = string(b)
	}
	return s.inTx(ctx, "append messages", func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO {p}memory_sessions (session_id, last_seq) VALUES (?, ?)
			ON CONFLICT (session_id) DO UPDATE SET last_seq = {p}memory_sessions.last_seq + excluded.last_seq
			RETURNING last_seq`), sessionID, len(msgs)).Scan(&last); err != nil {
			return dbErr(err)
		}
		first := last - int64(len(msgs)) + 1
		args := make([]any, 0, 3*len(msgs))
		for i, data := range encoded {
			args = append(args, sessionID, first+int64(i), data)
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(msgs)), ",")
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO {p}messages (session_id, seq, data) VALUES `+values), args...)
		return dbErr(err)
	})
}

// MessageClear implements [memory.Store].
func (s *Store) MessageClear(ctx context.Context, sessionID string) error {
	return s.inTx(ctx, "clear messages", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM {p}memory_sessions WHERE session_id = ?`), sessionID); err != nil {
			return dbErr(err)
		}
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM {p}messages WHERE session_id = ?`), sessionID)
		return dbErr(err)
	})
}
