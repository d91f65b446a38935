// Package deploy holds how operators run Nanoedge: a container image
// (docker/), systemd units (systemd/) and Kubernetes manifests
// (kubernetes/, a kustomize base and overlays). Its test checks they agree with each other and with the
// binary's flags.
package deploy
