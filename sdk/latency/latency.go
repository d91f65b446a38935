// Package latency holds the latency buckets workers count requests in and
// the control plane judges rollouts by: one definition for both ends of
// VersionStats.latency_buckets, and for the workers' Prometheus histogram.
package latency

import "sort"

// BoundsMS are the buckets' upper bounds in milliseconds; a last bucket,
// past them, holds everything slower.
var BoundsMS = []int64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}

// Bucket returns the index of the bucket a latency of ms falls in.
func Bucket(ms float64) int {
	return sort.Search(len(BoundsMS), func(i int) bool { return float64(BoundsMS[i]) >= ms })
}

// Seconds returns the bounds in seconds, for Prometheus histograms.
func Seconds() []float64 {
	s := make([]float64, len(BoundsMS))
	for i, b := range BoundsMS {
		s[i] = float64(b) / 1000
	}
	return s
}
