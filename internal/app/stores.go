package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/omniserve/omniserve/internal/config"
	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/store/sqlstore"
	"github.com/omniserve/omniserve/internal/task"
)

// StoreSet is the stores one server uses, opened from the configuration.
// Stores that name the same SQL URL share one connection pool.
type StoreSet struct {
	Stores
	closers []func() error
}

// Close closes every database the set opened.
func (s *StoreSet) Close() error {
	var err error
	for _, c := range s.closers {
		err = errors.Join(err, c())
	}
	s.closers = nil
	return err
}

// OpenStores opens the event log, session memory and task store the
// configuration selects (in memory by default; SQLite or PostgreSQL with a
// URL). Several processes pointed at one PostgreSQL database act as one
// server.
func OpenStores(ctx context.Context, cfg config.Config, logger *slog.Logger) (*StoreSet, error) {
	set := &StoreSet{}
	sqls := map[string]*sqlstore.Store{}
	openSQL := func(what, url string) (*sqlstore.Store, error) {
		if s, ok := sqls[url]; ok {
			return s, nil
		}
		octx := ctx
		if cfg.BackgroundTaskStoreConnectTimeout > 0 {
			var cancel context.CancelFunc
			octx, cancel = context.WithTimeout(ctx, cfg.BackgroundTaskStoreConnectTimeout)
			defer cancel()
		}
		s, err := sqlstore.Open(octx, url, sqlstore.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("open the %s store: %w", what, err)
		}
		sqls[url] = s
		set.closers = append(set.closers, s.Close)
		return s, nil
	}
	var mem *memstore.Store
	inMemory := func() *memstore.Store {
		if mem == nil {
			mem = memstore.New()
		}
		return mem
	}
	fail := func(err error) (*StoreSet, error) {
		_ = set.Close()
		return nil, err
	}

	tel, err := cfg.TelemetryStore()
	if err != nil {
		return fail(err)
	}
	if tel.Backend == config.StoreSQL {
		s, err := openSQL("event log", tel.URL)
		if err != nil {
			return fail(err)
		}
		set.Events = s
	} else {
		set.Events = inMemory()
	}

	memChoice, err := cfg.MemoryStore()
	if err != nil {
		return fail(err)
	}
	if memChoice.Backend == config.StoreSQL {
		s, err := openSQL("session memory", memChoice.URL)
		if err != nil {
			return fail(err)
		}
		set.Memory = s
	} else {
		set.Memory = inMemory()
	}

	if cfg.BackgroundEnabled {
		ts, err := cfg.TaskStore()
		if err != nil {
			return fail(err)
		}
		switch ts.Backend {
		case config.StoreInMemory:
			set.Tasks = memstore.NewTaskStore(time.Now)
		case config.StoreSQL:
			s, err := openSQL("task", ts.URL)
			if err != nil {
				return fail(err)
			}
			set.Tasks = s
		default:
			return fail(fmt.Errorf("OMNICOREAGENT_BACKGROUND_TASK_STORE=%s is not available in this build yet; use in_memory or sql", ts.Backend))
		}
	}
	return set, nil
}

// taskStoreFor returns the task store an agent was given, or opens the one
// the configuration selects (for agents built without a StoreSet, such as
// the Go API's).
func taskStoreFor(ag *Agent, cfg config.Config, logger *slog.Logger) (task.Store, func() error, error) {
	if ag.tasks != nil {
		return ag.tasks, nil, nil
	}
	set, err := OpenStores(context.Background(), tasksOnly(cfg), logger)
	if err != nil {
		return nil, nil, err
	}
	return set.Tasks, set.Close, nil
}

// tasksOnly keeps cfg's task store and puts the other stores in memory.
func tasksOnly(cfg config.Config) config.Config {
	cfg.TelemetryStoreBackend, cfg.TelemetryStoreURL = config.StoreInMemory, ""
	cfg.MemoryStoreBackend, cfg.DatabaseURL = config.StoreInMemory, ""
	return cfg
}
