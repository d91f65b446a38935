package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// metricsServer serves /metrics on its own address, apart from user traffic.
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

func startMetrics(addr string, h http.Handler) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	m := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go m.srv.Serve(ln)
	return m, nil
}

// URL is where the metrics are served, or "" when they are off.
func (m *metricsServer) URL() string {
	if m == nil {
		return ""
	}
	return "http://" + m.ln.Addr().String() + "/metrics"
}

func (m *metricsServer) Close() error {
	if m == nil {
		return nil
	}
	if err := m.srv.Close(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
