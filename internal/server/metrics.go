package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// sideServer serves operator endpoints (metrics, the dashboard) on an
// address of their own, apart from user traffic and the gRPC API.
type sideServer struct {
	srv *http.Server
	ln  net.Listener
}

// startSide serves h on addr; an empty addr serves nothing.
func startSide(what, addr string, h http.Handler) (*sideServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: %s listen: %w", what, err)
	}
	s := &sideServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go s.srv.Serve(ln)
	return s, nil
}

func startMetrics(addr string, h http.Handler) (*sideServer, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return startSide("metrics", addr, mux)
}

// URL is the server's base URL followed by path, or "" when it is off.
func (s *sideServer) URL(path string) string {
	if s == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String() + path
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
