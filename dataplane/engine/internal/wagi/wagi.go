package wagi

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/nanoedge/nanoedge/sdk/abi"
)

// ErrBadResponse: the module's stdout is not a CGI response.
var ErrBadResponse = errors.New("wagi: malformed CGI response")

// maxHeaderBytes bounds the header section of a CGI response.
const maxHeaderBytes = 64 << 10

// Env returns the CGI/1.1 environment (RFC 3875) for a request, sorted.
// The whole path is PATH_INFO (SCRIPT_NAME is empty); X_RAW_PATH_INFO
// keeps it escaped. Each request header becomes HTTP_<NAME>, values
// joined with ", ", except Proxy (httpoxy) and the two CONTENT_ ones.
func Env(r *abi.Request) []string {
	u, err := url.ParseRequestURI(r.URI)
	if err != nil {
		u = &url.URL{Path: r.URI}
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
	}
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	env := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"SERVER_SOFTWARE":   "nanoedge",
		"REQUEST_METHOD":    r.Method,
		"REQUEST_URI":       r.URI,
		"SCRIPT_NAME":       "",
		"PATH_INFO":         u.Path,
		"X_RAW_PATH_INFO":   u.EscapedPath(),
		"QUERY_STRING":      u.RawQuery,
		"SERVER_NAME":       host,
		"SERVER_PORT":       port,
		"REMOTE_ADDR":       remote,
		"REMOTE_HOST":       remote,
	}
	if len(r.Body) > 0 {
		env["CONTENT_LENGTH"] = strconv.Itoa(len(r.Body))
	}
	for name, values := range r.Header {
		switch k := http.CanonicalHeaderKey(name); k {
		case "Content-Type":
			env["CONTENT_TYPE"] = strings.Join(values, ", ")
		case "Content-Length", "Proxy":
		default:
			env["HTTP_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))] = strings.Join(values, ", ")
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// HeaderEnd locates the blank line that ends a CGI response's header
// section: the header is stdout[:end], the body starts at end+sep; end
// is -1 while there is none.
func HeaderEnd(stdout []byte) (end, sep int) {
	end, sep = bytes.Index(stdout, []byte("\r\n\r\n")), 4
	if i := bytes.Index(stdout, []byte("\n\n")); i >= 0 && (end < 0 || i < end) {
		end, sep = i, 2
	}
	return end, sep
}

// MaxHeaderBytes bounds a CGI response's header section.
const MaxHeaderBytes = maxHeaderBytes

// ParseResponse reads a CGI response: header lines, a blank line, the
// body. "Status: 404 Not Found" sets the status; a Location without a
// Status is a 302; otherwise the status is 200.
func ParseResponse(stdout []byte) (*abi.Response, error) {
	end, sep := HeaderEnd(stdout)
	if end < 0 {
		return nil, fmt.Errorf("%w: no blank line after the headers in %d bytes of output", ErrBadResponse, len(stdout))
	}
	if end > maxHeaderBytes {
		return nil, fmt.Errorf("%w: headers longer than %d bytes", ErrBadResponse, maxHeaderBytes)
	}
	resp := &abi.Response{Status: http.StatusOK, Header: http.Header{}, Body: stdout[end+sep:]}
	hasStatus := false
	for _, line := range strings.Split(strings.ReplaceAll(string(stdout[:end]), "\r\n", "\n"), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: header line %q", ErrBadResponse, line)
		}
		name, value = textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value)
		if name == "Status" {
			code, _, _ := strings.Cut(value, " ")
			n, err := strconv.Atoi(code)
			if err != nil || n < 100 || n > 999 {
				return nil, fmt.Errorf("%w: status %q", ErrBadResponse, value)
			}
			resp.Status, hasStatus = n, true
			continue
		}
		resp.Header.Add(name, value)
	}
	if !hasStatus && resp.Header.Get("Location") != "" {
		resp.Status = http.StatusFound
	}
	return resp, nil
}
