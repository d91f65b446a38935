// Command shortener is a link shortener at the edge: it redirects
// /go/NAME to the URL the store "links" holds for NAME, reading it from
// the worker's memory. With the flag "track-visits" on it also counts a
// visitor's redirects in a cookie signed with the secret COOKIE_KEY, so a
// client cannot forge the count; BASE_PATH (a variable) is where it is
// routed.
//
//	nanoedge push ./examples/shortener
//	nanoedge route set --path /go/ --module shortener
//	nanoedge stores import links examples/shortener/links.csv
//	nanoedge stores link links shortener
//	nanoedge vars set shortener BASE_PATH=/go/
//	head -c 32 /dev/urandom | base64 | nanoedge secrets set shortener COOKIE_KEY
//	nanoedge flags set track-visits on
//	curl -i localhost:8080/go/docs
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/nanoedge/nanoedge/sdk/guest"
	"github.com/nanoedge/nanoedge/sdk/guest/kv"
)

func init() { guest.HandleFunc(redirect) }

func redirect(w http.ResponseWriter, r *http.Request) {
	links, err := kv.Open("links")
	if err != nil {
		http.Error(w, "no link table: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	base := os.Getenv("BASE_PATH")
	if base == "" {
		base = "/"
	}
	name := strings.TrimPrefix(r.URL.Path, base)
	to, ok := links.Get(name)
	if !ok {
		http.Error(w, fmt.Sprintf("no link named %q", name), http.StatusNotFound)
		return
	}
	if guest.Flag("track-visits") {
		if key := os.Getenv("COOKIE_KEY"); key != "" {
			n := visits(r, key) + 1
			http.SetCookie(w, &http.Cookie{Name: "visits", Value: sign(key, n), Path: base, HttpOnly: true, SameSite: http.SameSiteLaxMode})
			w.Header().Set("X-Visits", strconv.Itoa(n))
		}
	}
	http.Redirect(w, r, string(to), http.StatusFound)
}

// sign is "n.MAC": the count and its HMAC-SHA256 under key.
func sign(key string, n int) string {
	m := hmac.New(sha256.New, []byte(key))
	fmt.Fprint(m, n)
	return strconv.Itoa(n) + "." + hex.EncodeToString(m.Sum(nil))
}

// visits is the count a request's cookie carries, 0 unless its MAC holds.
func visits(r *http.Request, key string) int {
	c, err := r.Cookie("visits")
	if err != nil {
		return 0
	}
	count, _, _ := strings.Cut(c.Value, ".")
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 || !hmac.Equal([]byte(sign(key, n)), []byte(c.Value)) {
		return 0
	}
	return n
}

func main() {}
