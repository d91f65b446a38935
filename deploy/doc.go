// Package deploy holds how operators run Nanoedge: a container image
// (docker/), systemd units (systemd/), Kubernetes manifests (kubernetes/,
// a kustomize base and overlays), a Grafana dashboard (grafana/) and
// Prometheus alerts (prometheus/). Its tests check they agree with each
// other, with the binary's flags and with the metrics it serves.
package deploy
