package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func (e *env) clusterCmd() *cobra.Command {
	members := e.leaf("members", "list the control plane's nodes, each with its own applied revision and health", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			members, rev, err := c.Members(ctx)
			if err != nil {
				return err
			}
			// Each node asked itself: one that lags, lost its leader or does
			// not answer shows, whichever node this command reached.
			health := map[string]nodeHealth{}
			for _, m := range members {
				health[m.Id] = askNode(ctx, cf, m.GrpcAddr)
			}
			v := map[string]any{"members": members, "applied_revision": rev, "nodes": health}
			return cf.emit(e, v, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tRAFT\tAPI\tROLE\tAPPLIED\tHEALTH")
				for _, m := range members {
					h := health[m.Id]
					applied := "-"
					if h.Answered {
						applied = fmt.Sprint(h.AppliedRevision)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Id, m.RaftAddr, dash(m.GrpcAddr), memberRole(m), applied, h.Health)
				}
				tw.Flush()
				fmt.Fprintf(w, "(%s has applied revision %d)\n", *cf.addr, rev)
			})
		}
	})
	member := func(use, short string, add bool) *cobra.Command {
		return e.leaf(use, short, noArgs, func(fs *flag.FlagSet) runFunc {
			cf := addClientFlags(fs)
			id := fs.String("id", "", "node id (required)")
			var raftAddr, grpcAddr *string
			if add {
				raftAddr = fs.String("raft-addr", "", "the node's Raft address")
				grpcAddr = fs.String("grpc-addr", "", "the node's API address")
			}
			return func(ctx context.Context, args []string) error {
				if *id == "" {
					return usageErr("--id is required")
				}
				c, err := cf.dial()
				if err != nil {
					return err
				}
				defer c.Close()
				var members []*registryv1.Member
				if add {
					members, err = c.Join(ctx, *id, *raftAddr, *grpcAddr)
				} else {
					members, err = c.RemoveMember(ctx, *id)
				}
				if err != nil {
					return err
				}
				return cf.emit(e, map[string]any{"members": members}, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tRAFT\tAPI\tROLE")
					for _, m := range members {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Id, m.RaftAddr, dash(m.GrpcAddr), memberRole(m))
					}
					tw.Flush()
				})
			}
		})
	}
	return group("cluster", "list, add or remove control plane members; save and restore snapshots",
		members, member("add", "add a node as a voter (admin)", true), member("remove", "remove a node (admin)", false), e.snapshotCmd())
}

func memberRole(m *registryv1.Member) string {
	switch {
	case m.Leader:
		return "leader"
	case !m.Voter:
		return "nonvoter"
	}
	return "follower"
}

// nodeHealth is what a node says of itself.
type nodeHealth struct {
	Answered        bool   `json:"answered"`
	AppliedRevision int64  `json:"applied_revision"`
	LastContactMS   int64  `json:"last_contact_ms"`
	Health          string `json:"health"`
}

// askNode asks the node at addr for its applied revision and how long
// ago it heard from its leader, within 2 s.
func askNode(ctx context.Context, cf clientFlags, addr string) nodeHealth {
	if addr == "" {
		return nodeHealth{Health: "no API address"}
	}
	c, err := cf.dialAddr(addr)
	if err != nil {
		return nodeHealth{Health: err.Error()}
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := c.MembersStatus(ctx)
	if err != nil {
		return nodeHealth{Health: "no answer: " + status.Convert(err).Message()}
	}
	h := nodeHealth{Answered: true, AppliedRevision: resp.AppliedRevision, LastContactMS: resp.LastContactMs, Health: "ok"}
	switch {
	case resp.LastContactMs < 0:
		h.Health = "no leader known"
	case resp.LastContactMs > 5000:
		h.Health = fmt.Sprintf("no word from the leader for %s", (time.Duration(resp.LastContactMs) * time.Millisecond).Round(time.Second))
	}
	return h
}
