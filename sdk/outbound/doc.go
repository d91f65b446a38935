// Package outbound parses the origins a route's handler may call over
// HTTP ("https://api.example.com", "https://*.example.com:8443",
// "http://10.0.0.7:*") and matches request URLs against them. The
// registry validates routes with it, workers enforce it, and the CLI
// checks flags with it before sending them.
package outbound
