package omniserve_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The Gemini SDK's dependencies start an OpenCensus worker at init;
	// it is process-wide and not ours to stop.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
