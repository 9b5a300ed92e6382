package otelexport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/net/http/httpproxy"
)

// Standard variable names, as the OpenTelemetry specification spells them.
const (
	envSDKDisabled      = "OTEL_SDK_DISABLED"
	envTracesExporter   = "OTEL_TRACES_EXPORTER"
	envEndpoint         = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint   = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envServiceName      = "OTEL_SERVICE_NAME"
	envResourceAttrs    = "OTEL_RESOURCE_ATTRIBUTES"
	envSampler          = "OTEL_TRACES_SAMPLER"
	envSamplerArg       = "OTEL_TRACES_SAMPLER_ARG"
	envBSPScheduleDelay = "OTEL_BSP_SCHEDULE_DELAY"
	envBSPExportTimeout = "OTEL_BSP_EXPORT_TIMEOUT"
	envBSPMaxQueue      = "OTEL_BSP_MAX_QUEUE_SIZE"
	envBSPMaxBatch      = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
	// otlpPrefix and tracesPrefix start the exporter variables that exist in
	// a generic and a traces-only form; the traces-only form wins.
	otlpPrefix   = "OTEL_EXPORTER_OTLP_"
	tracesPrefix = "OTEL_EXPORTER_OTLP_TRACES_"
	// defaultEndpoint is the specification's default for OTLP/HTTP traces.
	defaultEndpoint = "http://localhost:4318/v1/traces"
	// defaultTimeout is the specification's default export timeout.
	defaultTimeout = 10 * time.Second
)

// Enabled reports whether lookup asks for trace export: an OTLP endpoint
// variable (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and not empty, OTEL_SDK_DISABLED
// is not "true" and OTEL_TRACES_EXPORTER is not "none". A nil lookup means
// no.
func Enabled(lookup func(string) (string, bool)) bool {
	if lookup == nil {
		return false
	}
	env := envReader{lookup: lookup}
	if strings.EqualFold(env.get(envSDKDisabled), "true") || strings.EqualFold(env.get(envTracesExporter), "none") {
		return false
	}
	return env.get(envEndpoint) != "" || env.get(envTracesEndpoint) != ""
}

// envReader reads variables through an injected lookup. An empty value
// counts as unset, as the specification requires.
type envReader struct {
	lookup   func(string) (string, bool)
	readFile func(string) ([]byte, error)
}

// get returns the trimmed value of name, or "" when unset.
func (r envReader) get(name string) string {
	v, _ := r.lookup(name)
	return strings.TrimSpace(v)
}

// exporter returns the value and name of the traces-only form of an
// OTEL_EXPORTER_OTLP_ variable, falling back to the generic form.
func (r envReader) exporter(suffix string) (value, name string) {
	if v := r.get(tracesPrefix + suffix); v != "" {
		return v, tracesPrefix + suffix
	}
	return r.get(otlpPrefix + suffix), otlpPrefix + suffix
}

// settings are the OTEL_* values [New] honours, parsed.
type settings struct {
	endpointURL string
	headers     map[string]string
	timeout     time.Duration
	compression otlptracehttp.Compression
	encoding    otlptracehttp.Encoding
	tls         *tls.Config
	proxy       func(*http.Request) (*url.URL, error)
	sampler     sdktrace.Sampler
	batch       []sdktrace.BatchSpanProcessorOption
	limits      sdktrace.SpanLimits
	serviceName string
	resource    []attribute.KeyValue
}

