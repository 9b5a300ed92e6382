package builtin

import (
	"context"
	"fmt"
	"time"

	"github.com/omniserve/omniserve/internal/tool"
)

// getTimeDescription is what the model reads about get_time.
const getTimeDescription = "Get the current date and time in a time zone."

// defaultTimeZone is used when get_time is called without a time zone.
const defaultTimeZone = "UTC"

// getTimeArgs are get_time's arguments.
type getTimeArgs struct {
	TimeZone string `json:"timezone,omitempty" jsonschema:"IANA time zone name such as Europe/Paris or America/New_York; defaults to UTC"`
}

// getTimeResult is get_time's answer.
type getTimeResult struct {
	Time     string `json:"time"`
	TimeZone string `json:"timezone"`
	Unix     int64  `json:"unix"`
}

// newGetTime returns the get_time tool reading the clock from nowFunc.
func newGetTime(nowFunc func() time.Time) (tool.Tool, error) {
	return tool.Func("get_time", getTimeDescription,
		func(_ context.Context, a getTimeArgs) (getTimeResult, error) {
			name := a.TimeZone
			if name == "" {
				name = defaultTimeZone
			}
			// "Local" would report the server's zone, which is neither an IANA
			// name nor the same on every host.
			if name == "Local" {
				return getTimeResult{}, fmt.Errorf("unknown time zone %q", name)
			}
			loc, err := time.LoadLocation(name)
			if err != nil {
				return getTimeResult{}, fmt.Errorf("load time zone %q: %w", name, err)
			}
			now := nowFunc().In(loc)
			return getTimeResult{Time: now.Format(time.RFC3339), TimeZone: name, Unix: now.Unix()}, nil
		})
}
