package server

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/prometheus/client_golang/prometheus"
)

var descCertExpiry = prometheus.NewDesc("nanoedge_tls_certificate_expiry_timestamp_seconds",
	"When the certificate this process presents expires (Unix time), by use: api, raft, admin or client.", []string{"use"}, nil)

// certExpiry reports when each configured certificate expires, so an
// alert can fire weeks before a listener stops accepting peers.
type certExpiry map[string]*tls.Config

func (c certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- descCertExpiry }

func (c certExpiry) Collect(ch chan<- prometheus.Metric) {
	for use, cfg := range c {
		if cfg == nil || len(cfg.Certificates) == 0 || len(cfg.Certificates[0].Certificate) == 0 {
			continue
		}
		leaf := cfg.Certificates[0].Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(cfg.Certificates[0].Certificate[0]); err != nil {
				continue
			}
		}
		ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()), use)
	}
}