// readSettings parses every variable New honours. Errors name the variable
// but never quote its value: headers and URLs may carry credentials.
func readSettings(r envReader) (settings, error) {
	s := settings{
		timeout:  defaultTimeout,
		encoding: otlptracehttp.EncodingProtobuf,
		sampler:  sdktrace.ParentBased(sdktrace.AlwaysSample()),
		limits: sdktrace.SpanLimits{
			AttributeValueLengthLimit:   sdktrace.DefaultAttributeValueLengthLimit,
			AttributeValueDepthLimit:    sdktrace.DefaultAttributeValueDepthLimit,
			AttributeCountLimit:         sdktrace.DefaultAttributeCountLimit,
			EventCountLimit:             sdktrace.DefaultEventCountLimit,
			LinkCountLimit:              sdktrace.DefaultLinkCountLimit,
			AttributePerEventCountLimit: sdktrace.DefaultAttributePerEventCountLimit,
			AttributePerLinkCountLimit:  sdktrace.DefaultAttributePerLinkCountLimit,
		},
	}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	s.endpointURL, err = endpointURL(r)
	add(err)
	s.headers, err = parseHeaders(r)
	add(err)
	if v, name := r.exporter("TIMEOUT"); v != "" {
		s.timeout, err = millis(name, v)
		add(err)
	}
	switch v, name := r.exporter("COMPRESSION"); strings.ToLower(v) {
	case "", "none":
		s.compression = otlptracehttp.NoCompression
	case "gzip":
		s.compression = otlptracehttp.GzipCompression
	default:
		add(fmt.Errorf("%s: want gzip or none", name))
	}
	switch v, name := r.exporter("PROTOCOL"); strings.ToLower(v) {
	case "", "http/protobuf":
	case "http/json":
		s.encoding = otlptracehttp.EncodingJSON
	default:
		add(fmt.Errorf("%s: only http/protobuf and http/json are supported", name))
	}
	s.tls, err = tlsConfig(r)
	add(err)
	s.proxy = proxyFunc(r)
	s.sampler, err = sampler(r)
	add(err)
	s.batch, err = batchOptions(r)
	add(err)
	add(spanLimits(r, &s.limits))
	s.resource, err = resourceAttributes(r)
	add(err)
	s.serviceName = r.get(envServiceName)
	return s, errors.Join(errs...)
}

// endpointURL resolves the traces URL. A traces-only endpoint is used as
// is; a generic one is a base URL that /v1/traces is appended to.
func endpointURL(r envReader) (string, error) {
	if v := r.get(envTracesEndpoint); v != "" {
		u, err := httpURL(envTracesEndpoint, v)
		if err != nil {
			return "", err
		}
		if u.Path == "" {
			u.Path = "/"
		}
		return u.String(), nil
	}
	if v := r.get(envEndpoint); v != "" {
		u, err := httpURL(envEndpoint, v)
		if err != nil {
			return "", err
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		u.RawPath = ""
		return u.String(), nil
	}
	return defaultEndpoint, nil
}

func httpURL(name, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: want an absolute http or https URL", name)
	}
	return u, nil
}

// parseHeaders reads "key=value" pairs separated by commas, values
// percent-encoded.
func parseHeaders(r envReader) (map[string]string, error) {
	headers := map[string]string{}
	v, name := r.exporter("HEADERS")
	if v == "" {
		return headers, nil
	}
	for i, pair := range strings.Split(v, ",") {
		key, value, ok := strings.Cut(pair, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("%s: entry %d is not key=value", name, i+1)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d: value is not percent-encoded correctly", name, i+1)
		}
		headers[key] = decoded
	}
	return headers, nil
}

