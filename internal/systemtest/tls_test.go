package systemtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/internal/tlsconfig"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestTLSAndMutualTLS runs the whole path (upload, route, worker serving)
// over TLS and over mutual TLS, and checks what is refused.
func TestTLSAndMutualTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	for _, mutual := range []bool{false, true} {
		name := map[bool]string{false: "tls", true: "mutual"}[mutual]
		t.Run(name, func(t *testing.T) {
			clientCA := ""
			if mutual {
				clientCA = pki.CA
			}
			serverTLS, err := tlsconfig.Server(pki.ServerCert, pki.ServerKey, clientCA)
			if err != nil {
				t.Fatal(err)
			}
			clientTLS, err := tlsconfig.Client(pki.CA, pki.ClientCert, pki.ClientKey)
			if err != nil {
				t.Fatal(err)
			}
			cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
			cfg.TLS = serverTLS
			cfg.MetricsAddr = "127.0.0.1:0"
			env := testenv.StartTLS(t, cfg, clientTLS)
			wcfg := env.WorkerConfig()
			wcfg.MetricsAddr = "127.0.0.1:0"
			w := testenv.StartWorker(t, wcfg)
			env.Upload(t, "hello", guests.Hello)
			if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/", Module: "hello"}); err != nil {
				t.Fatal(err)
			}
			waitServed(t, w.URL()+"/tls", func(r response) bool { return r.status == 200 && strings.HasPrefix(r.body, "Hello") })

			// Each certificate's expiry is a metric, for the alert that
			// fires weeks before it lapses.
			for _, c := range []struct {
				url, use string
				cfg      *tls.Config
			}{{env.CP.MetricsURL(), "api", serverTLS}, {w.MetricsURL(), "client", clientTLS}} {
				leaf, err := x509.ParseCertificate(c.cfg.Certificates[0].Certificate[0])
				if err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf(`nanoedge_tls_certificate_expiry_timestamp_seconds{use=%q} %s`, c.use, strconv.FormatFloat(float64(leaf.NotAfter.Unix()), 'g', -1, 64))
				if body := get(t, c.url).body; !strings.Contains(body, want) {
					t.Fatalf("%s lacks %q", c.url, want)
				}
			}

			// Each call gets its own deadline: the client retries
			// Unavailable answers (a few seconds in all) before giving up.
			callCtx := func() context.Context {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				t.Cleanup(cancel)
				return ctx
			}
			plain := testenv.NewClient(t, env.CP.Addr(), env.AdminToken)
			if _, _, err := plain.ListRoutes(callCtx()); status.Code(err) != codes.Unavailable {
				t.Fatalf("plaintext client: exp Unavailable, got %v", err)
			}
			untrusting := testenv.NewClient(t, env.CP.Addr(), env.AdminToken, client.WithTLS(&tls.Config{}))
			if _, _, err := untrusting.ListRoutes(callCtx()); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("client without the CA: exp a certificate error, got %v", err)
			}
			noCert, _ := tlsconfig.Client(pki.CA, "", "")
			_, _, err = testenv.NewClient(t, env.CP.Addr(), env.AdminToken, client.WithTLS(noCert)).ListRoutes(callCtx())
			if mutual && status.Code(err) != codes.Unavailable {
				t.Fatalf("mutual TLS without a client certificate: exp Unavailable, got %v", err)
			}
			if !mutual && err != nil {
				t.Fatalf("TLS without a client certificate: %v", err)
			}
		})
	}
}
