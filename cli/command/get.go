package command

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	apiv1 "github.com/fluxops/flux-operator/apis/fluxcd/v1"
)

func newGetCommand(o *options) *cobra.Command {
	get := &cobra.Command{
		Use:   "get",
		Short: "Show the FluxInstance, the FluxReport or Flux objects",
		Args:  cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for \"flux-operator get\": use instance, report or resources", args[0])
			}
			return usagef("flux-operator get needs what to show: instance, report or resources")
		},
	}
	get.AddCommand(&cobra.Command{
		Use:   "instance",
		Short: "Show the FluxInstance: its state, revision, components and last reconciliations",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.getInstance(cmd.OutOrStdout()) },
	}, &cobra.Command{
		Use:   "report",
		Short: "Show the FluxReport: distribution, components, reconcilers per kind and sync",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.getReport(cmd.OutOrStdout()) },
	}, newGetResourcesCommand(o))
	return get
}

// age is how long ago t was, as kubectl says it.
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(time.Since(t))
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 3, ' ', 0) }

func readyCondition(conds []metav1.Condition) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == apiv1.ReadyCondition {
			return &conds[i]
		}
	}
	return nil
}

func (o *options) getInstance(w io.Writer) error {
	ctx, cancel := o.context()
	defer cancel()
	fi, err := o.instance(ctx)
	if err != nil {
		return err
	}
	return writeInstance(w, fi, o.painter())
}

