package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Task store backends accepted by [Config.BackgroundTaskStore].
const (
	StoreInMemory = "in_memory"
	StoreSQL      = "sql"
	StoreRedis    = "redis"
	StoreMongoDB  = "mongodb"
)

// storeNames lists the backends in the order error messages give them.
var storeNames = []string{StoreInMemory, StoreSQL, StoreRedis, StoreMongoDB}

// DefaultSQLiteURL is the SQL task store used when the sql backend is chosen
// without a URL.
const DefaultSQLiteURL = "sqlite:///.omnicoreagent/background.db"

// DefaultMongoDatabase is the MongoDB database used when none is set.
const DefaultMongoDatabase = "omnicoreagent"

// TaskStore is the task store [Config.TaskStore] resolves: which backend to
// build and how to reach it.
type TaskStore struct {
	// Backend is StoreInMemory, StoreSQL, StoreRedis or StoreMongoDB.
	Backend string
	// URL is the SQL or Redis URL; set for those backends only.
	URL string
	// URI is the MongoDB URI; set for that backend only.
	URI string
	// Database is the MongoDB database; set for that backend only.
	Database string
	// Prefix is the Redis key or SQL table prefix; empty means the store's
	// default.
	Prefix string
	// CollectionPrefix is the MongoDB collection prefix; empty means the
	// store's default.
	CollectionPrefix string
	// ConnectTimeout bounds connecting; zero means the store's default.
	ConnectTimeout time.Duration
}

// TaskStore resolves the background task store from the BackgroundTaskStore*
// settings. A URI selects MongoDB and is only valid with the in_memory
// (default) or mongodb backend. Otherwise a URL promotes in_memory to sql
// and is only valid with sql or redis. mongodb needs a URI and redis needs a
// URL; sql without a URL uses [DefaultSQLiteURL]. The generic REDIS_URL and
// MONGODB_URI variables are deliberately never consulted.
func (c Config) TaskStore() (TaskStore, error) {
	backend := c.BackgroundTaskStore
	if !slices.Contains(storeNames, backend) {
		return TaskStore{}, fmt.Errorf("%s must be one of: %s", envTaskStore, strings.Join(storeNames, ", "))
	}
	ts := TaskStore{Backend: backend, ConnectTimeout: c.BackgroundTaskStoreConnectTimeout}
	switch {
	case c.BackgroundTaskStoreURI != "":
		if backend != StoreInMemory && backend != StoreMongoDB {
			return TaskStore{}, errors.New("OMNICOREAGENT_BACKGROUND_TASK_STORE_URI can only be used with the MongoDB background task store")
		}
		ts.Backend = StoreMongoDB
		ts.URI = c.BackgroundTaskStoreURI
		ts.Database = mongoDatabase(c.BackgroundTaskStoreDatabase)
		ts.CollectionPrefix = c.BackgroundTaskStoreCollectionPrefix
	case c.BackgroundTaskStoreURL != "":
		if backend == StoreInMemory {
			ts.Backend = StoreSQL
		}
		if ts.Backend != StoreSQL && ts.Backend != StoreRedis {
			return TaskStore{}, errors.New("OMNICOREAGENT_BACKGROUND_TASK_STORE_URL can only be used with the SQL or Redis background task store")
		}
		ts.URL = c.BackgroundTaskStoreURL
		ts.Prefix = c.BackgroundTaskStorePrefix
	case backend == StoreMongoDB:
		return TaskStore{}, errors.New("MongoDB background task store requires OMNICOREAGENT_BACKGROUND_TASK_STORE_URI")
	case backend == StoreRedis:
		return TaskStore{}, errors.New("Redis background task store requires OMNICOREAGENT_BACKGROUND_TASK_STORE_URL") //nolint:staticcheck // The message is the original server's, capital included.
	case backend == StoreSQL:
		ts.URL = DefaultSQLiteURL
		ts.Prefix = c.BackgroundTaskStorePrefix
	}
	return ts, nil
}

func mongoDatabase(db string) string {
	if db == "" {
		return DefaultMongoDatabase
	}
	return db
}

// StoreChoice is where one kind of state lives: in memory, or in the SQL
// database at URL.
type StoreChoice struct {
	// Backend is StoreInMemory or StoreSQL.
	Backend string
	// URL is the SQL URL; set for StoreSQL only.
	URL string
}

// TelemetryStore resolves the event-log store: in_memory (default) or sql.
// A URL alone selects sql; asking for sql without a URL is an error naming
// the variable, never a silent fallback to memory.
func (c Config) TelemetryStore() (StoreChoice, error) {
	backend := c.TelemetryStoreBackend
	if (backend == "" || backend == StoreInMemory) && c.TelemetryStoreURL != "" {
		backend = StoreSQL
	}
	return chooseStore(backend, c.TelemetryStoreURL, envTelemetryStore, envTelemetryStoreURL)
}

// MemoryStore resolves the session-memory store: in_memory (default) or
// sql, with the original's DATABASE_URL. A URL alone does not switch the
// backend, since DATABASE_URL often exists for other reasons; asking for
// sql without it is an error naming it.
func (c Config) MemoryStore() (StoreChoice, error) {
	if c.MemoryStoreBackend == StoreInMemory || c.MemoryStoreBackend == "" {
		return StoreChoice{Backend: StoreInMemory}, nil
	}
	return chooseStore(c.MemoryStoreBackend, c.DatabaseURL, envMemoryStore, envDatabaseURL)
}

func chooseStore(backend, url, envBackend, envURL string) (StoreChoice, error) {
	switch backend {
	case "", StoreInMemory:
		return StoreChoice{Backend: StoreInMemory}, nil
	case StoreSQL:
		if url == "" {
			return StoreChoice{}, fmt.Errorf("%s=sql requires %s", envBackend, envURL)
		}
		return StoreChoice{Backend: StoreSQL, URL: url}, nil
	}
	return StoreChoice{}, fmt.Errorf("%s must be one of: %s, %s", envBackend, StoreInMemory, StoreSQL)
}
