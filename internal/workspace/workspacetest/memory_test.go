package workspacetest

import (
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/workspace"
)

func TestMemoryContract(t *testing.T) {
	Run(t, func(*testing.T) workspace.Store { return NewMemory() })
}

func TestMemoryNowFunc(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.FixedZone("WAT", 3600))
	m := NewMemory()
	m.NowFunc = func() time.Time { return at }
	if err := m.FileWrite(t.Context(), "d/f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"d/f", "d"} {
		fi, err := m.FileStat(t.Context(), p)
		if err != nil || !fi.ModifiedAt.Equal(at) || fi.ModifiedAt.Location() != time.UTC {
			t.Errorf("stat %s = %+v, %v; want ModifiedAt %v in UTC", p, fi, err, at)
		}
	}
}
