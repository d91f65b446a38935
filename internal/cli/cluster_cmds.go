package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func runCluster(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "Usage: nanoedge cluster members|add|remove|snapshot [flags]")
		return errUsage
	}
	sub, args := args[0], args[1:]
	if sub == "snapshot" {
		return runSnapshot(ctx, e, args)
	}
	fs := e.flags("cluster "+sub, "[flags]")
	cf := addClientFlags(fs)
	var id, raftAddr, grpcAddr *string
	switch sub {
	case "members":
	case "add":
		id = fs.String("id", "", "node id")
		raftAddr = fs.String("raft-addr", "", "the node's Raft address")
		grpcAddr = fs.String("grpc-addr", "", "the node's API address")
	case "remove":
		id = fs.String("id", "", "node id")
	default:
		fmt.Fprintf(e.stderr, "nanoedge cluster: unknown subcommand %q; want members, add, remove or snapshot\n", sub)
		return errUsage
	}
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var members []*registryv1.Member
	var rev int64
	switch sub {
	case "members":
		members, rev, err = c.Members(ctx)
	case "add":
		members, err = c.Join(ctx, *id, *raftAddr, *grpcAddr)
	case "remove":
		members, err = c.RemoveMember(ctx, *id)
	}
	if err != nil {
		return err
	}
	v := map[string]any{"members": members}
	// Each node's own applied revision, asked of it: one that lags or
	// does not answer shows, whichever node this command reached.
	applied := map[string]any{}
	if sub == "members" {
		v["applied_revision"] = rev
		for _, m := range members {
			applied[m.Id] = nodeRevision(ctx, cf, m.GrpcAddr)
		}
		v["applied_by_node"] = applied
	}
	return cf.emit(e, v, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRAFT\tAPI\tROLE\tAPPLIED")
		for _, m := range members {
			role := "follower"
			switch {
			case m.Leader:
				role = "leader"
			case !m.Voter:
				role = "nonvoter"
			}
			a := "-"
			if r, ok := applied[m.Id]; ok {
				a = fmt.Sprint(r)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Id, m.RaftAddr, dash(m.GrpcAddr), role, a)
		}
		tw.Flush()
		if sub == "members" {
			fmt.Fprintf(w, "(%s has applied revision %d)\n", *cf.addr, rev)
		}
	})
}

// nodeRevision asks the node at addr for its own applied revision: a
// number, or why it did not answer within 2 s.
func nodeRevision(ctx context.Context, cf clientFlags, addr string) any {
	if addr == "" {
		return "no API address"
	}
	c, err := cf.dialAddr(addr)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, rev, err := c.Members(ctx)
	if err != nil {
		return "no answer: " + status.Convert(err).Message()
	}
	return rev
}
