// Package httptool provides a tool kind that calls an HTTP endpoint.
//
// An HTTP tool is configured with a URL, a method and headers. The model's
// arguments, validated against the tool's JSON Schema, become the query
// string of a GET or DELETE request or the JSON body of a POST, PUT or
// PATCH request; the response body is the result the model reads.
//
// References of the form ${NAME} in the URL and in header values are
// expanded once, when the tool is built, through an injected lookup, so API
// keys can live in the environment rather than in agent files. Expanded
// values and header values are treated as secrets: errors and logs name the
// host, never the path, query string, headers or variable values.
//
// # Network guard
//
// Unless [Config.AllowPrivate] is set, the tool refuses to connect to
// link-local addresses (169.254.0.0/16 and fe80::/10, which include the
// cloud metadata service at 169.254.169.254), to AWS's IPv6 metadata
// address fd00:ec2::254, and to the metadata host names
// "metadata.google.internal" and "metadata". The check runs when a
// connection is dialled, on the address actually being connected to, so it
// also covers redirects and host names that resolve (or are rebound) to a
// refused address; a refused connection sends no packet. Loopback and
// private (RFC 1918, fc00::/7) addresses stay reachable, since calling a
// team's internal services is an intended use. With the guard on, requests
// never go through a proxy, which would hide the real destination from it.
package httptool
