// Package dashboard serves the fleet dashboard: one HTML page and the JSON
// it polls, built from the control plane's own gRPC API with the caller's
// token, so the page sees exactly what that token may read.
package dashboard
