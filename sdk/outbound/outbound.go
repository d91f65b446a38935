package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrPattern reports an allow-list entry that is not an origin pattern.
var ErrPattern = errors.New("outbound: bad origin pattern")

// Rule is one parsed origin pattern.
type Rule struct {
	Scheme string // "http", "https" or "*"
	// Host is a lowercase DNS name or IP literal (without brackets);
	// "*.example.com" matches any name below example.com (not itself);
	// "*" matches any host.
	Host string
	// Port is the port allowed, 0 for any; a pattern without one allows
	// its scheme's default port.
	Port int
}

// Parse parses one origin pattern: scheme://host[:port], where scheme is
// http, https or *, host a DNS name, an IP literal, *.suffix or *, and
// port a number or * (default: the scheme's own; a * scheme needs one).
// Nothing may follow the origin, not even "/".
func Parse(pattern string) (Rule, error) {
	bad := func(why string) (Rule, error) {
		return Rule{}, fmt.Errorf("%w %q: %s (want scheme://host[:port], such as https://api.example.com or https://*.example.com)", ErrPattern, pattern, why)
	}
	scheme, rest, ok := strings.Cut(pattern, "://")
	if !ok {
		return bad("no scheme")
	}
	if scheme != "http" && scheme != "https" && scheme != "*" {
		return bad("the scheme must be http, https or *")
	}
	if rest == "" || strings.ContainsAny(rest, "/?#@ \t") {
		return bad("only an origin: no path, query, user or spaces")
	}
	host, port := rest, ""
	if strings.Contains(rest, ":") {
		h, p, err := net.SplitHostPort(rest)
		switch {
		case err == nil:
			host, port = h, p
		case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		default:
			return bad("bad port, or an IPv6 address without brackets")
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	r := Rule{Scheme: scheme, Host: strings.ToLower(host)}
	switch {
	case port == "*":
	case port != "":
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
		r.Port = n
	case scheme == "http":
		r.Port = 80
	case scheme == "https":
		r.Port = 443
	default:
		return bad("a * scheme needs a port (or :*)")
	}
	if r.Host != host {
		return bad("the host must be lowercase")
	}
	if r.Host == "*" || net.ParseIP(r.Host) != nil {
		return r, nil
	}
	name := strings.TrimPrefix(r.Host, "*.")
	if !dnsName(name) || strings.Contains(name, "*") {
		return bad("the host must be a DNS name, an IP address, *.suffix or *")
	}
	return r, nil
}

func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Allows reports whether r lets a handler call u.
func (r Rule) Allows(u *url.URL) bool {
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	if r.Scheme != "*" && r.Scheme != u.Scheme {
		return false
	}
	port := u.Port()
	n := 80
	if u.Scheme == "https" {
		n = 443
	}
	if port != "" {
		var err error
		if n, err = strconv.Atoi(port); err != nil {
			return false
		}
	}
	if r.Port != 0 && r.Port != n {
		return false
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case r.Host == "*":
		return host != ""
	case strings.HasPrefix(r.Host, "*."):
		return strings.HasSuffix(host, r.Host[1:]) && len(host) > len(r.Host)-1
	}
	return host == r.Host
}

// List is a route's allow-list; the zero List allows nothing.
type List []Rule

// ParseList parses every pattern, reporting the first bad one.
func ParseList(patterns []string) (List, error) {
	l := make(List, 0, len(patterns))
	for _, p := range patterns {
		r, err := Parse(p)
		if err != nil {
			return nil, err
		}
		l = append(l, r)
	}
	return l, nil
}

// Allows reports whether any rule lets a handler call u.
func (l List) Allows(u *url.URL) bool {
	for _, r := range l {
		if r.Allows(u) {
			return true
		}
	}
	return false
}