// writeInstance writes the FluxInstance, its Ready status coloured by p.
func writeInstance(w io.Writer, fi *apiv1.FluxInstance, p painter) error {
	tw := table(w)
	printf(tw, "Name:\t%s/%s\n", fi.Namespace, fi.Name)
	if c := readyCondition(fi.Status.Conditions); c != nil {
		printf(tw, "Ready:\t%s\t%s\t%s\n", p.paint(conditionColour(string(c.Status)), string(c.Status)), c.Reason, c.Message)
		printf(tw, "Since:\t%s\n", age(c.LastTransitionTime.Time))
	} else {
		printf(tw, "Ready:\t%s\tnot reconciled yet\n", p.paint(yellow, "Unknown"))
	}
	if fi.IsDisabled() {
		printf(tw, "Suspended:\t%s\n", p.paint(cyan, fmt.Sprintf("true (%s: %s)", apiv1.ReconcileAnnotation, apiv1.DisabledValue)))
	}
	printf(tw, "Distribution:\t%s from %s\n", fi.Spec.Distribution.Version, fi.Spec.Distribution.Registry)
	printf(tw, "Revision:\t%s\n", orDash(fi.Status.LastAppliedRevision))
	if fi.Status.LastAttemptedRevision != "" && fi.Status.LastAttemptedRevision != fi.Status.LastAppliedRevision {
		printf(tw, "Attempted:\t%s\n", fi.Status.LastAttemptedRevision)
	}
	if fi.Spec.Sync != nil {
		printf(tw, "Sync:\t%s %s path %s\n", fi.Spec.Sync.Kind, fi.Spec.Sync.URL, orDash(fi.Spec.Sync.Path))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printLine(w, "\nComponents:")
	tw = table(w)
	printLine(tw, "  NAME\tIMAGE")
	for _, c := range fi.Status.Components {
		img := c.Repository + ":" + c.Tag
		if c.Digest != "" {
			img += "@" + c.Digest
		}
		printf(tw, "  %s\t%s\n", c.Name, img)
	}
	if len(fi.Status.Components) == 0 {
		printLine(tw, "  (none installed yet)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printLine(w, "\nLast reconciliations:")
	tw = table(w)
	printLine(tw, "  FLUX\tDIGEST\tOUTCOME\tLAST\tTOOK\tRUNS\tFIRST")
	for _, h := range fi.Status.History {
		printf(tw, "  %s\t%s\t%s\t%s ago\t%s\t%d\t%s ago\n", orDash(h.Metadata["flux"]), short(h.Digest), h.LastReconciledStatus,
			age(h.LastReconciled.Time), h.LastReconciledDuration.Round(time.Millisecond), h.TotalReconciliations, age(h.FirstReconciled.Time))
	}
	if len(fi.Status.History) == 0 {
		printLine(tw, "  (none yet)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if fi.Status.Inventory != nil {
		printf(w, "\nInventory: %d objects\n", len(fi.Status.Inventory.Entries))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short cuts a digest or a commit after its algorithm to 12 characters.
func short(rev string) string {
	i := strings.LastIndexAny(rev, "@:")
	if i < 0 || len(rev)-i-1 <= 12 {
		return rev
	}
	return rev[:i+13]
}

func (o *options) getReport(w io.Writer) error {
	ctx, cancel := o.context()
	defer cancel()
	r, err := o.report(ctx)
	if err != nil {
		return err
	}
	return writeReport(w, r, o.painter())
}

// writeReport writes the FluxReport, the readiness of the report, the sync
// and the components coloured by p. The third column of its first lines is
// painted in every line that has one, so that it stays aligned whichever
// lines are there.
func writeReport(w io.Writer, r *apiv1.FluxReport, p painter) error {
	s := r.Spec
	tw := table(w)
	d := s.Distribution
	printf(tw, "Distribution:\t%s\t%s\tmanaged by %s\n", d.Status, p.paint(plain, orDash(d.Version)), orDash(d.ManagedBy))
	if c := s.Cluster; c != nil {
		printf(tw, "Cluster:\tKubernetes %s\t%s\t%d nodes\n", c.ServerVersion, p.paint(plain, c.Platform), c.Nodes)
	}
	if op := s.Operator; op != nil {
		printf(tw, "Operator:\t%s\t%s\n", op.Version, op.Platform)
	}
	if c := readyCondition(r.Status.Conditions); c != nil {
		status := string(c.Status)
		printf(tw, "Reported:\t%s ago\t%s\t%s\n", age(c.LastTransitionTime.Time), p.paint(conditionColour(status), status), c.Message)
	}
	if sy := s.SyncStatus; sy != nil {
		ready := "Ready"
		if !sy.Ready {
			ready = "Not ready"
		}
		printf(tw, "Sync:\t%s\t%s\t%s path %s\n", sy.ID, p.paint(conditionColour(ready), ready), sy.Source, orDash(sy.Path))
		printf(tw, "\t%s\n", sy.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printLine(w, "\nComponents:")
	tw = table(w)
	printf(tw, "  NAME\t%s\tIMAGE\tSTATUS\n", p.paint(plain, "READY"))
	for _, c := range s.ComponentsStatus {
		ready := strconv.FormatBool(c.Ready)
		printf(tw, "  %s\t%s\t%s\t%s\n", c.Name, p.paint(conditionColour(ready), ready), c.Image, c.Status)
	}
	if len(s.ComponentsStatus) == 0 {
		printLine(tw, "  (no Flux controller Deployment in the namespace)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printLine(w, "\nReconcilers:")
	return writeStats(w, r, "  ", p)
}

// writeStats writes the report's reconcilers per kind, as `flux stats`, the
// failing and suspended counts above zero coloured by p.
func writeStats(w io.Writer, r *apiv1.FluxReport, indent string, p painter) error {
	tw := table(w)
	printf(tw, "%sRECONCILERS\tRUNNING\t%s\t%s\tSTORAGE\n", indent, p.paint(plain, "FAILING"), p.paint(plain, "SUSPENDED"))
	for _, rs := range r.Spec.ReconcilersStatus {
		st := rs.Stats
		printf(tw, "%s%s\t%d\t%s\t%s\t%s\n", indent, rs.Kind, st.Running, p.paint(countColour(st.Failing, red), strconv.Itoa(st.Failing)),
			p.paint(countColour(st.Suspended, cyan), strconv.Itoa(st.Suspended)), orDash(st.TotalSize))
	}
	return tw.Flush()
}

func newStatsCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show the reconcilers per kind from the FluxReport, as flux stats prints them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := o.context()
			defer cancel()
			r, err := o.report(ctx)
			if err != nil {
				return err
			}
			return writeStats(cmd.OutOrStdout(), r, "", o.painter())
		},
	}
}

func newExportCommand(o *options) *cobra.Command {
	var output string
	export := &cobra.Command{Use: "export", Short: "Print the FluxReport as YAML or JSON"}
	report := &cobra.Command{
		Use:   "report",
		Short: "Print the FluxReport (spec and status) as YAML or JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "yaml" && output != "json" {
				return usagef("-o %q: use yaml or json", output)
			}
			ctx, cancel := o.context()
			defer cancel()
			r, err := o.report(ctx)
			if err != nil {
				return err
			}
			r.ManagedFields = nil
			r.APIVersion, r.Kind = apiv1.GroupVersion.String(), "FluxReport"
			return printObject(cmd.OutOrStdout(), r, output)
		},
	}
	report.Flags().StringVarP(&output, "output", "o", "yaml", "Output format: yaml or json.")
	mustComplete(report, "output", cobra.FixedCompletions([]cobra.Completion{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	export.AddCommand(report)
	return export
}

func printObject(w io.Writer, v any, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
