// Package handlers is what the external benchmark serves, the very same
// code natively (bench/native) and as a module (bench/guest): a greeting,
// a JSON API answer, a 64 KiB response, a 1 MiB upload, a sleep, a call
// to a slow backend, and a stream.
package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/nanoedge/nanoedge/examples/hello/greet"
)

// Mux routes the benchmark's paths: /hello, /json, /64k, /upload,
// /sleep, /backend, /slow (the backend /backend calls) and /stream.
func Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bench handlers: /hello /json /64k /upload /sleep /backend /slow /stream\n")
	})
	mux.HandleFunc("/sleep", Sleep)
	mux.HandleFunc("/backend", Backend)
	mux.HandleFunc("/slow", Sleep)
	mux.HandleFunc("/stream", Stream)
	mux.HandleFunc("/hello", greet.Handler)
	mux.HandleFunc("/json", JSON)
	mux.HandleFunc("/64k", Big)
	mux.HandleFunc("/upload", Upload)
	return mux
}

// echoed is what JSON answers: the request as an API would log it.
type echoed struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   map[string]string `json:"query"`
	Headers map[string]string `json:"headers"`
	Length  int64             `json:"length"`
	Keys    []string          `json:"keys"`
}

// JSON echoes the request as a JSON document of about 350 bytes, as an
// API handler that decodes, allocates and encodes does.
func JSON(w http.ResponseWriter, r *http.Request) {
	e := echoed{Method: r.Method, Path: r.URL.Path, Query: map[string]string{}, Headers: map[string]string{}, Length: r.ContentLength}
	for k, v := range r.URL.Query() {
		e.Query[k] = v[0]
	}
	for k, v := range r.Header {
		e.Headers[k] = v[0]
		e.Keys = append(e.Keys, k)
	}
	sort.Strings(e.Keys)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(e)
}

var big = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

// Big answers 64 KiB.
func Big(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(big)
}

// Upload reads the request body and answers its length: what moving the
// body costs, not what hashing it in WebAssembly does.
func Upload(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, strconv.FormatInt(n, 10)+"\n")
}

// Wait is how long Sleep sleeps: what a backend takes to answer.
const Wait = 100 * time.Millisecond

// Sleep answers after Wait, as a slow backend does.
func Sleep(w http.ResponseWriter, r *http.Request) {
	time.Sleep(Wait)
	io.WriteString(w, "ok\n")
}

// Backend calls the backend at BACKEND (its /slow) and answers what it
// said: a handler whose time is spent waiting on the network.
func Backend(w http.ResponseWriter, r *http.Request) {
	resp, err := http.Get(os.Getenv("BACKEND") + "/slow")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "text/plain")
	io.Copy(w, resp.Body)
}

// Stream writes a first line, flushes it, and sends a second after
// 50 ms: its time to first byte is the flush's.
func Stream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "first\n")
	w.(http.Flusher).Flush()
	time.Sleep(50 * time.Millisecond)
	io.WriteString(w, "second\n")
}
