package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/http"
	"reflect"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	tests := []Request{
		{},
		{Method: "GET", URI: "/", Host: "h", RemoteAddr: "1.2.3.4:5", Header: http.Header{}},
		{Method: "POST", URI: "/a?b=c", Header: http.Header{"A": {"1", "2"}, "B": {""}}, Body: bytes.Repeat([]byte{0, 255}, 1000)},
	}
	for _, r := range tests {
		enc := AppendRequest(nil, &r)
		if len(enc) != RequestSize(&r) {
			t.Fatalf("RequestSize %d, encoding %d", RequestSize(&r), len(enc))
		}
		got, err := DecodeRequest(enc)
		if err != nil {
			t.Fatal(err)
		}
		if got.Method != r.Method || got.URI != r.URI || !bytes.Equal(got.Body, r.Body) || len(got.Header) != len(r.Header) {
			t.Fatalf("round trip: exp %+v, got %+v", r, got)
		}
		for k, vs := range r.Header {
			if !reflect.DeepEqual(got.Header[k], vs) {
				t.Fatalf("header %s: exp %q, got %q", k, vs, got.Header[k])
			}
		}
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	valid := AppendResponse(nil, &Response{Status: 200, Header: http.Header{"A": {"b"}}, Body: []byte("x")})
	tests := map[string][]byte{
		"empty":      nil,
		"truncated":  valid[:len(valid)-1],
		"trailing":   append(append([]byte(nil), valid...), 0),
		"status 42":  AppendResponse(nil, &Response{Status: 42}),
		"huge count": {200, 0, 0, 0, 0xff, 0xff, 0xff, 0xff},
		"huge field": {200, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f},
	}
	for name, b := range tests {
		if _, err := DecodeResponse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: exp ErrMalformed, got %v", name, err)
		}
	}
}

// FuzzDecodeRequest: the decoder never panics, never over-allocates, and
// whatever it accepts re-encodes to the same length.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(AppendRequest(nil, &Request{Method: "GET", URI: "/x", Header: http.Header{"A": {"1"}}, Body: []byte("b")}))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if n := RequestSize(&r); n != len(b) {
			t.Fatalf("accepted %d bytes that re-encode to %d", len(b), n)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add(AppendResponse(nil, &Response{Status: 404, Header: http.Header{"A": {"1", "2"}}, Body: []byte("nope")}))
	f.Add([]byte{200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err == nil && (r.Status < 100 || r.Status > 999) {
			t.Fatalf("accepted status %d", r.Status)
		}
	})
}

// TestDecodedHeaderIsIndependent: decoded strings share one allocation and
// header values one backing array; neither may leak between fields, and
// appending to one name's values must not overwrite another's.
// TestDecodeHeaderOrders: a name's pairs may come together, as
// AppendRequest writes them, or apart; either way its values keep their
// order and every name its own.
func TestDecodeHeaderOrders(t *testing.T) {
	tests := []struct {
		name  string
		pairs [][2]string
		want  http.Header
	}{
		{"none", nil, http.Header{}},
		{"one", [][2]string{{"A", "1"}}, http.Header{"A": {"1"}}},
		{"together", [][2]string{{"A", "1"}, {"A", "2"}, {"B", "3"}}, http.Header{"A": {"1", "2"}, "B": {"3"}}},
		{"apart", [][2]string{{"A", "1"}, {"B", "2"}, {"A", "3"}}, http.Header{"A": {"1", "3"}, "B": {"2"}}},
		{"apart, last twice", [][2]string{{"A", "1"}, {"B", "2"}, {"B", "3"}, {"A", "4"}, {"B", "5"}}, http.Header{"A": {"1", "4"}, "B": {"2", "3", "5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := binary.LittleEndian.AppendUint32([]byte{0xc8, 0, 0, 0}, uint32(len(tt.pairs))) // status 200
			for _, p := range tt.pairs {
				b = appendString(appendString(b, p[0]), p[1])
			}
			resp, err := DecodeResponse(appendBytes(b, nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(resp.Header, tt.want) {
				t.Fatalf("exp %q, got %q", tt.want, resp.Header)
			}
			for k := range resp.Header { // a value appended to one name must not show in another's
				resp.Header[k] = append(resp.Header[k], "appended")
			}
			for k, vs := range tt.want {
				if got := resp.Header[k]; !reflect.DeepEqual(got, append(vs[:len(vs):len(vs)], "appended")) {
					t.Fatalf("%s: exp %q and the appended value, got %q", k, vs, got)
				}
			}
		})
	}
}

func TestDecodedHeaderIsIndependent(t *testing.T) {
	enc := AppendRequest(nil, &Request{Method: "GET", URI: "/u", Header: http.Header{"A": {"1", "2"}, "B": {"3"}, "C": {"4"}}, Body: []byte("body")})
	r, err := DecodeRequest(enc)
	if err != nil {
		t.Fatal(err)
	}
	r.Header["B"] = append(r.Header["B"], "x")
	r.Header["A"] = append(r.Header["A"], "y")
	want := http.Header{"A": {"1", "2", "y"}, "B": {"3", "x"}, "C": {"4"}}
	if !reflect.DeepEqual(r.Header, want) {
		t.Fatalf("exp %q, got %q", want, r.Header)
	}
	clear(enc) // strings must not alias the input
	if r.Method != "GET" || r.URI != "/u" || r.Header.Get("C") != "4" {
		t.Fatalf("decoded strings changed with the input: %+v", r)
	}
	enc = AppendRequest(nil, &Request{Method: "GET", URI: "/u", Host: "h", Header: http.Header{"A": {"1"}, "B": {"2"}, "C": {"3"}, "D": {"4"}}})
	if allocs := testing.AllocsPerRun(100, func() { DecodeRequest(enc) }); allocs > 4 {
		t.Fatalf("decoding a request with four header fields took %v allocations", allocs)
	}
}