// tlsConfig builds the client TLS settings from the certificate files, or
// returns nil when none is named.
func tlsConfig(r envReader) (*tls.Config, error) {
	ca, caName := r.exporter("CERTIFICATE")
	cert, certName := r.exporter("CLIENT_CERTIFICATE")
	key, keyName := r.exporter("CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := r.readFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", caName, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate found", caName)
		}
		cfg.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("%s and %s must be set together", certName, keyName)
	}
	if cert != "" {
		certPEM, err := r.readFile(cert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", certName, err)
		}
		keyPEM, err := r.readFile(key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyName, err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", certName, keyName, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// proxyFunc honours HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their lower
// case forms) as Go's default transport does, but through the lookup.
func proxyFunc(r envReader) func(*http.Request) (*url.URL, error) {
	either := func(upper string) string {
		if v := r.get(upper); v != "" {
			return v
		}
		return r.get(strings.ToLower(upper))
	}
	cfg := &httpproxy.Config{
		HTTPProxy:  either("HTTP_PROXY"),
		HTTPSProxy: either("HTTPS_PROXY"),
		NoProxy:    either("NO_PROXY"),
	}
	proxy := cfg.ProxyFunc()
	return func(req *http.Request) (*url.URL, error) { return proxy(req.URL) }
}

// sampler reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG. The
// default is parentbased_always_on.
func sampler(r envReader) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		arg := r.get(envSamplerArg)
		if arg == "" {
			return 1, nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || v < 0 || v > 1 {
			return 0, fmt.Errorf("%s: want a number from 0 to 1", envSamplerArg)
		}
		return v, nil
	}
	switch name := strings.ToLower(r.get(envSampler)); name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		v, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(v), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(v)), nil
	default:
		return nil, fmt.Errorf("%s: unsupported sampler %q", envSampler, name)
	}
}

// batchOptions reads the OTEL_BSP_* variables.
func batchOptions(r envReader) ([]sdktrace.BatchSpanProcessorOption, error) {
	var opts []sdktrace.BatchSpanProcessorOption
	var errs []error
	if v := r.get(envBSPScheduleDelay); v != "" {
		d, err := millis(envBSPScheduleDelay, v)
		errs = append(errs, err)
		opts = append(opts, sdktrace.WithBatchTimeout(d))
	}
	if v := r.get(envBSPExportTimeout); v != "" {
		d, err := millis(envBSPExportTimeout, v)
		errs = append(errs, err)
		opts = append(opts, sdktrace.WithExportTimeout(d))
	}
	if v := r.get(envBSPMaxQueue); v != "" {
		n, err := positive(envBSPMaxQueue, v)
		errs = append(errs, err)
		opts = append(opts, sdktrace.WithMaxQueueSize(n))
	}
	if v := r.get(envBSPMaxBatch); v != "" {
		n, err := positive(envBSPMaxBatch, v)
		errs = append(errs, err)
		opts = append(opts, sdktrace.WithMaxExportBatchSize(n))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return opts, nil
}

// spanLimits reads the attribute count and value length limits, span-only
// form first. Our spans carry no events or links, so those limits keep the
// SDK's defaults.
func spanLimits(r envReader, l *sdktrace.SpanLimits) error {
	read := func(names ...string) (int, bool, error) {
		for _, name := range names {
			if v := r.get(name); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return 0, false, fmt.Errorf("%s: want a whole number of 0 or more", name)
				}
				return n, true, nil
			}
		}
		return 0, false, nil
	}
	var errs []error
	if n, ok, err := read("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"); ok {
		l.AttributeCountLimit = n
	} else {
		errs = append(errs, err)
	}
	if n, ok, err := read("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"); ok {
		l.AttributeValueLengthLimit = n
	} else {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// resourceAttributes reads OTEL_RESOURCE_ATTRIBUTES: "key=value" pairs
// separated by commas, values percent-encoded.
func resourceAttributes(r envReader) ([]attribute.KeyValue, error) {
	v := r.get(envResourceAttrs)
	if v == "" {
		return nil, nil
	}
	var attrs []attribute.KeyValue
	for i, pair := range strings.Split(v, ",") {
		key, value, ok := strings.Cut(pair, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("%s: entry %d is not key=value", envResourceAttrs, i+1)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d: value is not percent-encoded correctly", envResourceAttrs, i+1)
		}
		attrs = append(attrs, attribute.String(key, decoded))
	}
	return attrs, nil
}

// millis parses a whole number of milliseconds.
func millis(name, v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: want a whole number of milliseconds", name)
	}
	return time.Duration(n) * time.Millisecond, nil
}

func positive(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: want a whole number above 0", name)
	}
	return n, nil
}
