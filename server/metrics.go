package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// sideServer serves operator endpoints (metrics, the dashboard) on an
// address of their own, apart from user traffic and the gRPC API.
type sideServer struct {
	srv    *http.Server
	ln     net.Listener
	scheme string
}

// startSide serves h on addr, over TLS if tlsCfg is set; an empty addr
// serves nothing.
func startSide(what, addr string, tlsCfg *tls.Config, h http.Handler) (*sideServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: %s listen: %w", what, err)
	}
	s := &sideServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln: ln, scheme: "http"}
	if tlsCfg != nil {
		s.ln, s.scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	go s.srv.Serve(s.ln)
	return s, nil
}

// startMetrics serves metrics at /metrics and readiness at /healthz (200,
// or 503 with the reason): probes that cannot speak TLS to the API, like
// Kubernetes' gRPC probes, use it.
func startMetrics(addr string, tlsCfg *tls.Config, h http.Handler, ready func() error) (*sideServer, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return startSide("metrics", addr, tlsCfg, mux)
}

// URL is the server's base URL followed by path, or "" when it is off.
func (s *sideServer) URL(path string) string {
	if s == nil {
		return ""
	}
	return s.scheme + "://" + s.ln.Addr().String() + path
}

func (s *sideServer) Close() error {
	if s == nil {
		return nil
	}
	if err := s.srv.Close(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
