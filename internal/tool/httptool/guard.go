package httptool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is returned, wrapped, when the network guard stops a
// connection. Set [Config.AllowPrivate] to lift the guard.
var ErrRefused = errors.New("destination refused")

// metadataHosts are cloud metadata host names, refused by name before any
// lookup.
var metadataHosts = map[string]bool{
	"metadata.google.internal": true,
	"metadata":                 true,
}

// metadataAddrs are metadata service addresses outside the link-local
// ranges.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("fd00:ec2::254"): true, // AWS instance metadata over IPv6
}

// refusedHost reports why the guard refuses a host name or address
// literal, or "" when it does not. Only names are judged here; addresses
// are judged again at dial time by [refusedAddr].
func refusedHost(host string) string {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if metadataHosts[name] {
		return "a cloud metadata host"
	}
	return ""
}

// refusedAddr reports why the guard refuses an address, or "" when it
// does not.
func refusedAddr(a netip.Addr) string {
	a = a.Unmap() // ::ffff:169.254.169.254 is 169.254.169.254
	switch {
	case metadataAddrs[a.WithZone("")]:
		return "a cloud metadata address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	}
	return ""
}

// refusal builds the error for a refused destination.
func refusal(dest, reason string) error {
	return fmt.Errorf("%w: %s is %s (set AllowPrivate to allow it)", ErrRefused, dest, reason)
}

// guardedDialer returns a DialContext function that refuses metadata host
// names before resolving them and refuses link-local and metadata addresses
// after resolving, just before connecting: the dialer's ControlContext hook
// sees each address the socket is about to connect to, so no packet reaches
// a refused one.
func guardedDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{
		// The same as http.DefaultTransport.
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				// Fail closed: an address we cannot read is one we cannot vouch for.
				return fmt.Errorf("%w: unreadable address %q", ErrRefused, address)
			}
			if reason := refusedAddr(ap.Addr()); reason != "" {
				return refusal(ap.Addr().String(), reason)
			}
			return nil
		},
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		if reason := refusedHost(host); reason != "" {
			return nil, refusal(host, reason)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// newClient returns the client a tool sends requests with: a copy of base
// (or of a default client) whose redirect policy is checkRedirect and,
// unless allowPrivate, whose transport dials through the guard.
//
// A guarded client needs a transport it can rebuild: base's Transport must
// be nil or an *http.Transport without custom TLS dialling. The copy keeps
// its TLS and pooling settings but dials through the guard, directly,
// without a proxy.
func newClient(base *http.Client, allowPrivate bool, checkRedirect func(*http.Request, []*http.Request) error) (*http.Client, error) {
	var c http.Client
	if base != nil {
		c = *base
	}
	c.CheckRedirect = checkRedirect
	if allowPrivate && c.Transport != nil {
		return &c, nil
	}
	var tr *http.Transport
	switch bt := c.Transport.(type) {
	case nil:
		dt, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, errors.New("http.DefaultTransport is not an *http.Transport")
		}
		tr = dt.Clone()
	case *http.Transport:
		if bt.DialTLSContext != nil || bt.DialTLS != nil { //nolint:staticcheck // DialTLS would bypass the guard too.
			return nil, errors.New("invalid HTTPClient: its transport dials TLS itself, which the network guard cannot check; set AllowPrivate or drop DialTLSContext")
		}
		tr = bt.Clone()
	default:
		return nil, fmt.Errorf("invalid HTTPClient: transport %T cannot be guarded; use an *http.Transport or set AllowPrivate", bt)
	}
	// Proxies from the environment are never used: only the configuration
	// package reads the environment, and a proxy would hide the real
	// destination from the guard.
	tr.Proxy = nil
	if !allowPrivate {
		// DialContext takes precedence over the deprecated Dial.
		tr.DialContext = guardedDialer()
	}
	c.Transport = tr
	return &c, nil
}
