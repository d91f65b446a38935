package client

import (
	"context"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// Report sends a worker's counters to the control plane (worker role).
func (c *Client) Report(ctx context.Context, r *registryv1.WorkerReport) error {
	_, err := c.ts.Report(ctx, &registryv1.ReportRequest{Report: r})
	return err
}

// Workers lists the workers that reported recently, with their counters.
func (c *Client) Workers(ctx context.Context) ([]*registryv1.WorkerStatus, error) {
	var all []*registryv1.WorkerStatus
	for token := ""; ; {
		resp, err := c.ts.ListWorkers(ctx, &registryv1.ListWorkersRequest{PageToken: token})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.Workers...)
		if token = resp.NextPageToken; token == "" {
			return all, nil
		}
	}
}

// StartRollout moves a route to a module step by step, rolling back by
// itself when the new version's error rate or p99 passes the limits.
func (c *Client) StartRollout(ctx context.Context, req *registryv1.StartRolloutRequest) (*registryv1.Rollout, error) {
	resp, err := c.ts.StartRollout(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.Rollout, nil
}

// Rollouts lists rollouts, finished ones included.
func (c *Client) Rollouts(ctx context.Context) ([]*registryv1.Rollout, error) {
	resp, err := c.ts.ListRollouts(ctx, &registryv1.ListRolloutsRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Rollouts, nil
}

// AbortRollout returns a route to the version it had before its rollout.
func (c *Client) AbortRollout(ctx context.Context, host, pathPrefix string) (*registryv1.Rollout, error) {
	resp, err := c.ts.AbortRollout(ctx, &registryv1.AbortRolloutRequest{Host: host, PathPrefix: pathPrefix})
	if err != nil {
		return nil, err
	}
	return resp.Rollout, nil
}

// PauseRollout holds a rollout at its current step.
func (c *Client) PauseRollout(ctx context.Context, host, pathPrefix string) (*registryv1.Rollout, error) {
	resp, err := c.ts.PauseRollout(ctx, &registryv1.PauseRolloutRequest{Host: host, PathPrefix: pathPrefix})
	if err != nil {
		return nil, err
	}
	return resp.Rollout, nil
}

// ResumeRollout continues a paused rollout; its step's interval starts over.
func (c *Client) ResumeRollout(ctx context.Context, host, pathPrefix string) (*registryv1.Rollout, error) {
	resp, err := c.ts.ResumeRollout(ctx, &registryv1.ResumeRolloutRequest{Host: host, PathPrefix: pathPrefix})
	if err != nil {
		return nil, err
	}
	return resp.Rollout, nil
}

// RollbackRoute restores a route as it was before its last change.
func (c *Client) RollbackRoute(ctx context.Context, host, pathPrefix string) (*registryv1.Route, int64, error) {
	resp, err := c.rs.RollbackRoute(ctx, &registryv1.RollbackRouteRequest{Host: host, PathPrefix: pathPrefix})
	if err != nil {
		return nil, 0, err
	}
	return resp.Route, resp.Revision, nil
}

// Traffic returns what each route version served across the fleet over the
// last window (1s to 60s; 0 means 10s): rates, error rate and p99.
func (c *Client) Traffic(ctx context.Context, window time.Duration) ([]*registryv1.VersionTraffic, error) {
	return c.TrafficHistory(ctx, window, 0, 0)
}

// TrafficHistory is Traffic with each version's history over span (at
// most 15 minutes), as samples step apart (at most 300), oldest first:
// what charts draw. The leader keeps what it heard since it led.
func (c *Client) TrafficHistory(ctx context.Context, window, span, step time.Duration) ([]*registryv1.VersionTraffic, error) {
	resp, err := c.ts.GetTraffic(ctx, &registryv1.GetTrafficRequest{
		WindowSeconds: int64(window / time.Second), HistorySeconds: int64(span / time.Second), StepSeconds: int64(step / time.Second),
	})
	if err != nil {
		return nil, err
	}
	return resp.Versions, nil
}
