// Command echo returns the request body unchanged and describes the rest of
// the request in X-Echo-* headers. Query parameters shape the response:
// status=NNN sets the status, set=Name:Value adds a response header (repeat
// for several values), env=NAME answers the environment variable NAME in
// X-Echo-Env-NAME (repeat; "-" when unset), flag=NAME answers the feature
// flag NAME in X-Echo-Flag-NAME ("on", "off", "-" when none), and
// kv=STORE/KEY answers KEY of the edge data store STORE in X-Echo-Kv
// (repeat; "<missing>" without the key, "<no store>" when unreadable);
// kvbench=STORE/KEY&n=N reads the key N times and answers the mean
// nanoseconds a read took in X-Echo-Kv-Ns.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nanoedge/nanoedge/sdk/guest"
	"github.com/nanoedge/nanoedge/sdk/guest/kv"
)

func init() { guest.HandleFunc(echo) }

func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("X-Echo-Method", r.Method)
	h.Set("X-Echo-Uri", r.RequestURI)
	h.Set("X-Echo-Path", r.URL.Path)
	h.Set("X-Echo-Query", r.URL.RawQuery)
	h.Set("X-Echo-Host", r.Host)
	sum := sha256.Sum256(body)
	h.Set("X-Echo-Body-Sha256", hex.EncodeToString(sum[:]))
	for name, values := range r.Header {
		h["X-Echo-H-"+name] = append([]string(nil), values...)
	}
	for _, kv := range r.URL.Query()["set"] {
		if k, v, ok := strings.Cut(kv, ":"); ok {
			h.Add(k, v)
		}
	}
	for _, name := range r.URL.Query()["env"] {
		v, ok := os.LookupEnv(name)
		if !ok {
			v = "-"
		}
		h.Set("X-Echo-Env-"+name, v)
	}
	for _, name := range r.URL.Query()["flag"] {
		v := "-"
		if on, ok := guest.LookupFlag(name); ok {
			v = map[bool]string{true: "on", false: "off"}[on]
		}
		h.Set("X-Echo-Flag-"+name, v)
	}
	for _, sk := range r.URL.Query()["kv"] {
		store, key, _ := strings.Cut(sk, "/")
		st, err := kv.Open(store)
		switch {
		case err != nil:
			h.Add("X-Echo-Kv", "<no store>")
		default:
			v, ok := st.Get(key)
			if !ok {
				h.Add("X-Echo-Kv", "<missing>")
			} else {
				h.Add("X-Echo-Kv", string(v))
			}
		}
	}
	if sk := r.URL.Query().Get("kvbench"); sk != "" {
		store, key, _ := strings.Cut(sk, "/")
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if st, err := kv.Open(store); err == nil && n > 0 {
			start := time.Now()
			for range n {
				st.Get(key)
			}
			h.Set("X-Echo-Kv-Ns", strconv.FormatFloat(float64(time.Since(start).Nanoseconds())/float64(n), 'f', 1, 64))
		}
	}
	status := http.StatusOK
	if s := r.URL.Query().Get("status"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	h.Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	w.Write(body)
}

func main() {}
