package command

import (
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCommand(o *options) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version and, when the cluster answers, the operator's from the FluxReport",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			printf(w, "client: %s %s/%s\n", version, runtime.GOOS, runtime.GOARCH)
			if clientOnly {
				return nil
			}
			ctx, cancel := o.context()
			defer cancel()
			r, err := o.report(ctx)
			if err != nil {
				printf(w, "operator: unknown (%s)\n", explain(err))
				return nil
			}
			if op := r.Spec.Operator; op != nil {
				printf(w, "operator: %s %s (%s)\n", op.Version, op.Platform, op.APIVersion)
			}
			if d := r.Spec.Distribution; d.Version != "" {
				printf(w, "flux: %s (%s)\n", d.Version, orDash(d.ManagedBy))
			}
			if c := r.Spec.Cluster; c != nil {
				printf(w, "kubernetes: %s %s\n", c.ServerVersion, c.Platform)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "Print the CLI's version only, without asking the cluster.")
	return cmd
}
