package memstore

import (
	"testing"

	"github.com/omniserve/omniserve/internal/task"
	"github.com/omniserve/omniserve/internal/task/tasktest"
)

func TestTaskContract(t *testing.T) {
	tasktest.Run(t, func(_ *testing.T, clock *tasktest.Clock) task.Store {
		return NewTaskStore(clock.Now)
	}, tasktest.Capabilities{})
}
