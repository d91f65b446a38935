package outbound

import (
	"errors"
	"net/url"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    Rule
	}{
		{"https://api.example.com", Rule{"https", "api.example.com", 443}},
		{"http://api.example.com", Rule{"http", "api.example.com", 80}},
		{"https://*.example.com:8443", Rule{"https", "*.example.com", 8443}},
		{"http://127.0.0.1:*", Rule{"http", "127.0.0.1", 0}},
		{"*://origin.internal:8080", Rule{"*", "origin.internal", 8080}},
		{"https://[2001:db8::1]", Rule{"https", "2001:db8::1", 443}},
		{"https://[::1]:9000", Rule{"https", "::1", 9000}},
		{"https://*", Rule{"https", "*", 443}},
	} {
		got, err := Parse(tc.pattern)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.pattern, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"", "api.example.com", "ftp://example.com", "https://example.com/", "https://example.com/path",
		"https://user@example.com", "https://Example.com", "https://exa mple.com", "https://example.com:0",
		"https://example.com:70000", "https://example.com:x", "*://example.com", "https://*example.com",
		"https://a.*.example.com", "https://::1", "https://-bad.example.com", "https://", "https://example.com?q",
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrPattern) {
			t.Errorf("Parse(%q) = %v, want ErrPattern", bad, err)
		}
	}
}

func TestAllows(t *testing.T) {
	list, err := ParseList([]string{"https://api.example.com", "https://*.cdn.example.net", "http://127.0.0.1:*", "*://both.example.org:8080"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://api.example.com/v1/items?x=1", true},
		{"https://API.example.com/", true},
		{"https://api.example.com:443/", true},
		{"https://api.example.com:8443/", false},
		{"http://api.example.com/", false},
		{"https://api.example.com.evil.test/", false},
		{"https://evilapi.example.com/", false},
		{"https://a.cdn.example.net/x", true},
		{"https://a.b.cdn.example.net/x", true},
		{"https://cdn.example.net/x", false},
		{"https://xcdn.example.net/x", false},
		{"http://127.0.0.1:9/", true},
		{"http://127.0.0.1/", true},
		{"https://127.0.0.1/", false},
		{"http://both.example.org:8080/", true},
		{"https://both.example.org:8080/", true},
		{"https://both.example.org/", false},
		{"ftp://api.example.com/", false},
		{"/relative", false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := list.Allows(u); got != tc.want {
			t.Errorf("Allows(%s) = %v, want %v", tc.url, got, tc.want)
		}
	}
	if (List{}).Allows(&url.URL{Scheme: "https", Host: "api.example.com"}) {
		t.Error("an empty list allows a call")
	}
}
