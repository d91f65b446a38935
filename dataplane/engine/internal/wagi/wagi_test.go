package wagi

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/nanoedge/nanoedge/sdk/abi"
)

func TestEnv(t *testing.T) {
	env := Env(&abi.Request{
		Method: "POST", URI: "/api/caf%C3%A9?x=1&y=2", Host: "shop.example:8443", RemoteAddr: "10.1.2.3:5555",
		Header: http.Header{"Content-Type": {"text/plain"}, "X-Custom": {"a", "b"}, "Proxy": {"evil:1"}, "Content-Length": {"3"}},
		Body:   []byte("abc"),
	})
	for _, want := range []string{
		"REQUEST_METHOD=POST", "PATH_INFO=/api/café", "X_RAW_PATH_INFO=/api/caf%C3%A9", "QUERY_STRING=x=1&y=2",
		"REQUEST_URI=/api/caf%C3%A9?x=1&y=2", "SERVER_NAME=shop.example", "SERVER_PORT=8443", "REMOTE_ADDR=10.1.2.3",
		"CONTENT_LENGTH=3", "CONTENT_TYPE=text/plain", "HTTP_X_CUSTOM=a, b", "GATEWAY_INTERFACE=CGI/1.1", "SCRIPT_NAME=",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("missing %q in %q", want, env)
		}
	}
	for _, v := range env {
		if v == "HTTP_PROXY=evil:1" || v == "HTTP_CONTENT_LENGTH=3" {
			t.Errorf("%q must not be passed", v)
		}
	}
	if !slices.IsSorted(env) {
		t.Error("env is not sorted")
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name   string
		out    string
		status int
		header http.Header
		body   string
		err    bool
	}{
		{"plain", "Content-Type: text/plain\n\nhello", 200, http.Header{"Content-Type": {"text/plain"}}, "hello", false},
		{"crlf and status", "Status: 404 Not Found\r\ncontent-type: text/html\r\n\r\n<p>no</p>", 404, http.Header{"Content-Type": {"text/html"}}, "<p>no</p>", false},
		{"redirect", "Location: /elsewhere\n\n", 302, http.Header{"Location": {"/elsewhere"}}, "", false},
		{"repeated headers", "X-A: 1\nX-A: 2\n\n", 200, http.Header{"X-A": {"1", "2"}}, "", false},
		{"body keeps blank lines", "A: b\n\nline\n\nmore", 200, http.Header{"A": {"b"}}, "line\n\nmore", false},
		{"no header section", "just text", 0, nil, "", true},
		{"bad status", "Status: ok\n\n", 0, nil, "", true},
		{"header without colon", "Content-Type text/plain\n\n", 0, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseResponse([]byte(tt.out))
			if tt.err {
				if !errors.Is(err, ErrBadResponse) {
					t.Fatalf("exp ErrBadResponse, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || string(r.Body) != tt.body || len(r.Header) != len(tt.header) {
				t.Fatalf("got %d %v %q", r.Status, r.Header, r.Body)
			}
			for k, vs := range tt.header {
				if !slices.Equal(r.Header[k], vs) {
					t.Fatalf("header %s: %q, want %q", k, r.Header[k], vs)
				}
			}
		})
	}
}
