package conformance

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// CasesJSON is the table, as the browser runner reads it.
//
//go:embed cases.json
var CasesJSON []byte

// Case is one request and what its response must hold.
type Case struct {
	Name       string            `json:"name"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Headers    map[string]string `json:"headers"`
	BodyBase64 string            `json:"body_base64"`
	Expect     Expect            `json:"expect"`
}

// Expect lists what a response must hold: its status, these headers (all
// values of a header joined with ", ", as browsers show them) and, when
// BodyBase64 is set, exactly this body.
type Expect struct {
	Status     int               `json:"status"`
	Headers    map[string]string `json:"headers"`
	BodyBase64 *string           `json:"body_base64"`
}

// Result is what a host answered.
type Result struct {
	Name    string            `json:"name"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"` // the expected headers' values, joined with ", "
	Body    string            `json:"body_base64"`
}

// Cases returns the table.
func Cases() ([]Case, error) {
	var cs []Case
	if err := json.Unmarshal(CasesJSON, &cs); err != nil {
		return nil, fmt.Errorf("conformance: cases.json: %w", err)
	}
	return cs, nil
}

// Request builds the case's request against base ("http://host:port").
func (c Case) Request(base string) (*http.Request, error) {
	body, err := base64.StdEncoding.DecodeString(c.BodyBase64)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(c.Method, base+c.Path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// Record turns an HTTP response into a Result.
func (c Case) Record(resp *http.Response, body []byte) Result {
	r := Result{Name: c.Name, Status: resp.StatusCode, Headers: map[string]string{}, Body: base64.StdEncoding.EncodeToString(body)}
	for k := range c.Expect.Headers {
		r.Headers[k] = strings.Join(resp.Header.Values(k), ", ")
	}
	return r
}

// Check says how r differs from what the case expects, or returns nil.
func (c Case) Check(r Result) error {
	var diffs []string
	if r.Status != c.Expect.Status {
		diffs = append(diffs, fmt.Sprintf("status %d, want %d", r.Status, c.Expect.Status))
	}
	for k, want := range c.Expect.Headers {
		if got := r.Headers[k]; got != want {
			diffs = append(diffs, fmt.Sprintf("%s: %q, want %q", k, got, want))
		}
	}
	if c.Expect.BodyBase64 != nil && r.Body != *c.Expect.BodyBase64 {
		diffs = append(diffs, fmt.Sprintf("body %q, want %q", clip(r.Body), clip(*c.Expect.BodyBase64)))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s: %s", c.Name, strings.Join(diffs, "; "))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
